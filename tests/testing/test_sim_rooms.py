"""Where callers wait with others, as Twilio runs it: `<Enqueue>` and its wait-music loop, the queue's outcome
(`queue=`), `<Leave>`; `<Dial><Queue>`; `<Dial><Conference>` with its wait music, start and end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ivr.testing.sim import Dialled, DialResult, Event, QueueOutcome
from tests.testing.apps.scripted import Page, Place, placing, posted, twiml

DONE = twiml("<Say>Done</Say>")
WAIT = twiml("<Say>Please hold</Say>")
QUEUE_SID = "QU"  # the prefix: the SID itself is the same for the same name on the account
WAITING = ("QueuePosition", "QueueTime", "AvgQueueTime", "CurrentQueueSize", "MaxQueueSize")


@pytest.fixture
def line() -> Iterator[Place]:
    with placing() as place:
        yield place


# -- <Enqueue> -----------------------------------------------------------------------------------------------------


def test_the_wait_url_is_requested_again_each_time_it_runs_out(line: Place) -> None:
    call, app = line({"/voice": twiml('<Enqueue waitUrl="/wait" action="/done">support</Enqueue>'), "/wait": WAIT,
                      "/done": DONE}, queue=QueueOutcome("bridged", waits=3, seconds=90, duration=120))
    assert posted(app.hits, "/wait", *WAITING) == [
        {"QueuePosition": "1", "QueueTime": t, "AvgQueueTime": t, "CurrentQueueSize": "1", "MaxQueueSize": "1000"}
        for t in ("0", "30", "60")]
    sids = {hit.fields["QueueSid"] for hit in app.hits[1:]}
    assert len(sids) == 1
    assert sids.pop().startswith(QUEUE_SID)
    assert call.prompts == ["Please hold"] * 3 + ["Done"]
    assert posted(app.hits, "/done", "QueueResult", "QueueTime") == [{"QueueResult": "bridged", "QueueTime": "90"}]
    assert (call.queues, call.dialled) == (["support"], [Dialled("queue", "support", "bridged", 120)])
    assert Event("twilio", "an agent dequeues the caller: bridged for 120 s") in call.transcript


@pytest.mark.parametrize(("result", "fields", "status", "by"), [
    ("bridged", {"QueueResult": "bridged", "QueueTime": "30"}, "completed", "app"),
    ("hangup", {"QueueResult": "hangup", "QueueTime": "30"}, "completed", "caller"),
    ("queue-full", {"QueueResult": "queue-full"}, "completed", "app"),
    ("error", {"QueueResult": "error", "QueueTime": "30"}, "completed", "app"),
    ("system-error", {"QueueResult": "system-error", "QueueTime": "30"}, "completed", "app"),
    ("redirected", {"QueueResult": "redirected", "QueueTime": "30"}, "completed", "app"),
])
def test_the_queues_outcome_is_posted_as_queue_result(line: Place, result: str, fields: dict[str, str], status: str,
                                                       by: str) -> None:
    call, app = line({"/voice": twiml('<Enqueue waitUrl="/wait" action="/done">sales</Enqueue>'), "/wait": WAIT,
                      "/done": DONE}, queue=result)
    assert posted(app.hits, "/done", "QueueResult", "QueueTime") == [fields]
    assert ("QueueSid" in app.to("/done")[0].fields) is (result != "queue-full")  # only when enqueued
    assert (call.status, call.hung_up_by) == (status, by)
    assert call.prompts == ([] if result == "queue-full" else ["Please hold"]) + ([] if result == "hangup" else
                                                                                   ["Done"])


def test_a_caller_leaving_by_a_gather_in_the_wait_music_goes_on_after_the_enqueue(line: Place) -> None:
    call, app = line({"/voice": twiml('<Enqueue waitUrl="/wait">support</Enqueue>', "<Say>Left the queue</Say>"),
                      "/wait": twiml('<Gather numDigits="1" action="/key"><Say>Press star to leave</Say></Gather>'),
                      "/key": twiml("<Leave/>")}, queue=QueueOutcome(waits=5))
    assert call.waiting is not None
    call.press("*")
    assert call.prompts == ["Press star to leave", "Left the queue"]
    assert call.dialled == [Dialled("queue", "support", "leave")]
    assert posted(app.hits, "/key", "Digits") == [{"Digits": "*"}]


def test_the_caller_hanging_up_in_the_queue_still_requests_the_action(line: Place) -> None:
    call, app = line({"/voice": twiml('<Enqueue waitUrl="/wait" action="/done">support</Enqueue>'),
                      "/wait": twiml('<Gather action="/key"><Say>Hold</Say></Gather>'), "/done": DONE})
    call.hang_up()
    assert posted(app.hits, "/done", "QueueResult", "CallStatus") == [{"QueueResult": "hangup",
                                                                       "CallStatus": "completed"}]
    assert (call.prompts, call.hung_up_by) == (["Hold"], "caller")


@pytest.mark.parametrize(("wait", "pages", "heard", "twilio"), [
    ("", {}, [], "waitUrl is empty: the caller waits in silence"),
    (None, {}, [], "plays Twilio's default hold music (simulated: no media)"),
    ("/music.mp3", {"/music.mp3": Page("ID3...", content_type="audio/mpeg")}, ["[plays http://localhost/music.mp3]"],
     None),
])
def test_wait_music_may_be_audio_twilios_or_none(line: Place, wait: str | None, pages: dict[str, Page],
                                                 heard: list[str], twilio: str | None) -> None:
    attribute = "" if wait is None else f' waitUrl="{wait}"'
    call, _ = line({"/voice": twiml(f'<Enqueue action="/done"{attribute}>support</Enqueue>'), "/done": DONE,
                    **pages})
    assert call.prompts == [*heard, "Done"]
    if twilio:
        assert Event("twilio", twilio) in call.transcript


@pytest.mark.parametrize(("wait", "error"), [
    (twiml("<Dial>+15550100</Dial>"), "12200: http://localhost/wait: <Dial> is not allowed in the wait music of "
                                      "queue 'support'; allowed: ['Gather', 'Hangup', 'Leave', 'Pause', 'Play', "
                                      "'Redirect', 'Say']"),
    (Page("oops", status=500), "11200: http://localhost/wait answered HTTP 500"),
])
def test_a_wait_document_twilio_cannot_run_ends_the_wait_with_queue_result_error(line: Place, wait: str | Page,
                                                                                 error: str) -> None:
    call, app = line({"/voice": twiml('<Enqueue waitUrl="/wait" action="/done">support</Enqueue>'), "/wait": wait,
                      "/done": DONE})
    assert (call.errors, call.prompts) == ([error], ["Done"])
    assert posted(app.hits, "/done", "QueueResult") == [{"QueueResult": "error"}]


# -- <Dial><Queue> -------------------------------------------------------------------------------------------------


def test_dialling_a_queue_takes_the_caller_at_its_front(line: Place) -> None:
    call, app = line({"/voice": twiml('<Dial action="/done"><Queue url="/about">support</Queue></Dial>'),
                      "/about": twiml("<Say>An agent is here</Say>"), "/done": DONE},
                     dial={"support": DialResult("completed", 80)})
    [about] = app.to("/about")
    assert (about.fields["DequeingCallSid"], about.fields["QueueSid"][:2]) == (call.sid, "QU")
    assert about.fields["CallSid"] != call.sid  # the dequeued caller's call
    assert [e.text for e in call.transcript if e.who == "agent"] == ["An agent is here"]
    assert posted(app.hits, "/done", "DialCallStatus", "DialCallDuration", "DialBridged", "DequeingCallSid") == [
        {"DialCallStatus": "completed", "DialCallDuration": "80", "DialBridged": "true", "DequeingCallSid": call.sid}]
    assert call.dialled == [Dialled("queue", "support", "completed", 80)]


@pytest.mark.parametrize("answer", ["no-answer", "failed"])
def test_an_empty_or_missing_queue(line: Place, answer: str) -> None:
    call, app = line({"/voice": twiml('<Dial action="/done"><Queue>support</Queue></Dial>'), "/done": DONE},
                     dial={"support": answer})
    assert posted(app.hits, "/done", "DialCallStatus", "DialBridged") == [{"DialCallStatus": answer,
                                                                           "DialBridged": "false"}]


# -- <Dial><Conference> --------------------------------------------------------------------------------------------


def test_a_conference_plays_its_wait_music_then_starts_and_ends(line: Place) -> None:
    call, app = line({"/voice": twiml('<Dial action="/done"><Conference waitUrl="/hold" startConferenceOnEnter="false"'
                                      ">standup</Conference></Dial>", "<Say>never</Say>"),
                      "/hold": twiml("<Say>Waiting for the host</Say>", "<Redirect>/hold</Redirect>"), "/done": DONE},
                     dial={"standup": DialResult("completed", 300)})
    assert call.transcript == [
        Event("twilio", "joins conference 'standup' (startConferenceOnEnter=false, endConferenceOnExit=false)"),
        *[Event("ivr", "Waiting for the host")] * 3,  # the wait music loops: three rounds are heard
        Event("twilio", "another participant joins: the conference starts"),
        Event("twilio", "the conference ends after 300 s"),
        Event("ivr", "Done"),
    ]
    assert posted(app.hits, "/done") == [{"DialCallStatus": "answered", "DialBridged": "true"}]  # no sid, duration
    assert (call.conferences, call.dialled) == (["standup"], [Dialled("conference", "standup", "answered", 300)])


@pytest.mark.parametrize(("answer", "left", "said"), [
    (DialResult("completed", 100, caller_hangs_up=True), True, "the caller hangs up after 100 s"),
    (DialResult("no-answer", 60), True, "nobody else joins: the caller hangs up after 60 s of waiting"),
])
def test_the_caller_leaving_a_conference_ends_the_call(line: Place, answer: DialResult, left: bool, said: str) -> None:
    call, app = line({"/voice": twiml('<Dial action="/done"><Conference>room</Conference></Dial>'), "/done": DONE},
                     dial={"room": answer})
    assert (call.hung_up_by, call.prompts, call.transcript[-1]) == ("caller", [], Event("twilio", said))
    assert posted(app.hits, "/done", "DialCallStatus") == [{"DialCallStatus": "answered"}]


def test_a_conference_wait_music_with_a_verb_twilio_refuses_is_13238(line: Place) -> None:
    call, app = line({"/voice": twiml('<Dial action="/done"><Conference waitUrl="/hold">room</Conference></Dial>'),
                      "/hold": twiml("<Gather/>"), "/done": DONE})
    assert call.errors == ["13238: http://localhost/hold: <Gather> is not allowed here; allowed: ['Pause', 'Play', "
                           "'Redirect', 'Say']"]
    assert posted(app.hits, "/done", "DialCallStatus") == [{"DialCallStatus": "failed"}]
