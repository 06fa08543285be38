"""What the simulator sends and keeps, as Twilio does: the full set of request parameters (location fields,
CallToken) and overrides of them, the entry request's method and path, one cookie jar per call (in-process and
over HTTP), and `<Play>` files fetched once, a failed one reported and skipped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from ivr.errors import SimError
from ivr.testing.sim import Event, Request, Simulator
from tests.conftest import TOKEN, serving
from tests.testing.apps import wsgi_app
from tests.testing.apps.flask_app import create_app
from tests.testing.apps.scripted import CALLED, CALLER, PLACES, Page, Place, Scripted, placing, twilio_fields, twiml


@pytest.fixture
def line() -> Iterator[Place]:
    with placing() as place:
        yield place


HANG_UP = twiml("<Hangup/>")


# -- request parameters -------------------------------------------------------------------------------------------


def test_every_request_carries_twilios_standard_set_and_the_same_call_token(line: Place) -> None:
    call, app = line({"/voice": twiml('<Gather action="/next" numDigits="1"/>'), "/next": HANG_UP})
    call.press("1")
    first, answer = app.hits
    assert first.fields == twilio_fields(call, "ringing")
    assert answer.fields == twilio_fields(call, Digits="1")
    assert call.params["CallToken"].startswith("%7B%22parentCallInfoToken%22%3A%22")
    assert {key: first.fields[key] for key in PLACES} == PLACES


@pytest.mark.parametrize(("sim_params", "call_params", "expected"), [
    pytest.param({}, {}, {"FromCity": "SAN FRANCISCO", "ToState": "", "CallerName": None}, id="defaults"),
    pytest.param({"FromCity": "PORTLAND", "FromState": "OR"}, {}, {"FromCity": "PORTLAND", "FromState": "OR",
                                                                   "CallerCity": "SAN FRANCISCO"}, id="simulator"),
    pytest.param({"FromCity": "PORTLAND"}, {"FromCity": "SALEM"}, {"FromCity": "SALEM"}, id="call-over-simulator"),
    pytest.param({}, {"CallerName": "JANE DOE", "ForwardedFrom": "+15035550000", "ToCity": "AUSTIN"},
                 {"CallerName": "JANE DOE", "ForwardedFrom": "+15035550000", "ToCity": "AUSTIN"}, id="call"),
    pytest.param({}, {"CallToken": "fixed"}, {"CallToken": "fixed"}, id="token"),
])
def test_request_parameters_are_configurable(line: Place, sim_params: dict[str, str], call_params: dict[str, str],
                                             expected: dict[str, str | None]) -> None:
    call, app = line({"/voice": HANG_UP}, sim={"params": sim_params}, params=call_params)
    assert {key: app.hits[0].fields.get(key) for key in expected} == expected
    assert app.hits[0].signed


def test_an_app_reading_the_location_parameters_answers(line: Place) -> None:
    app = create_app()
    sim = Simulator(app, auth_token=TOKEN, params={"FromCity": "BOISE", "FromState": "ID"})
    call = sim.call("/voice")
    assert call.prompts[0] == "Welcome to Northwind, caller from Boise, ID in US."
    assert sim.call("/voice", params={"FromCountry": ""}).error_codes == ["11200"]  # the app answers 400


# -- the entry request ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "method", "url"), [
    ("/voice", "POST", "http://localhost/voice"),
    ("/anything/deep?x=1", "GET", "http://localhost/anything/deep"),
    ("other", "get", "http://localhost/other"),
    ("/", "POST", "http://localhost/"),
])
def test_the_entry_request_has_any_path_and_method(line: Place, path: str, method: str, url: str) -> None:
    page = path.split("?")[0] if path.startswith("/") else "/" + path
    call, app = line({page: HANG_UP}, path=path, method=method)
    [hit] = app.hits
    assert (hit.method, hit.url.split("?")[0], hit.signed) == (method.upper(), url, True)
    assert hit.fields["CallStatus"] == "ringing"
    assert call.requests[0] == Request(method.upper(), "http://" + "localhost/" + path.lstrip("/"),
                                       call.requests[0].fields, "twiml")


def test_an_entry_method_twilio_does_not_use_is_refused(line: Place) -> None:
    with pytest.raises(SimError, match=r"^method='PUT' is not one of Twilio's: \['GET', 'POST'\]$"):
        line({"/voice": HANG_UP}, method="PUT")


def test_a_get_route_of_a_flask_app_is_reached_with_get() -> None:
    sim = Simulator(create_app(), auth_token=TOKEN)
    assert sim.call("/hours", method="GET").prompts == ["We are open from nine to five."]
    assert sim.call("/hours").error_codes == ["11200"]  # POST: 405 Method Not Allowed


# -- one cookie jar per call ---------------------------------------------------------------------------------------


def test_each_call_has_its_own_cookie_jar_in_process() -> None:
    sim = Simulator(create_app(), auth_token=TOKEN)
    first, second = sim.call("/session/start"), sim.call("/session/start")
    for call in (first, second):
        assert call.errors == []
        assert call.prompts == [f"Visit {n} of call {call.sid}." for n in (1, 2, 3)]


def test_each_call_has_its_own_cookie_jar_over_http() -> None:
    app: Flask = create_app()
    with serving(app) as url:
        sim = Simulator(url, auth_token=TOKEN)
        try:
            calls = [sim.call("/session/start") for _ in range(2)]
        finally:
            sim.close()
    assert [(c.errors, c.prompts[-1]) for c in calls] == [([], f"Visit 3 of call {c.sid}.") for c in calls]


def test_a_bare_wsgi_app_setting_its_own_cookie_sees_it_again_in_the_same_call_only() -> None:
    sim = Simulator(wsgi_app.app, auth_token=TOKEN)
    assert [sim.call("/cookie").prompts for _ in range(2)] == [["Visit 1.", "Visit 2.", "Visit 3."]] * 2


# -- <Play> --------------------------------------------------------------------------------------------------------

AUDIO = Page("RIFF....WAVE", content_type="audio/wav")


@pytest.mark.parametrize(("verbs", "pages", "fetched", "heard", "warnings"), [
    pytest.param("<Play>/a.wav</Play>", {"/a.wav": AUDIO}, ["/a.wav"], ["[plays /a.wav]", "After"], [], id="fetched"),
    pytest.param('<Play loop="3">/a.wav</Play>', {"/a.wav": AUDIO}, ["/a.wav"], ["[plays /a.wav]"] * 3 + ["After"],
                 [], id="loop"),
    pytest.param('<Play loop="0">/a.wav</Play>', {"/a.wav": AUDIO}, ["/a.wav"], ["[plays /a.wav]"] * 10 + ["After"],
                 [], id="loop-until-hang-up"),
    pytest.param("<Play>/gone.wav</Play>", {}, ["/gone.wav"], ["After"],
                 ["11200: http://localhost/gone.wav answered HTTP 404"], id="404"),
    pytest.param("<Play>/page</Play>", {"/page": twiml("<Say>x</Say>")}, ["/page"], ["After"],
                 ["13420: http://localhost/page answered with content type 'text/xml', not audio Twilio plays"],
                 id="not-audio"),
    pytest.param("<Gather><Play>/page</Play><Say>Menu</Say></Gather>", {"/page": Page("x", content_type="text/plain")},
                 ["/page"], ["Menu"], ["13325: http://localhost/page answered with content type 'text/plain', not "
                                       "audio Twilio plays (<Gather><Play>)"], id="not-audio-in-gather"),
    pytest.param("<Play>https://cdn.example.com/a.mp3</Play>", {}, [],
                 ["[plays https://cdn.example.com/a.mp3]", "After"], [], id="another-host-not-fetched"),
])
def test_play_fetches_its_file_and_a_failure_is_reported_and_skipped(
        line: Place, verbs: str, pages: dict[str, Any], fetched: list[str], heard: list[str],
        warnings: list[str]) -> None:
    call, app = line({"/voice": twiml(verbs, "<Say>After</Say>"), **pages})
    assert call.prompts == heard
    assert (call.warnings, call.errors) == (warnings, [])
    assert [(h.method, h.path, h.fields) for h in app.hits[1:]] == [("GET", path, {}) for path in fetched]
    if warnings:  # Twilio's parameters are not sent to a <Play> URL; a failure is logged and the call goes on
        code, _, reason = warnings[0].partition(": ")
        assert Event("twilio", f"error {code}: {reason} (the <Play> is skipped)") in call.transcript


def test_play_digits_plays_tones_without_a_fetch(line: Place) -> None:
    call, app = line({"/voice": twiml('<Play digits="ww1#"/>')})
    assert (call.transcript, len(app.hits)) == ([Event("twilio", "plays the DTMF tones 'ww1#'")], 1)


def test_a_file_is_fetched_once_per_simulator_as_twilio_caches_it() -> None:
    app = Scripted({"/voice": twiml("<Play>/a.wav</Play>", "<Play>/a.wav</Play>"), "/a.wav": AUDIO})
    sim = Simulator(app.app, auth_token=TOKEN)
    calls = [sim.call("/voice", caller=CALLER, called=CALLED) for _ in range(3)]
    assert len(app.to("/a.wav")) == 1
    assert [c.prompts for c in calls] == [["[plays /a.wav]"] * 2] * 3
    assert [r.purpose for r in calls[0].requests] == ["twiml", "media"]
