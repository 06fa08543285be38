"""The shared fixtures module is imported once: pytest's `conftest` and the tests' `tests.conftest` are the same
module (two copies would mean two sets of module-level state, such as cached checks)."""

from __future__ import annotations

import sys

import tests.conftest


def test_conftest_is_one_module() -> None:
    copies = [name for name, module in sys.modules.items()
              if getattr(module, "__file__", None) == tests.conftest.__file__]
    assert copies == ["tests.conftest"]
