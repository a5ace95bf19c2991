"""Hypothesis profiles for the property tests.

``default`` keeps the whole folder under a minute and is derandomized: every run (here, in CI,
on a user's clone) draws the same examples, so a pass here is a pass there and a failure
reproduces. ``HYPOTHESIS_PROFILE=thorough`` draws many more, at random (minutes); what it finds
goes into the tests as an ``@example``. The example database is off so runs leave nothing in the
checkout; a failure prints the ``@reproduce_failure`` / falsifying example to rerun.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
    "print_blob": True,
}
settings.register_profile("default", max_examples=60, derandomize=True, **_COMMON)
settings.register_profile("thorough", max_examples=1500, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
