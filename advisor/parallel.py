"""Run independent solves (futures, sweep cases) in parallel: a local process pool or Dask.

``run_jobs(fn, jobs)`` returns ``[fn(*args) for args in jobs]`` in order, computed

- in this process when ``workers == 1`` (no pool);
- in a local process pool of ``workers`` processes by default (fork where the platform has
  it, so notebooks and scripts without a ``__main__`` guard work);
- on a Dask cluster with ``cluster="dask://host:port"`` (a running scheduler; install the
  ``dask`` extra), or on a local Dask cluster of ``workers`` processes with
  ``cluster="dask"``.

Results are the same either way: each job is a deterministic solve of its own inputs.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from advisor.errors import AdvisorError

DASK_PREFIX = "dask://"


def _quiet_worker() -> None:
    """Send a worker's stdout (solver banners) to /dev/null so it cannot mix with ours."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stdout.flush()
        os.dup2(devnull, 1)
    finally:
        os.close(devnull)
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the worker


def check_cluster(cluster: str | None) -> str | None:
    """Validate ``--cluster``: None, ``dask`` (a local Dask cluster) or ``dask://host:port``."""
    if cluster is None or cluster == "dask":
        return cluster
    if not cluster.startswith(DASK_PREFIX) or len(cluster) == len(DASK_PREFIX):
        raise AdvisorError(
            f"--cluster must be 'dask' (a local Dask cluster) or dask://host:port (a running "
            f"Dask scheduler); got '{cluster}'."
        )
    return cluster


def _dask_client(cluster: str, workers: int):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise AdvisorError(
            "--cluster needs Dask: pip install 'advisor[dask]' (dask and distributed)."
        ) from None
    if cluster == "dask":
        local = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        return Client(local), local
    address = "tcp://" + cluster[len(DASK_PREFIX) :]
    try:
        return Client(address, timeout="20s"), None
    except OSError as exc:
        raise AdvisorError(
            f"Cannot reach the Dask scheduler at {address} ({exc}). Start one with "
            "`dask scheduler` and workers with `dask worker HOST:PORT`, or drop --cluster."
        ) from None


#: environment variable capping the processes that simulate SLO capacities (1: none started)
CAPACITY_WORKERS_ENV = "ADVISOR_CAPACITY_WORKERS"


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def capacity_workers(jobs: int) -> int:
    """Processes for simulating ``jobs`` groups of SLO capacities: one per usable core (at
    most ``$ADVISOR_CAPACITY_WORKERS``), none inside a worker process (a sweep case, a
    future), where the outer pool already holds the cores."""
    n = usable_cores()
    cap = os.environ.get(CAPACITY_WORKERS_ENV, "").strip()
    if cap:
        try:
            n = min(n, int(cap))
        except ValueError:
            raise AdvisorError(
                f"{CAPACITY_WORKERS_ENV} must be a whole number of processes; got '{cap}'."
            ) from None
    if multiprocessing.parent_process() is not None:
        return 1
    return max(1, min(n, jobs))


def pool_workers(workers: int | None, jobs: int) -> int:
    """The processes :func:`run_jobs` runs ``jobs`` jobs on in a local pool (1: in process)."""
    return max(1, min(int(workers or usable_cores()), jobs))


def run_jobs(
    fn: Callable[..., Any],
    jobs: Sequence[tuple[Any, ...]],
    *,
    workers: int | None = None,
    cluster: str | None = None,
) -> list[Any]:
    """Return ``[fn(*args) for args in jobs]``, computed in parallel (see the module docstring).

    Parameters
    ----------
    fn
        A module-level function (it travels to worker processes by name).
    jobs
        Argument tuples, one per call.
    workers
        Processes (default: the usable cores, at most one per job); 1 runs in this process.
    cluster
        None (local process pool), ``"dask"`` or ``"dask://host:port"``.
    """
    if not jobs:
        return []
    cluster = check_cluster(cluster)
    n = max(1, int(workers or usable_cores()))
    if cluster is not None:
        client, local = _dask_client(cluster, n)
        try:
            futures = [client.submit(fn, *args, pure=False) for args in jobs]
            return list(client.gather(futures))
        finally:
            client.close()
            if local is not None:
                local.close()
    n = pool_workers(workers, len(jobs))
    if n == 1:
        return [fn(*args) for args in jobs]
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(n, mp_context=ctx, initializer=_quiet_worker) as pool:
        futures = [pool.submit(fn, *args) for args in jobs]
        return [f.result() for f in futures]
