"""Session-wide emulator for the tests in this directory.

Helpers live in emulator_harness.py (not here) so that importing them never
depends on which of several conftest.py files Python finds first.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emulator_harness import Emulator, start_emulator


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    emu = start_emulator()
    try:
        yield emu
    finally:
        emu.stop()
