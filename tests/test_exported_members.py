"""The public surface is small and explicit, lazy (PEP 562), and importing ivr pulls in no web, telephony or
speech library, nor even the flow model until a name is used."""

from __future__ import annotations

import subprocess
import sys

import pytest

import ivr


def test_all_is_exactly_the_public_surface() -> None:
    assert ivr.__all__ == sorted(ivr.__all__)
    assert set(ivr.__all__) <= set(dir(ivr))
    for name in ivr.__all__:
        value = getattr(ivr, name)
        if name != "Heard":  # a type alias (Speech | Digits | Silence) has no module of its own
            assert value.__module__.startswith("ivr."), name  # each name is the real thing, from its home module


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'ivr' has no attribute 'flow_engine'"):
        ivr.flow_engine  # noqa: B018


def run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_importing_ivr_loads_nothing_until_a_name_is_used() -> None:
    heavy = ("flask", "twilio", "vosk", "pydub", "httpx", "click", "sqlalchemy", "gunicorn", "numpy", "pydantic",
             "yaml", "dask", "distributed")
    assert run(f"import sys, ivr; print(sorted(m for m in {heavy!r} if m in sys.modules))") == "[]"
    assert run("import sys, ivr; ivr.load_flow; print(sorted(m for m in ('flask', 'numpy', 'click') "
               "if m in sys.modules))") == "[]"


def test_the_pytest_plugin_imports_nothing_heavy_at_collection() -> None:
    heavy = ("flask", "twilio", "httpx", "pydantic", "yaml", "numpy", "sqlalchemy", "dask", "distributed")
    assert run(f"import sys, ivr.testing.pytest_plugin; print(sorted(m for m in {heavy!r} if m in sys.modules))") \
        == "[]"
