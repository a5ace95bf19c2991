"""advisor.parallel: the same results in this process, a process pool and a local Dask cluster."""

from __future__ import annotations

import pytest

from advisor.errors import AdvisorError
from advisor.parallel import check_cluster, run_jobs


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
