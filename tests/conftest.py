"""Test-wide settings.

The suite's golden figures (the shipped examples' scenario conclusions, brute-force and
property checks on tiny catalogs) were written against the seed documents' prices, so tests
run with the ``seeds`` price profile unless they name another (``prices="snapshot"``,
``--prices snapshot``). The shipped default for users is the sourced snapshot.

The capacity cache stays in process: no files in the user's cache directory.
"""

from __future__ import annotations

import os

from advisor.catalog import PRICES_ENV

os.environ[PRICES_ENV] = "seeds"
os.environ.setdefault("ADVISOR_CACHE_DIR", "off")
