"""The fake Twilio as a black box: whole calls against the real app (in-process and over a real socket), exact
forms and signatures against small scripted webhooks, and Twilio's rejections of what it would not execute."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from flask import Flask
from twilio.twiml.voice_response import Say, VoiceResponse

from ivr.errors import SimError
from ivr.line.store import Store
from ivr.testing.sim import APPLICATION_ERROR, MAX_DOCUMENTS, Call, Event, Simulator, check_twiml
from tests.conftest import TOKEN, make_app, serving
from tests.testing.apps.scripted import CALLED, CALLER, Page, Scripted, twilio_fields, twiml

AGENT = "+18005550100"
NO_AGENT = "Sorry, nobody is available to take your call right now. Please call again later. Goodbye."


#: `line(pages, path="/voice", dial_answer="completed", **simulator_options)` -> (the call placed, the app)
Place = Callable[..., tuple[Call, Scripted]]


@pytest.fixture
def line() -> Iterator[Place]:
    """Place a call through the simulator to a scripted app serving `pages`."""
    sims: list[Simulator] = []

    def place(pages: Mapping[str, str | Page], path: str = "/voice", dial_answer: str = "completed",
              **options: Any) -> tuple[Call, Scripted]:
        app = Scripted(pages)
        sim = Simulator(app.app, auth_token=TOKEN, **options)
        sims.append(sim)
        return sim.call(path, caller=CALLER, called=CALLED, dial_answer=dial_answer), app  # type: ignore[arg-type]

    yield place
    for sim in sims:
        sim.close()


def ivr_lines(call: Call) -> list[str]:
    return [entry.text for entry in call.transcript if entry.who == "ivr"]


def assert_failed_with(call: Call, code: str) -> None:
    """Twilio gave up: one error with `code`, the caller heard the application error, and the call is over."""
    assert [error[: len(code)] for error in call.errors] == [code], call.errors
    assert call.transcript[-1] == Event("ivr", APPLICATION_ERROR)
    assert call.ended
    assert call.waiting is None


# -- the real app, in-process --------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = make_app(f"sqlite:///{tmp_path}/c.db")
    yield app
    app.extensions["ivr"].store.close()


@pytest.fixture
def sim(app: Flask) -> Iterator[Simulator]:
    sim = Simulator(app, auth_token=TOKEN, status_callback="/voice/acme/status")
    yield sim
    sim.close()


def store_of(app: Flask) -> Store:
    return app.extensions["ivr"].store  # type: ignore[no-any-return]


def test_a_whole_cancelling_call_is_told_the_stored_confirmation_number(app: Flask, sim: Simulator) -> None:
    call = sim.call("/voice/acme", caller="+15550001111")
    assert "To cancel your service, say cancel or press 9" in call.prompt
    call.say("I want to cancel")
    assert "eight digit account number" in call.prompt
    call.press("12345678#")
    assert "fifty percent off" in call.prompt
    call.say("cancel")
    assert "account 1 2 3 4 5 6 7 8" in call.prompt
    call.say("yes")
    assert (call.outcome, call.turns, call.status, call.errors) == ("cancelled", 4, "completed", [])
    [record] = store_of(app).cancellations()
    assert (record.call_sid, record.caller, record.account) == (call.sid, "+15550001111", "12345678")
    spoken = re.search(r"Your confirmation number is ([\d ]+)\.", call.prompt)
    assert spoken is not None
    assert spoken.group(1).replace(" ", "") == record.confirmation
    assert call.node == "cancelled_goodbye"
    stored = store_of(app).get_call(call.sid)
    assert stored is not None
    assert (stored.ended, stored.status, stored.turns) == (True, "completed", 4)


def test_the_status_callback_marks_the_call_ended_in_the_store(app: Flask, sim: Simulator) -> None:
    call = sim.call("/voice/acme")
    stored = store_of(app).get_call(call.sid)
    assert stored is not None
    assert not stored.ended
    call.hang_up()
    stored = store_of(app).get_call(call.sid)
    assert stored is not None
    assert (stored.ended, stored.status) == (True, "completed")
    assert call.transcript[-1] == Event("caller", "hangs up")


@pytest.mark.parametrize(("answer", "after_dial"), [
    ("no-answer", [NO_AGENT]),
    ("busy", [NO_AGENT]),
    ("completed", []),
])
def test_three_silences_lead_to_an_agent_and_the_app_answers_the_transfer(
        app: Flask, sim: Simulator, answer: str, after_dial: list[str]) -> None:
    call = sim.call("/voice/acme", dial_answer=answer)  # type: ignore[arg-type]
    call.silence()
    assert call.prompt.startswith("Sorry, I didn't hear anything. For billing")
    call.silence()
    assert call.prompt.startswith("I still didn't hear you. You can also press 0 for an agent.")
    call.silence()
    assert call.transcript[-4 - len(after_dial):] == [
        Event("caller", "(silence)"),
        Event("ivr", "Let me get someone to help you."),
        Event("ivr", "Please hold while I connect you with an agent."),
        Event("twilio", f"dials {AGENT}: {answer}"),
        *[Event("ivr", said) for said in after_dial],
    ]
    assert (call.status, call.outcome, call.node, call.errors) == ("completed", "transferred", "agent_transfer", [])
    stored = store_of(app).get_call(call.sid)
    assert stored is not None
    assert (stored.ended, stored.outcome, stored.status) == (True, "transferred", "completed")


def test_a_wrong_auth_token_is_refused_by_the_app_and_the_caller_hears_the_application_error(app: Flask) -> None:
    sim = Simulator(app, auth_token="not-the-token", status_callback="/voice/acme/status")
    try:
        call = sim.call("/voice/acme")
    finally:
        sim.close()
    assert_failed_with(call, "11200")
    assert "HTTP 403" in call.errors[0]
    assert call.transcript == [Event("twilio", f"error {call.errors[0]}"), Event("ivr", APPLICATION_ERROR)]
    assert store_of(app).get_call(call.sid) is None


def test_the_conversation_reads_as_a_transcript(sim: Simulator) -> None:
    call = sim.call("/voice/acme")
    call.say("billing please")
    assert call.conversation().splitlines()[:5] == [
        "   IVR: [plays http://localhost/audio/acme/acme-welcome.wav]",
        "   IVR: For billing, say billing or press 1. For technical support, say technical support or press 2. "
        "To cancel your service, say cancel or press 9. For an agent, say agent or press 0.",
        "CALLER: says 'billing please'",
        "   IVR: Your current balance is forty two dollars and fifty cents, due on the first of the month.",
        "   IVR: Is there anything else I can help you with?",
    ]


# -- what the simulator posts, and how it executes TwiML -----------------------------------------------------


def test_the_incoming_call_and_each_answer_carry_twilios_fields_signed(line: Place) -> None:
    call, app = line({"/voice": twiml('<Gather action="/next"><Say>Press a key</Say></Gather>'),
                      "/next": twiml("<Say>Thanks</Say>")})
    call.press("5")
    first, answer = app.hits
    assert (first.method, first.url, first.fields) == ("POST", "http://localhost/voice",
                                                        twilio_fields(call, "ringing"))
    assert (answer.method, answer.url, answer.fields) == ("POST", "http://localhost/next",
                                                          twilio_fields(call, Digits="5"))
    assert first.signed
    assert answer.signed
    assert re.fullmatch(r"CA[0-9a-f]{32}", call.sid)


GATHER = '<Gather action="/next" {attrs}><Say>Menu</Say></Gather><Say>Nothing heard</Say>'
SPEECH = {"SpeechResult": "billing", "Confidence": 0.92}


@pytest.mark.parametrize(("attrs", "act", "keys", "posted"), [
    pytest.param('numDigits="4" finishOnKey=""', "press", "123456", {"Digits": "1234"}, id="numDigits-truncates"),
    pytest.param("", "press", "1234#99", {"Digits": "1234"}, id="default-finishOnKey-is-pound"),
    pytest.param('finishOnKey="*"', "press", "12*3#", {"Digits": "12"}, id="finishOnKey-star"),
    pytest.param('finishOnKey=""', "press", "12#", {"Digits": "12#"}, id="no-finishOnKey-pound-is-a-digit"),
    pytest.param('numDigits="1"', "press", "7", {"Digits": "7"}, id="one-key-menu"),
    pytest.param('numDigits="3"', "press", "12345#", {"Digits": "123"}, id="numDigits-reached-before-pound"),
    pytest.param("", "press", "#", None, id="pound-alone-is-no-input"),
    pytest.param('actionOnEmptyResult="true"', "press", "#", {}, id="pound-alone-with-actionOnEmptyResult"),
    pytest.param('input="speech"', "press", "1", None, id="speech-only-ignores-keys"),
    pytest.param("", "say", "billing", None, id="default-input-is-dtmf"),
    pytest.param('input="dtmf"', "say", "billing", None, id="dtmf-only-ignores-speech"),
    pytest.param('input="speech"', "say", "billing", SPEECH, id="speech"),
    pytest.param('input="dtmf speech"', "say", "billing", SPEECH, id="both-speech"),
    pytest.param('input="dtmf speech"', "press", "2", {"Digits": "2"}, id="both-keys"),
])
def test_a_gather_posts_what_twilio_would(line: Place, attrs: str, act: str, keys: str,
                                          posted: dict[str, Any] | None) -> None:
    call, app = line({"/voice": twiml(GATHER.format(attrs=attrs)), "/next": twiml("<Say>Got it</Say>")})
    assert call.prompt == "Menu"
    assert not call.ended
    getattr(call, act)(keys)
    if posted is None:  # no input: Twilio runs the verbs after the Gather, then hangs up
        assert (app.to("/next"), ivr_lines(call)[-1], call.status) == ([], "Nothing heard", "completed")
        return
    [hit] = app.to("/next")
    fields: dict[str, Any] = dict(hit.fields)
    if "Confidence" in fields:
        fields["Confidence"] = float(fields["Confidence"])
    assert fields == twilio_fields(call, **posted)
    assert hit.signed
    assert ivr_lines(call)[-1] == "Got it"
    assert call.answered == 1


def test_a_gather_without_action_posts_to_the_current_document(line: Place) -> None:
    call, app = line({"/voice": twiml("<Redirect>/menu?step=2</Redirect>"),
                      "/menu": twiml('<Gather numDigits="1"><Say>Menu</Say></Gather>')})
    call.press("3")
    assert [(hit.method, hit.url) for hit in app.hits] == [
        ("POST", "http://localhost/voice"), ("POST", "http://localhost/menu?step=2"),
        ("POST", "http://localhost/menu?step=2")]
    assert app.hits[-1].fields == twilio_fields(call, Digits="3")
    assert all(hit.signed for hit in app.hits)
    assert call.waiting is not None
    assert call.prompt == "Menu"


def test_silence_with_action_on_empty_result_posts_neither_speech_nor_digits(line: Place) -> None:
    call, app = line({"/voice": twiml(GATHER.format(attrs='input="dtmf speech" actionOnEmptyResult="true"')),
                      "/next": twiml("<Say>Still there?</Say>")})
    call.silence()
    [hit] = app.to("/next")
    assert hit.fields == twilio_fields(call)
    assert hit.signed
    assert call.transcript[-2:] == [Event("caller", "(silence)"), Event("ivr", "Still there?")]
    assert call.answered == 1


def test_silence_without_action_on_empty_result_falls_through_to_the_next_verbs(line: Place) -> None:
    call, app = line({
        "/voice": twiml('<Gather action="/next" input="speech"><Say>Menu</Say></Gather>',
                        "<Say>We did not hear you.</Say>", "<Redirect>/again</Redirect>"),
        "/again": twiml('<Gather action="/next"><Say>Last chance</Say></Gather>'),
    })
    call.silence()
    assert (call.prompt, call.ended, call.answered) == ("We did not hear you. Last chance", False, 0)
    call.silence()  # nothing after the Gather: Twilio hangs up
    assert (call.status, call.waiting, app.to("/next")) == ("completed", None, [])
    assert [hit.path for hit in app.hits] == ["/voice", "/again"]


@pytest.mark.parametrize(("path", "redirect", "method", "url", "query"), [
    ("/voice", "<Redirect>/b?x=1</Redirect>", "POST", "http://localhost/b", {"x": "1"}),
    ("/voice/a", "<Redirect>b</Redirect>", "POST", "http://localhost/voice/b", {}),
    ("/voice/a", "<Redirect>../b</Redirect>", "POST", "http://localhost/b", {}),
    ("/voice", "<Redirect>http://localhost/voice/b</Redirect>", "POST", "http://localhost/voice/b", {}),
    ("/voice", '<Redirect method="GET">/b?x=1</Redirect>', "GET", "http://localhost/b", {"x": "1"}),
    ("/voice", '<Redirect method="get">/voice/b</Redirect>', "GET", "http://localhost/voice/b", {}),
])
def test_redirect_fetches_the_next_document_signed(line: Place, path: str, redirect: str, method: str, url: str,
                                                   query: dict[str, str]) -> None:
    call, app = line({path: twiml(redirect, "<Say>never said</Say>"), "/b": twiml("<Say>Here</Say>"),
                      "/voice/b": twiml("<Say>Here</Say>")}, path=path)
    _, hit = app.hits
    base, _, sent = hit.url.partition("?")
    assert (hit.method, base) == (method, url)
    if method == "POST":
        assert (dict(parse_qsl(sent, keep_blank_values=True)), hit.fields) == (query, twilio_fields(call))
    else:  # Twilio's parameters go in the query string, and the signature covers the URL with them
        assert dict(parse_qsl(sent, keep_blank_values=True)) == hit.fields == {**query, **twilio_fields(call)}
    assert hit.signed, hit.url
    assert (ivr_lines(call), call.status) == (["Here"], "completed")


@pytest.mark.parametrize("answer", ["completed", "no-answer", "busy", "failed"])
def test_dial_with_an_action_posts_the_dial_call_status(line: Place, answer: str) -> None:
    call, app = line({"/voice": twiml(f'<Say>Connecting</Say><Dial action="/after">{AGENT}</Dial>',
                                      "<Say>never said</Say>"),
                      "/after": twiml("<Say>Dial over</Say><Hangup/>")}, dial_answer=answer)
    [hit] = app.to("/after")
    assert hit.signed
    assert hit.fields["DialCallStatus"] == answer
    assert hit.fields["CallSid"] == call.sid
    assert re.fullmatch(r"CA[0-9a-f]{32}", hit.fields["DialCallSid"])
    assert call.transcript[1:] == [Event("twilio", f"dials {AGENT}: {answer}"), Event("ivr", "Dial over")]
    assert call.status == "completed"


def test_dial_without_an_action_continues_with_the_next_verbs(line: Place) -> None:
    call, app = line({"/voice": twiml(f"<Dial><Number>{AGENT}</Number></Dial>", "<Say>After the agent</Say>")},
                     dial_answer="busy")
    assert call.transcript == [Event("twilio", f"dials {AGENT}: busy"), Event("ivr", "After the agent")]
    assert (call.status, len(app.hits)) == ("completed", 1)


def test_hangup_ends_the_call_and_nothing_after_it_is_said(line: Place) -> None:
    call, _ = line({"/voice": twiml("<Say>Bye</Say><Hangup/><Say>never said</Say>")})
    assert (ivr_lines(call), call.status, call.waiting) == (["Bye"], "completed", None)


def test_a_pause_is_heard_as_nothing(line: Place) -> None:
    call, _ = line({"/voice": twiml('<Say>One</Say><Pause length="2"/><Play>http://x/a.wav</Play>',
                                    '<Gather><Pause/><Say>Two</Say></Gather>')})
    assert call.transcript == [Event("ivr", "One"), Event("ivr", "[plays http://x/a.wav]"), Event("ivr", "Two")]
    assert call.prompt == "One [plays http://x/a.wav] Two"


def test_ssml_nested_as_twilios_builder_nests_it_is_accepted(line: Place) -> None:
    say = Say()
    paragraph = say.p()
    paragraph.s("First sentence.")
    say.prosody(rate="slow").emphasis("slowly", level="strong")
    response = VoiceResponse()
    response.append(say)
    call, _ = line({"/voice": str(response.to_xml())})
    assert (call.errors, call.status) == ([], "completed")
    assert call.heard.split() == ["First", "sentence.", "slowly"]


def test_adjacent_ssml_sentences_are_heard_as_separate_words(line: Place) -> None:
    call, _ = line({"/voice": twiml("<Say><s>Press one.</s><s>Or say billing.</s></Say>")})
    assert call.transcript == [Event("ivr", "Press one. Or say billing.")]


def test_the_status_callback_posts_completed_once(line: Place) -> None:
    call, app = line({"/voice": twiml("<Gather><Say>Hello</Say></Gather>"), "/status": ""},
                     status_callback="/status")
    assert app.to("/status") == []
    call.hang_up()
    call.hang_up()
    [hit] = app.to("/status")
    assert (hit.fields, hit.signed) == (twilio_fields(call, "completed", CallDuration="0"), True)
    assert [entry for entry in call.transcript if entry.who == "caller"] == [Event("caller", "hangs up")]


def test_the_status_callback_follows_a_hangup_in_the_twiml(line: Place) -> None:
    call, app = line({"/voice": twiml("<Hangup/>"), "/status": ""}, status_callback="/status")
    call.hang_up()
    assert [hit.fields["CallStatus"] for hit in app.to("/status")] == ["completed"]


def test_the_conversation_format(line: Place) -> None:
    call, _ = line({"/voice": twiml('<Gather action="/next" numDigits="1"><Say>Press  one\n now</Say></Gather>')})
    call.press("1")
    assert call.conversation() == "\n".join([
        "   IVR: Press one now",
        "CALLER: presses 1",
        "TWILIO: error 11200: http://localhost/next answered HTTP 404",
        f"   IVR: {APPLICATION_ERROR}",
    ])


# -- what Twilio rejects ---------------------------------------------------------------------------------------


BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                            for i in range(1, 10))
                  + "]><Response><Say>&lol9;</Say></Response>")
XXE = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       "<Response><Say>&x;</Say></Response>")


@pytest.mark.parametrize(("page", "code"), [
    pytest.param("<Response><Say>unclosed</Response>", "12100", id="malformed"),
    pytest.param("", "12100", id="empty-body"),
    pytest.param("<Say>Hello</Say>", "1210", id="root-not-response"),
    pytest.param(twiml("<Gather><Gather/></Gather>"), "12200", id="gather-in-gather"),
    pytest.param(twiml(f"<Gather><Dial>{AGENT}</Dial></Gather>"), "12200", id="dial-in-gather"),
    pytest.param(twiml("<Say>Hi <Play>http://x/a.wav</Play></Say>"), "12200", id="play-in-say"),
    pytest.param(twiml("<Hangup><Say>Bye</Say></Hangup>"), "12200", id="say-in-hangup"),
    pytest.param(twiml("<Redirect><Say>Bye</Say></Redirect>"), "12200", id="say-in-redirect"),
    pytest.param(BILLION_LAUGHS, "12100", id="billion-laughs"),
    pytest.param(XXE, "12100", id="external-entity"),
    pytest.param(Page(twiml("<Say>Hi</Say>"), content_type="text/plain"), "12300", id="text-plain"),
    pytest.param(Page('{"say": "Hi"}', content_type="application/json"), "12300", id="json"),
    pytest.param(Page(twiml("<Say>Hi</Say>"), status=500), "11200", id="http-500"),
    pytest.param(None, "11200", id="http-404"),
])
def test_twilio_rejects_what_it_cannot_execute(line: Place, page: str | Page | None, code: str) -> None:
    began = time.perf_counter()
    call, _ = line({} if page is None else {"/voice": page})
    assert_failed_with(call, code)
    assert ivr_lines(call) == [APPLICATION_ERROR]  # nothing of the rejected document is said
    assert time.perf_counter() - began < 2  # entities are never expanded


def test_a_root_other_than_response_is_error_12102(line: Place) -> None:
    call, _ = line({"/voice": "<Say>Hello</Say>"})
    assert_failed_with(call, "12102")


def test_text_html_is_parsed_as_twiml(line: Place) -> None:
    call, _ = line({"/voice": Page(twiml("<Say>Hi</Say>"), content_type="text/html; charset=utf-8")})
    assert (ivr_lines(call), call.errors, call.status) == (["Hi"], [], "completed")


def test_an_error_mid_call_ends_it_after_what_was_said(line: Place) -> None:
    call, _ = line({"/voice": twiml('<Say>Hello</Say><Gather action="/broken" numDigits="1"/>'),
                    "/broken": Page("Internal Server Error", status=500, content_type="text/html")})
    call.press("1")
    assert_failed_with(call, "11200")
    assert call.errors == ["11200: http://localhost/broken answered HTTP 500"]
    assert [entry.who for entry in call.transcript] == ["ivr", "caller", "twilio", "ivr"]


def test_an_answer_slower_than_the_timeout_is_error_11200(line: Place) -> None:
    call, app = line({"/voice": Page(twiml("<Say>Too late</Say>"), delay=0.6), "/status": ""}, timeout=0.3,
                     status_callback="/status")
    assert_failed_with(call, "11200")
    assert ivr_lines(call) == ["We are sorry, an application error has occurred. Goodbye."]
    assert len(app.to("/status")) == 1


def test_an_answer_within_the_timeout_is_executed(line: Place) -> None:
    call, _ = line({"/voice": Page(twiml("<Say>Just in time</Say>"), delay=0.05)}, timeout=0.3)
    assert (ivr_lines(call), call.errors) == (["Just in time"], [])


def test_an_http_redirect_is_followed(line: Place) -> None:
    call, app = line({"/voice": Page("", status=307, content_type="text/html", headers=(("Location", "/moved"),)),
                      "/moved": twiml("<Say>Moved here</Say>")})
    assert (ivr_lines(call), call.errors) == (["Moved here"], [])
    assert [(hit.method, hit.path) for hit in app.hits] == [("POST", "/voice"), ("POST", "/moved")]


@pytest.mark.parametrize(("reject", "status"), [("<Reject/>", "no-answer"), ('<Reject reason="busy"/>', "busy")])
def test_a_rejected_call_ends_busy_or_unanswered(line: Place, reject: str, status: str) -> None:
    call, app = line({"/voice": twiml(reject, "<Say>never said</Say>"), "/status": ""}, status_callback="/status")
    assert (call.transcript, call.status) == ([], status)
    assert [hit.fields["CallStatus"] for hit in app.to("/status")] == [status]


# -- what fuzzing found (tests/fuzz/test_fuzz_readers.py): a line's odd answers end the call, never crash the test ---


@pytest.mark.parametrize(("pages", "code", "error"), [
    pytest.param({"/voice": twiml("<Redirect>/voice</Redirect>")}, "14106",
                 f"14106: http://localhost/voice: {MAX_DOCUMENTS} documents in a row without waiting for the caller "
                 "(a <Redirect> or action URL that loops?)", id="redirect-loop"),
    pytest.param({"/voice": twiml(f'<Dial action="/voice"><Number>{AGENT}</Number></Dial>')}, "14106", None,
                 id="dial-action-loop"),
    pytest.param({"/voice": twiml("<Redirect>http://h:abc/</Redirect>")}, "11100",
                 "11100: 'http://h:abc/' is not a URL Twilio can request: Port could not be cast to integer value as "
                 "'abc'", id="port-not-a-number"),
    pytest.param({"/voice": twiml("<Redirect>http://[::1</Redirect>")}, "11100",
                 "11100: 'http://[::1' is not a URL Twilio can request: Invalid IPv6 URL", id="ipv6-unclosed"),
    pytest.param({"/voice": twiml("<Redirect>mailto:a@b</Redirect>")}, "11100",
                 "11100: 'mailto:a@b' is not a URL Twilio can request: not an http(s) URL", id="not-http"),
    pytest.param({"/voice": Page("", status=302, content_type="text/html", headers=(("Location", "/voice"),))},
                 "11215", None, id="http-redirect-loop"),
    pytest.param({"/voice": Page("", status=302, content_type="text/html")}, "11216",
                 "11216: http://localhost/voice answered HTTP 302 without a Location", id="http-redirect-nowhere"),
])
def test_what_twilio_cannot_follow_ends_the_call(line: Place, pages: dict[str, str | Page], code: str,
                                                  error: str | None) -> None:
    call, _ = line(pages)
    assert_failed_with(call, code)
    if error is not None:
        assert call.errors == [error]


@pytest.mark.parametrize("location", ["http://[::1", "http://h:abc/"])
def test_an_http_redirect_to_a_url_twilio_cannot_request_is_error_11215(location: str) -> None:
    def answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("302 Found", [("Location", location), ("Content-Type", "text/html")])  # Flask refuses these
        return [b""]

    sim = Simulator(answer, auth_token=TOKEN)
    call = sim.call("/voice")
    assert_failed_with(call, "11215")
    assert call.errors == [f"11215: http://localhost/voice answered HTTP 302 to {location!r}, and redirected too many "
                           "times or to an invalid URL"]


def test_a_loop_is_cut_after_the_document_limit_each_time_the_caller_acts(line: Place) -> None:
    call, app = line({"/voice": twiml('<Gather action="/loop" numDigits="1"/>'),
                      "/loop": twiml("<Redirect>/loop</Redirect>")})
    call.press("1")
    assert_failed_with(call, "14106")
    assert len(app.to("/loop")) == MAX_DOCUMENTS


def test_a_gather_action_twilio_cannot_request_fails_when_the_caller_answers(line: Place) -> None:
    call, _ = line({"/voice": twiml('<Gather action="http://[::1" numDigits="1"><Say>Press 1</Say></Gather>')})
    assert call.waiting is not None
    call.press("1")
    assert_failed_with(call, "11100")


@pytest.mark.parametrize("num_digits", ["\u00b2", "\u0663", "9" * 5000, "-1", "1.5", ""])
def test_a_num_digits_that_is_not_a_whole_number_sets_no_limit(line: Place, num_digits: str) -> None:
    call, app = line({"/voice": twiml(f'<Gather numDigits="{num_digits}" action="/next"/>'),
                      "/next": twiml("<Hangup/>")})
    call.press("123#")
    assert [hit.fields["Digits"] for hit in app.to("/next")] == ["123"]


@pytest.mark.parametrize(("reported", "turns"), [("3", 3), ("\u00b2", 0), ("9" * 5000, 0), ("", 0), ("-1", 0)])
def test_turns_the_app_reports_count_only_as_a_whole_number(line: Place, reported: str, turns: int) -> None:
    call, _ = line({"/voice": Page(twiml("<Hangup/>"), headers=(("X-Ivr-Turns", reported),))})
    assert call.turns == turns


def test_text_no_xml_parser_takes_is_error_12100() -> None:
    with pytest.raises(ValueError, match=r"^12100: the document cannot be read as XML: 'utf-8' codec can't encode"):
        check_twiml("<Response><Say>\ud800</Say></Response>")


# -- misuse ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("act", "args"), [("say", ("cancel",)), ("press", ("1",)), ("silence", ())])
def test_answering_after_the_call_ended_is_an_error_showing_the_conversation(line: Place, act: str,
                                                                              args: tuple[str, ...]) -> None:
    call, _ = line({"/voice": twiml("<Say>Goodbye</Say><Hangup/>")})
    with pytest.raises(SimError, match=r"has ended \(completed\)") as raised:
        getattr(call, act)(*args)
    assert str(raised.value).endswith("conversation so far:\n   IVR: Goodbye")
    assert call.transcript == [Event("ivr", "Goodbye")]


def test_hanging_up_twice_is_harmless(line: Place) -> None:
    call, _ = line({"/voice": twiml("<Gather><Say>Hello</Say></Gather>")})
    assert call.hang_up() is call
    call.hang_up()
    assert (call.status, call.transcript[-1], len(call.transcript)) == ("completed", Event("caller", "hangs up"), 2)


# -- a live URL --------------------------------------------------------------------------------------------------


def test_a_whole_call_to_a_live_url(app: Flask) -> None:
    with serving(app) as url:
        sim = Simulator(url, auth_token=TOKEN, status_callback="/voice/acme/status")
        try:
            call = sim.call("/voice/acme")
            assert f"[plays {url}/audio/acme/acme-welcome.wav]" in call.prompt
            call.say("cancel")
            call.press("12345678#")
            call.press("9")
            call.press("1")
        finally:
            sim.close()
    assert (call.outcome, call.turns, call.status, call.errors) == ("cancelled", 4, "completed", [])
    [record] = store_of(app).cancellations()
    assert " ".join(record.confirmation) in call.prompt
    stored = store_of(app).get_call(call.sid)
    assert stored is not None
    assert (stored.ended, stored.status) == (True, "completed")
