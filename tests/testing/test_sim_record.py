"""`<Record>` as Twilio runs it: the caller's turn (speech, keys, an audio file, silence, a hang-up) ends the
recording as `timeout`, `finishOnKey` and `maxLength` say; the action gets RecordingUrl, RecordingSid,
RecordingDuration and Digits; the recording status and transcription callbacks get theirs."""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.errors import SimError
from ivr.testing.sim import Event, Recorder, Recording, Simulator
from tests.conftest import TOKEN
from tests.testing.apps.flask_app import create_app
from tests.testing.apps.scripted import Place, placing, posted, twilio_fields, twiml

RECORDINGS = "https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000000/Recordings/"
DONE = twiml("<Say>Saved</Say>")


@pytest.fixture
def line() -> Iterator[Place]:
    with placing() as place:
        yield place


@pytest.mark.parametrize(("attrs", "acts", "duration", "digits", "source", "said"), [
    pytest.param("", [("say", "my modem is blinking red")], 7, "", "speech", "my modem is blinking red",
                 id="speech-then-5s-silence"),
    pytest.param('timeout="2"', [("say", "hello there")], 3, "", "speech", "hello there", id="timeout"),
    pytest.param("", [("press", "7")], 0, "7", "silence", "", id="any-key-finishes-by-default"),
    pytest.param('finishOnKey="#"', [("press", "12#")], 0, "#", "keys", "12", id="keys-then-finish-key"),
    pytest.param('timeout="0" finishOnKey="#"', [("say", "one two three four five"), ("press", "#")], 2, "#",
                 "speech", "one two three four five", id="no-timeout-waits-for-the-key"),
    pytest.param('timeout="0" maxLength="4"', [("say", " ".join(["word"] * 20))], 4, "", "speech",
                 " ".join(["word"] * 20), id="maxLength"),
    pytest.param("", [("silence",)], 5, "", "silence", "", id="silence-is-saved"),
    pytest.param('timeout="0" maxLength="30"', [("silence",)], 30, "", "silence", "", id="silence-until-maxLength"),
])
def test_the_recording_ends_as_twilio_ends_it(line: Place, attrs: str, acts: list[tuple[str, ...]], duration: int,
                                              digits: str, source: str, said: str) -> None:
    call, app = line({"/voice": twiml("<Say>Speak</Say>", f'<Record action="/done" {attrs}/>', "<Say>never</Say>"),
                      "/done": DONE})
    assert call.waiting is not None
    assert call.waiting.kind == "record"
    for act, *args in acts:
        getattr(call, act)(*args)
    [recording] = call.recordings
    assert (recording.duration, recording.digits, recording.source, recording.said) == (duration, digits, source,
                                                                                         said)
    fields = {"RecordingUrl": recording.url, "RecordingSid": recording.sid, "RecordingDuration": str(duration)}
    if digits:
        fields["Digits"] = digits
    [hit] = app.to("/done")
    assert (hit.fields, hit.signed) == (twilio_fields(call, **fields), True)
    assert recording.url == RECORDINGS + recording.sid
    assert (call.prompts, call.status, call.answered) == (["Speak", "Saved"], "completed", 0)


def test_without_an_action_the_document_itself_is_requested_again(line: Place) -> None:
    call, app = line({"/voice": twiml("<Record/>")})
    call.say("hello")
    assert [hit.path for hit in app.hits] == ["/voice", "/voice"]
    assert call.waiting is not None  # the same <Record> again


def test_hanging_up_during_the_recording_still_requests_the_action_to_no_effect(line: Place) -> None:
    call, app = line({"/voice": twiml('<Record action="/done" timeout="0"/>'), "/done": DONE, "/status": ""},
                     sim={"status_callback": "/status"})
    call.say("I want to cancel my account")
    call.hang_up()
    [recording] = call.recordings
    assert posted(app.hits, "/done", "Digits", "RecordingDuration", "CallStatus") == [
        {"Digits": "hangup", "RecordingDuration": "2", "CallStatus": "completed"}]
    assert (call.status, call.hung_up_by, recording.digits, call.prompts) == ("completed", "caller", "hangup", [])
    assert [hit.path for hit in app.hits] == ["/voice", "/done", "/status"]


def test_the_recording_status_callback_gets_its_own_parameters(line: Place) -> None:
    call, app = line({"/voice": twiml('<Record action="/done" recordingStatusCallback="/rec" '
                                      'recordingStatusCallbackEvent="in-progress completed" trim="trim-silence"/>'),
                      "/done": DONE, "/rec": ""})
    call.say("please call me back tomorrow")
    [recording] = call.recordings
    common = {"AccountSid": "AC" + "0" * 32, "CallSid": call.sid, "RecordingSid": recording.sid,
              "RecordingUrl": recording.url, "RecordingChannels": "1", "RecordingSource": "RecordVerb"}
    assert [hit.fields for hit in app.to("/rec")] == [
        {**common, "RecordingStatus": "in-progress", "RecordingDuration": "0"},
        {**common, "RecordingStatus": "completed", "RecordingDuration": "2"},  # trimmed: the 5 s of silence go
    ]
    assert posted(app.hits, "/done", "RecordingDuration") == [{"RecordingDuration": "7"}]  # before trimming


@pytest.mark.parametrize(("say", "texts", "transcription", "warned"), [
    ("my internet has been down since monday", ["my internet has been down since monday"],
     "my internet has been down since monday", False),
    ("", [], None, True),
])
def test_transcription_posts_what_the_caller_said(line: Place, say: str, texts: list[str],
                                                  transcription: str | None, warned: bool) -> None:
    call, app = line({"/voice": twiml('<Record action="/done" transcribe="true" transcribeCallback="/tr" '
                                      'timeout="1"/>'), "/done": DONE, "/tr": ""})
    if say:
        call.say(say)
    else:
        call.silence()
    [recording] = call.recordings
    assert recording.transcription == transcription
    hits = posted(app.hits, "/tr")
    if warned:  # 1 s of silence: too short for Twilio's transcription
        assert hits == []
        assert Event("twilio", "warning: a 1 s recording is not transcribed (Twilio transcribes 2-120 s)") \
            in call.transcript
        return
    [hit] = hits
    assert hit.pop("TranscriptionSid").startswith("TR")
    assert hit == {"TranscriptionText": texts[0], "TranscriptionStatus": "completed",
                   "TranscriptionUrl": hit["TranscriptionUrl"], "RecordingSid": recording.sid,
                   "RecordingUrl": recording.url}


def test_speak_records_an_audio_file_measured(line: Place, tmp_path: Path) -> None:
    clip = tmp_path / "message.wav"
    with wave.open(str(clip), "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"\x00\x00" * 8000 * 3)
    call, app = line({"/voice": twiml('<Record action="/done" timeout="2"/>'), "/done": DONE})
    call.speak(clip)
    assert call.recordings == [Recording(call.recordings[0].url, call.recordings[0].sid, 5, "", "audio", str(clip))]
    assert call.transcript[1] == Event("caller", "speaks message.wav")


def test_speak_is_for_a_record_and_a_wav(line: Place, tmp_path: Path) -> None:
    call, _ = line({"/voice": twiml('<Gather action="/next"/>')})
    with pytest.raises(SimError, match=r"speak\(\) records audio at a <Record>; .* waits at a <gather>"):
        call.speak(tmp_path / "x.wav")
    call, _ = line({"/voice": twiml("<Record/>")})
    (tmp_path / "bad.wav").write_bytes(b"not a wav")
    with pytest.raises(SimError, match=r"not a WAV file the simulator can measure"):
        call.speak(tmp_path / "bad.wav")
    assert isinstance(call.waiting, Recorder)  # still waiting


def test_the_flask_voicemail_gets_its_transcript() -> None:
    app = create_app()
    call = Simulator(app, auth_token=TOKEN).call("/voicemail")
    call.say("this is jane please call me back about my bill")  # then 5 s of silence end the recording
    assert call.prompts[-1] == "Got 9 seconds, ended by silence."
    assert app.extensions["transcripts"] == ["this is jane please call me back about my bill"]
