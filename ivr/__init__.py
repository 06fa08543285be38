"""ivr: run, prove and test phone menus (IVRs).

The public surface: load a flow, run it with the pure engine, check it. Nothing here imports a web, telephony
or speech library (pytest imports this package's plugin on every run, so importing `ivr` must stay cheap).
"""

from ivr.check import Report, check
from ivr.engine import CallState, EffectResult, Step, advance, start
from ivr.errors import FlowError, IvrError, Problem
from ivr.flow import Flow
from ivr.intents import Digits, Silence, Speech
from ivr.loader import load_flow, parse_flow

__all__ = [
    "CallState",
    "Digits",
    "EffectResult",
    "Flow",
    "FlowError",
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
