"""A 100,000-resident synthetic city generated once, in memory, for the tests of tests/synth."""

from __future__ import annotations

import pytest
from synth_fixture import City, build_city


@pytest.fixture(scope="session")
def city() -> City:
    return build_city(seed=20260401, residents=100_000)
