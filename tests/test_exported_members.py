"""The public surface is small and explicit, and importing ivr pulls in no web, telephony or speech library."""

from __future__ import annotations

import subprocess
import sys

import ivr


def test_all_is_exactly_the_public_surface() -> None:
    public = {name for name in vars(ivr) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(ivr, name)).__name__ == "module"}
    assert set(ivr.__all__) == public - modules
    assert ivr.__all__ == sorted(ivr.__all__)


def test_importing_ivr_loads_no_heavy_library() -> None:
    heavy = ("flask", "twilio", "vosk", "pydub", "httpx", "click", "sqlalchemy", "gunicorn")
    code = f"import sys, ivr; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
