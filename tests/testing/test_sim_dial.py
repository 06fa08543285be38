"""`<Dial>` as Twilio runs it: each dialled party answers as configured (`dial`, `dial_answer`), the first to
answer wins, `timeLimit` cuts the talk, a `<Number url>` whisper runs on the agent's leg, the caller may hang up
during the dial (the action still requested, its answer not executed), `record` makes a recording, and each noun's
`statusCallback` gets the call progress events."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from ivr.testing.sim import Dialled, DialResult, Event
from tests.testing.apps.scripted import Place, placing, posted, twiml

AGENT, DESK = "+15035550100", "+15035550101"
AFTER = twiml("<Say>After</Say>")
ACTION = ("DialCallStatus", "DialCallDuration", "DialBridged")


@pytest.fixture
def line() -> Iterator[Place]:
    with placing() as place:
        yield place


@pytest.mark.parametrize(("answer", "fields", "dialled"), [
    (DialResult("completed", 75), {"DialCallStatus": "completed", "DialCallDuration": "75", "DialBridged": "true"},
     Dialled("number", AGENT, "completed", 75)),
    ("completed", {"DialCallStatus": "completed", "DialCallDuration": "42", "DialBridged": "true"},
     Dialled("number", AGENT, "completed", 42)),
    ("busy", {"DialCallStatus": "busy", "DialBridged": "false"}, Dialled("number", AGENT, "busy")),
    ("no-answer", {"DialCallStatus": "no-answer", "DialBridged": "false"}, Dialled("number", AGENT, "no-answer")),
    ("failed", {"DialCallStatus": "failed", "DialBridged": "false"}, Dialled("number", AGENT, "failed")),
])
def test_each_result_is_posted_to_the_action(line: Place, answer: str | DialResult, fields: dict[str, str],
                                              dialled: Dialled) -> None:
    call, app = line({"/voice": twiml(f'<Dial action="/after">{AGENT}</Dial>', "<Say>never</Say>"), "/after": AFTER},
                     dial={AGENT: answer})
    assert posted(app.hits, "/after", *ACTION) == [fields]
    [hit] = app.to("/after")
    assert re.fullmatch(r"CA[0-9a-f]{32}", hit.fields["DialCallSid"])
    assert hit.fields["DialCallSid"] != call.sid
    assert (call.dialled, call.prompts, call.status, call.hung_up_by) == ([dialled], ["After"], "completed", "app")


@pytest.mark.parametrize(("written", "named"), [
    ("+1 (503) 555-0100", "+15035550100"), ("<Client>alice</Client>", "client:alice"),
    ("<Client><Identity>alice</Identity></Client>", "alice"), ("<Sip>sip:desk@pbx.example.com</Sip>",
                                                                "sip:desk@pbx.example.com"),
])
def test_a_dialled_party_is_named_as_the_test_likes(line: Place, written: str, named: str) -> None:
    call, app = line({"/voice": twiml(f'<Dial action="/after">{written}</Dial>'), "/after": AFTER},
                     dial={named: "busy"})
    assert posted(app.hits, "/after", "DialCallStatus") == [{"DialCallStatus": "busy"}]


def test_the_first_to_answer_wins_and_the_others_are_canceled(line: Place) -> None:
    call, app = line({"/voice": twiml('<Dial action="/after"><Number>+15550001</Number><Client>bob</Client>'
                                      '<Sip>sip:c@d.com</Sip><Number>+15550004</Number></Dial>'), "/after": AFTER},
                     dial={"+15550001": "busy", "bob": DialResult("completed", 30), "+15550004": "completed"},
                     dial_answer="no-answer")
    assert call.dialled == [Dialled("number", "+15550001", "busy"), Dialled("client", "bob", "completed", 30),
                            Dialled("sip", "sip:c@d.com", "canceled"), Dialled("number", "+15550004", "canceled")]
    assert posted(app.hits, "/after", *ACTION) == [
        {"DialCallStatus": "completed", "DialCallDuration": "30", "DialBridged": "true"}]
    assert call.transcript[:4] == [Event("twilio", f"dials {t}: {s}") for t, s in [
        ("+15550001", "busy"), ("bob", "completed"), ("sip:c@d.com", "no-answer"), ("+15550004", "completed")]]


def test_nobody_answering_is_no_answer_before_busy_before_failed(line: Place) -> None:
    _, app = line({"/voice": twiml('<Dial action="/after"><Number>+1</Number><Number>+2</Number></Dial>'),
                   "/after": AFTER}, dial={"+1": "failed", "+2": "busy"})
    assert posted(app.hits, "/after", "DialCallStatus") == [{"DialCallStatus": "busy"}]


@pytest.mark.parametrize(("limit", "duration", "talked", "capped"), [
    ("60", 42, 42, False), ("30", 42, 30, True), ("", 20000, 14400, True)])
def test_time_limit_cuts_the_talk(line: Place, limit: str, duration: int, talked: int, capped: bool) -> None:
    attribute = f' timeLimit="{limit}"' if limit else ""
    call, app = line({"/voice": twiml(f'<Dial action="/after"{attribute}>{AGENT}</Dial>'), "/after": AFTER},
                     dial={AGENT: DialResult("completed", duration)})
    assert posted(app.hits, "/after", "DialCallDuration") == [{"DialCallDuration": str(talked)}]
    assert (Event("twilio", f"timeLimit {talked} s: Twilio hangs up on {AGENT}") in call.transcript) is capped


@pytest.mark.parametrize("action", [True, False])
def test_the_caller_hanging_up_during_the_dial_ends_the_call(line: Place, action: bool) -> None:
    dial = f'<Dial action="/after">{AGENT}</Dial>' if action else f"<Dial>{AGENT}</Dial>"
    leaving = DialResult("completed", 90, caller_hangs_up=True)
    call, app = line({"/voice": twiml(dial, "<Say>never</Say>"), "/after": AFTER, "/status": ""},
                     sim={"status_callback": "/status"}, dial={AGENT: leaving})
    assert (call.status, call.hung_up_by, call.prompts, call.waiting) == ("completed", "caller", [], None)
    assert call.transcript[-1] == Event("twilio", f"the caller hangs up after 90 s with {AGENT}")
    expected = [{"DialCallStatus": "completed", "DialCallDuration": "90", "DialBridged": "true"}] if action else []
    assert posted(app.hits, "/after", *ACTION) == expected  # requested, and its <Say> not executed
    assert [hit.path for hit in app.hits][-1] == "/status"
    assert posted(app.hits, "/status", "CallStatus", "CallDuration") == [{"CallStatus": "completed",
                                                                          "CallDuration": "90"}]


WHISPER = twiml("<Say>Customer waiting</Say>", '<Gather numDigits="1" action="/accept"><Say>Press 1</Say></Gather>',
                "<Hangup/>")


@pytest.mark.parametrize(("keys", "bridged", "agent_heard"), [
    ("1", True, ["Customer waiting", "Press 1", "Connecting"]),
    ("", False, ["Customer waiting", "Press 1"]),
    ("2", False, ["Customer waiting", "Press 1"]),
])
def test_a_whisper_runs_on_the_agents_leg(line: Place, keys: str, bridged: bool, agent_heard: list[str]) -> None:
    call, app = line({"/voice": twiml(f'<Dial action="/after" callerId="+18005550000"><Number url="/whisper">{AGENT}'
                                      "</Number></Dial>"), "/whisper": WHISPER,
                      "/accept": twiml("<Say>Connecting</Say>" if keys == "1" else "<Hangup/>"), "/after": AFTER},
                     dial={AGENT: DialResult("completed", 60, keys=keys)})
    assert [e.text for e in call.transcript if e.who == "agent"] == agent_heard
    assert call.prompts == ["After"]  # the caller hears none of the whisper
    [whisper] = app.to("/whisper")
    child = app.to("/after")[0].fields["DialCallSid"]
    assert {k: whisper.fields[k] for k in ("CallSid", "ParentCallSid", "From", "To", "Direction", "CallStatus")} == {
        "CallSid": child, "ParentCallSid": call.sid, "From": "+18005550000", "To": AGENT,
        "Direction": "outbound-dial", "CallStatus": "in-progress"}
    assert whisper.signed
    assert posted(app.hits, "/accept", "Digits") == ([{"Digits": keys}] if keys else [])
    assert posted(app.hits, "/after", *ACTION) == [{"DialCallStatus": "completed", "DialBridged": str(bridged).lower(),
                                                    "DialCallDuration": "60" if bridged else "0"}]


def test_dial_record_makes_a_recording_and_posts_its_url(line: Place) -> None:
    call, app = line({"/voice": twiml('<Dial action="/after" record="record-from-answer-dual" '
                                      f'recordingStatusCallback="/rec">{AGENT}</Dial>'), "/after": AFTER, "/rec": ""},
                     dial_answer=DialResult("completed", 50))
    [recording] = call.recordings
    assert (recording.duration, recording.source, recording.said) == (50, "dial", AGENT)
    assert posted(app.hits, "/after", "RecordingUrl") == [{"RecordingUrl": recording.url}]
    [callback] = app.to("/rec")
    assert {k: callback.fields[k] for k in ("RecordingSid", "RecordingStatus", "RecordingDuration",
                                            "RecordingChannels", "RecordingSource")} == {
        "RecordingSid": recording.sid, "RecordingStatus": "completed", "RecordingDuration": "50",
        "RecordingChannels": "2", "RecordingSource": "DialVerb"}


@pytest.mark.parametrize(("answer", "events"), [
    ("completed", [("initiated", "initiated"), ("ringing", "ringing"), ("answered", "in-progress"),
                   ("completed", "completed")]),
    ("busy", [("initiated", "initiated"), ("ringing", "ringing"), ("completed", "busy")]),
    ("failed", [("initiated", "initiated"), ("completed", "failed")]),
])
def test_a_nouns_status_callback_gets_the_call_progress_events(line: Place, answer: str,
                                                               events: list[tuple[str, str]]) -> None:
    call, app = line({"/voice": twiml('<Dial><Number statusCallback="/progress" statusCallbackEvent="initiated '
                                      f'ringing answered completed">{AGENT}</Number></Dial>'), "/progress": ""},
                     dial_answer=answer)
    hits = posted(app.hits, "/progress", "CallStatus", "SequenceNumber", "CallbackSource", "ParentCallSid",
                  "Direction")
    assert hits == [{"CallStatus": status, "SequenceNumber": str(n), "CallbackSource": "call-progress-events",
                     "ParentCallSid": call.sid, "Direction": "outbound-dial"} for n, (_, status) in enumerate(events)]


def test_without_an_action_the_next_verb_runs(line: Place) -> None:
    call, _ = line({"/voice": twiml(f"<Dial>{AGENT}</Dial>", "<Say>Bye</Say>")}, dial_answer="no-answer")
    assert (call.prompts, call.status, call.hung_up_by, call.seconds) == (["Bye"], "completed", "app", 35)
