"""Fake Twilio: places calls to any voice webhook over HTTP and executes its TwiML the way Twilio does.

A black box on purpose: it speaks only HTTP and TwiML and never imports the engine or the renderer, so a bug
there cannot be copied into the tester. It drives an app in-process (a WSGI callable, through httpx's WSGI
transport) or any live URL, signing every request with `X-Twilio-Signature` like Twilio.

    sim = Simulator(create_app(...), auth_token=TOKEN)
    call = sim.call("/voice/acme", caller="+15551234567")
    call.say("cancel"); call.press("12345678#"); call.say("yes")
    call.outcome, call.turns, call.transcript

What it enforces, so tests catch what Twilio would reject: a TwiML content type, well-formed XML with a
`<Response>` root, only the verbs and nesting Twilio allows, URLs it can parse, HTTP redirects that end, an
answer within 15 seconds, and at most 50 documents between two things the caller does (a `<Redirect>` loop);
otherwise the caller hears Twilio's "application error" and the call ends (`call.errors` has Twilio's error code).
Whatever a line answers, the simulator itself only ever raises `SimError`, for a test that misuses it.
"""

from ivr.testing.sim.call import (
           APPLICATION_ERROR,
           MAX_DOCUMENTS,
           TWILIO_TIMEOUT,
           AgentAnswer,
           Call,
           Event,
           Gather,
           Simulator,
)
from ivr.testing.sim.grammar import NESTING, check_twiml

__all__ = ["APPLICATION_ERROR", "MAX_DOCUMENTS", "NESTING", "TWILIO_TIMEOUT", "AgentAnswer", "Call",
           "DialResult", "Dialled", "Event", "Gather", "Recording", "Request", "Simulator", "check_twiml"]
