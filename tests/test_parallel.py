"""advisor.parallel: the same results in this process, a process pool and a local Dask cluster."""

from __future__ import annotations

import pytest

from advisor.errors import AdvisorError
from advisor.parallel import (
    CAPACITY_WORKERS_ENV,
    capacity_workers,
    check_cluster,
    pool_workers,
    run_jobs,
    usable_cores,
)


def square_plus(x: int, y: int) -> int:
    return x * x + y


JOBS = [(i, 10 * i) for i in range(6)]
EXPECTED = [i * i + 10 * i for i in range(6)]


def test_serial_and_process_pool_agree() -> None:
    assert run_jobs(square_plus, JOBS, workers=1) == EXPECTED
    assert run_jobs(square_plus, JOBS, workers=2) == EXPECTED
    assert run_jobs(square_plus, [], workers=2) == []


def test_local_dask_cluster_agrees() -> None:
    pytest.importorskip("distributed")
    assert run_jobs(square_plus, JOBS, workers=2, cluster="dask") == EXPECTED


@pytest.mark.parametrize("bad", ["spark://x", "dask://", "tcp://host:1"])
def test_bad_cluster_is_a_clear_error(bad: str) -> None:
    with pytest.raises(AdvisorError, match="--cluster"):
        check_cluster(bad)


def _workers_in_a_worker(jobs: int) -> int:
    return capacity_workers(jobs)


def test_capacity_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """One per usable core, at most $ADVISOR_CAPACITY_WORKERS and the jobs; none inside a
    worker process; a value that is not a number is refused by name."""
    monkeypatch.delenv(CAPACITY_WORKERS_ENV, raising=False)
    assert capacity_workers(50) == usable_cores()
    assert capacity_workers(1) == 1
    monkeypatch.setenv(CAPACITY_WORKERS_ENV, "1")
    assert capacity_workers(50) == 1
    monkeypatch.setenv(CAPACITY_WORKERS_ENV, "0")
    assert capacity_workers(50) == 1
    monkeypatch.delenv(CAPACITY_WORKERS_ENV)
    assert run_jobs(_workers_in_a_worker, [(50,), (50,)], workers=2) == [1, 1]
    monkeypatch.setenv(CAPACITY_WORKERS_ENV, "two")
    for jobs in (0, 50):  # refused even where nothing is to simulate
        with pytest.raises(AdvisorError, match=CAPACITY_WORKERS_ENV):
            capacity_workers(jobs)


def test_pool_workers_is_what_run_jobs_starts() -> None:
    """What ``stress --json`` reports as ``workers`` (it said null for the default)."""
    assert pool_workers(None, 50) == usable_cores()
    assert pool_workers(None, 1) == pool_workers(4, 1) == 1
    assert pool_workers(4, 2) == 2
