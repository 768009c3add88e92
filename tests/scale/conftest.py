"""The ``scale`` mark: tests that start a whole simulated fleet (minutes, not seconds).

They run with the rest of the suite; ``-m "not scale"`` leaves them out.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "scale: starts many simulated hosts on one PostgreSQL store (minutes)"
    )
