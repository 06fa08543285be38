"""ivr: run, prove and test phone menus (IVRs).

The public surface: load a flow, run it with the pure engine, check it. Every name is imported on first use
(PEP 562), so `import ivr`, and pytest loading ivr's plugin on every run, costs next to nothing; and nothing here
imports a web, telephony or speech library.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ivr.errors import FlowError, IvrError, Problem
    from ivr.flow.caller import Digits, Heard, Silence, Speech
    from ivr.flow.engine import CallState, EffectResult, Step, advance, start
    from ivr.flow.loader import load_flow, parse_flow
    from ivr.flow.model import Flow
    from ivr.proof.report import Report, check

#: public name -> the module that defines it
_HOMES = {
    "FlowError": "ivr.errors", "IvrError": "ivr.errors", "Problem": "ivr.errors",
    "Digits": "ivr.flow.caller", "Heard": "ivr.flow.caller", "Silence": "ivr.flow.caller",
    "Speech": "ivr.flow.caller",
    "CallState": "ivr.flow.engine", "EffectResult": "ivr.flow.engine", "Step": "ivr.flow.engine",
    "advance": "ivr.flow.engine", "start": "ivr.flow.engine",
    "load_flow": "ivr.flow.loader", "parse_flow": "ivr.flow.loader",
    "Flow": "ivr.flow.model",
    "Report": "ivr.proof.report", "check": "ivr.proof.report",
}

__all__ = [
    "CallState",
    "Digits",
    "EffectResult",
    "Flow",
    "FlowError",
    "Heard",
    "IvrError",
    "Problem",
    "Report",
    "Silence",
    "Speech",
    "Step",
    "advance",
    "check",
    "load_flow",
    "parse_flow",
    "start",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'ivr' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
