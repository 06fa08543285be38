"""The two hand-written test apps (`tests/testing/apps`), walked through the simulator: the bare WSGI phone tree
with its cancel branch, and the Flask support line that uses every verb. What Twilio would do, end to end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ivr.testing.sim import Dialled, DialResult, Event, QueueOutcome, Simulator
from tests.conftest import TOKEN, serving
from tests.testing.apps import wsgi_app
from tests.testing.apps.flask_app import create_app

MENU = ("Welcome to Example Telecom. For billing, press 1. For support, press 2. To cancel your service, press 9 or "
        "say cancel.")


@pytest.fixture
def tree() -> Iterator[Simulator]:
    sim = Simulator(wsgi_app.app, auth_token=TOKEN)
    yield sim
    sim.close()


@pytest.fixture
def northwind() -> Iterator[Simulator]:
    sim = Simulator(create_app(), auth_token=TOKEN)
    yield sim
    sim.close()


# -- the phone tree (a bare WSGI app) ------------------------------------------------------------------------------


@pytest.mark.parametrize(("act", "value", "heard", "status", "dialled"), [
    ("press", "9", ["Your cancellation number is 4242."], "completed", []),
    ("say", "I want to cancel", ["Your cancellation number is 4242."], "completed", []),
    ("press", "1", ["Your balance is forty two dollars.", MENU], "in-progress", []),
    ("press", "2", ["Connecting you to support."], "completed", [Dialled("number", "+18005550123", "completed", 42)]),
    ("press", "5", ["Sorry, I did not understand.", MENU], "in-progress", []),
    ("silence", "", [MENU], "in-progress", []),
])
def test_the_phone_tree(tree: Simulator, act: str, value: str, heard: list[str], status: str,
                        dialled: list[Dialled]) -> None:
    call = tree.call("/")
    assert (call.prompt, call.waiting is not None) == (MENU, True)
    assert call.waiting is not None
    assert (call.waiting.hints, call.waiting.input) == ("billing, support, cancel", frozenset({"dtmf", "speech"}))
    getattr(call, act)(*([value] if value else []))
    assert (call.prompts[1:], call.status, call.dialled, call.errors) == (heard, status, dialled, [])
    if "4242" in heard[0]:
        assert call.hung_up_by == "app"


def test_the_phone_tree_over_http() -> None:
    with serving(wsgi_app.app) as url:  # type: ignore[arg-type]  # the same bare WSGI app on a real socket
        sim = Simulator(url, auth_token=TOKEN)
        try:
            call = sim.call("/", method="GET")
            call.press("9")
            cookies = [sim.call("/cookie").prompts for _ in range(2)]
        finally:
            sim.close()
    assert (call.prompts, call.hung_up_by) == ([MENU, "Your cancellation number is 4242."], "app")
    assert cookies == [["Visit 1.", "Visit 2.", "Visit 3."]] * 2


def test_the_extras(tree: Simulator) -> None:
    call = tree.call("/extras")
    assert call.transcript == [
        Event("ivr", "Extras. Slowly"), Event("twilio", "plays the DTMF tones 'ww1'"),
        *[Event("ivr", "[plays /tone.wav]")] * 3, Event("ivr", "Reached from extras.")]
    assert (call.status, call.hung_up_by, call.seconds, call.warnings) == ("busy", "app", 2, [])
    assert [(r.method, r.url, r.purpose) for r in call.requests] == [
        ("POST", "http://localhost/extras", "twiml"), ("GET", "http://localhost/tone.wav", "media"),
        ("GET", "http://localhost/extras/next?from=extras", "twiml")]


@pytest.mark.parametrize(("path", "codes", "status"), [
    ("/reject", [], "no-answer"), ("/big", ["11750"], "failed"), ("/nested", ["12200"], "failed"),
    ("/message", ["12200"], "failed"), ("/nowhere", ["11200"], "failed"),
])
def test_what_twilio_refuses(tree: Simulator, path: str, codes: list[str], status: str) -> None:
    call = tree.call(path)
    assert (call.error_codes, call.status) == (codes, status)


# -- the Flask support line ----------------------------------------------------------------------------------------


def test_the_queue_with_its_wait_music_and_leaving_for_voicemail(northwind: Simulator) -> None:
    call = northwind.call("/queue", queue=QueueOutcome(waits=3, seconds=60))
    assert call.prompt == ("All our agents are busy. You are number 1 in line, after 0 seconds. Press star to "
                           "leave a message.")
    call.silence()  # the wait document runs out: Twilio requests it again
    assert call.prompt == "You are number 1 in line, after 20 seconds. Press star to leave a message."
    call.press("*")
    assert call.prompt == "Please leave a message after the beep. Press pound when you are done."
    call.say("call me back")
    assert call.prompt == "Got 6 seconds, ended by silence."
    assert (call.queues, call.dialled, len(call.recordings)) == (["support"], [Dialled("queue", "support", "leave")], 1)


@pytest.mark.parametrize(("keys", "said", "recorded"), [
    ("1", "Dial completed 42 true with a recording.", True), ("", "Dial completed 0 false.", False)])
def test_the_agent_whisper_screens_the_call(northwind: Simulator, keys: str, said: str, recorded: bool) -> None:
    call = northwind.call("/agent", dial={"+15035550100": DialResult("completed", keys=keys)}, dial_answer="busy")
    agent = [e.text for e in call.transcript if e.who == "agent"]
    assert agent[:2] == ["Call from +15551230000 for +15035550100.", "Press 1 to accept."]
    assert (call.prompts, bool(call.recordings)) == ([said], recorded)
    assert [d.target for d in call.dialled] == ["+15035550100", "desk-7"]


@pytest.mark.parametrize(("path", "options", "heard"), [
    ("/conference", {"dial": {"standup": DialResult("completed", 30)}},
     ["Waiting for the moderator.", "Dial answered true."]),
    ("/dequeue", {}, ["Dial completed 42 true."]),
    ("/sip", {"dial_answer": "no-answer"}, ["Nobody answered."]),
    ("/pay", {}, ["Enter your card number.", "Paid. Confirmation ch_"]),
    ("/pay", {"pay": "validation-error"}, ["Enter your card number.", "Payment failed: validation-error."]),
    ("/ai", {}, ["Assistant session ended."]),
    ("/transfer", {"refer": "failed"}, ["Transfer failed with SIP 405."]),
    ("/media", {}, ["[plays /media/chime.wav]", "[plays /media/chime.wav]", "That was the chime."]),
])
def test_every_verb_of_the_support_line(northwind: Simulator, path: str, options: dict[str, object],
                                        heard: list[str]) -> None:
    call = northwind.call(path, **options)  # type: ignore[arg-type]
    assert [p[:len(h)] for p, h in zip(call.prompts, heard, strict=False)] == heard
    assert len(call.prompts) == len(heard)
    assert call.errors == []


def test_text_then_echo(northwind: Simulator) -> None:
    call = northwind.call("/text")
    assert (call.messages, call.prompts, call.waiting is not None) == (["Your ticket is 42."], ["Text sending."],
                                                                       True)
    assert call.hang_up().hung_up_by == "caller"


def test_a_missing_media_file_is_a_warning_and_the_call_goes_on(northwind: Simulator) -> None:
    call = northwind.call("/media")
    assert call.warnings == ["11200: http://localhost/media/missing.wav answered HTTP 404"]


def test_the_support_line_over_http() -> None:
    with serving(create_app()) as url:
        sim = Simulator(url, auth_token=TOKEN)
        try:
            call = sim.call("/voice", method="GET", params={"FromCity": "TULSA", "FromState": "OK"})
            call.press("1")
        finally:
            sim.close()
    assert call.prompts == ["Welcome to Northwind, caller from Tulsa, OK in US.", "Press any key for our hours.",
                            "We are open from nine to five."]
