"""Fixtures of the adversarial suite (tiny demand files, written once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adversarial.helpers import API_CSV, GPU_CSV, write


@pytest.fixture(scope="session")
def api_demand(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("demand") / "api.csv", API_CSV)


@pytest.fixture(scope="session")
def gpu_demand(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("demand") / "gpu.csv", GPU_CSV)
