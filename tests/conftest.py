"""Test-wide settings.

The suite's golden figures (the shipped examples' scenario conclusions, brute-force and
property checks on tiny catalogs) were written against the seed documents' prices, so tests
run with the ``seeds`` price profile unless they name another (``prices="snapshot"``,
``--prices snapshot``). The shipped default for users is the sourced snapshot.

The capacity cache is a folder of this run's own (shared by the test processes and the CLI
runs they start, removed at the end): nothing in the user's cache directory, and nothing one
run computed is read by the next. Capacities are simulated in the test process itself (no
worker processes: the test processes already hold the cores).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from advisor.catalog import PRICES_ENV
from advisor.parallel import CAPACITY_WORKERS_ENV

os.environ[PRICES_ENV] = "seeds"
os.environ.setdefault(CAPACITY_WORKERS_ENV, "1")
#: the run's cache folder, set in the first process (the test processes inherit it)
_OWN_CACHE = None
if "ADVISOR_CACHE_DIR" not in os.environ:
    _OWN_CACHE = tempfile.mkdtemp(prefix="advisor-test-cache-")
    os.environ["ADVISOR_CACHE_DIR"] = _OWN_CACHE


def pytest_unconfigure(config: pytest.Config) -> None:
    # a test process ending after the first one removed the folder must not write it again
    os.environ["ADVISOR_CACHE_DIR"] = "off"
    if _OWN_CACHE is not None and not hasattr(config, "workerinput"):
        shutil.rmtree(_OWN_CACHE, ignore_errors=True)


#: the slowest test files (two to four minutes of CPU each), started first so that the test
#: processes (one file each at a time) end together instead of one running a long file last
SLOW_FIRST = (
    "tests/test_solve.py",
    "tests/test_lagrange.py",
    "tests/adversarial/test_adv_signals.py",
    "tests/test_notebooks.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {f: i for i, f in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
