"""Fake Twilio: places calls to any voice webhook over HTTP and executes its TwiML the way Twilio does.

A black box on purpose: it speaks only HTTP and TwiML and never imports the engine or the renderer, so a bug
there cannot be copied into the tester. It drives an app in-process (a WSGI callable, called directly) or any
live URL (httpx), signing every request with `X-Twilio-Signature` and sending Twilio's full set of parameters
(location fields and CallToken included; `params=` overrides them), with one cookie jar per call.

    sim = Simulator(create_app(...), auth_token=TOKEN)
    call = sim.call("/voice/acme", caller="+15551234567")          # any path; method="GET" too
    call.say("cancel"); call.press("12345678#"); call.say("yes")
    call.outcome, call.turns, call.transcript, call.dialled, call.recordings, call.hung_up_by

Every verb and noun of Twilio's voice reference is accepted where Twilio takes it (`grammar`) and run with
Twilio's semantics (`run`; `record`, `dial`, `rooms`, `services`): what waits for the caller (`call.waiting`: a
`<Gather>`, a `<Record>`, an `<Echo>`), how dialled parties, queues, payments and transfers answer (`dial=`,
`dial_answer=`, `queue=`, `pay=`, `refer=`), and what a call without media cannot do, said in the trace.

What it enforces, so tests catch what Twilio would reject: a TwiML content type, well-formed XML with a
`<Response>` root, only the verbs and nesting Twilio allows, a body of at most 64 kB, URLs it can parse, HTTP
redirects that end, an answer within 15 seconds, and at most 50 documents between two things the caller does (a
`<Redirect>` loop); otherwise the caller hears Twilio's "application error" and the call ends (`call.errors` has
Twilio's error code). What Twilio only logs while the call goes on (a `<Play>` it could not fetch) is in
`call.warnings`. Whatever a line answers, the simulator itself only ever raises `SimError`, for a test that misuses
it.
"""

from ivr.testing.sim.call import Call, Simulator
from ivr.testing.sim.grammar import NESTING, check_twiml
from ivr.testing.sim.model import (
    APPLICATION_ERROR,
    MAX_BODY,
    MAX_DOCUMENTS,
    TWILIO_TIMEOUT,
    AgentAnswer,
    Dialled,
    DialResult,
    Event,
    Gather,
    QueueOutcome,
    Recorder,
    Recording,
    Request,
    Waiting,
)

__all__ = ["APPLICATION_ERROR", "MAX_BODY", "MAX_DOCUMENTS", "NESTING", "TWILIO_TIMEOUT", "AgentAnswer", "Call",
           "DialResult", "Dialled", "Event", "Gather", "QueueOutcome", "Recorder", "Recording", "Request", "Simulator",
           "Waiting", "check_twiml"]
