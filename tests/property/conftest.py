"""Hypothesis profiles for the property tests.

``default`` keeps the whole folder under a minute; ``HYPOTHESIS_PROFILE=thorough`` runs many
more examples (minutes). The example database is off so runs leave nothing in the checkout;
a failure prints the ``@reproduce_failure`` / falsifying example to rerun.
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
settings.register_profile("default", max_examples=60, **_COMMON)
settings.register_profile("thorough", max_examples=1500, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
