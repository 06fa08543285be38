"""A hand-written Flask voice app for the tests, built without ivr: "Northwind Support", a line that uses every
TwiML verb a support line reaches for. `create_app()` returns it; its TwiML is written out by hand.

Routes (POST unless said; each answers TwiML):
  /voice                greets the caller by FromCity/FromState/FromCountry (400 without them, as an app that
                        reads Twilio's location parameters does); GET works too
  /hours                GET only: the opening hours
  /session/start        remembers the CallSid in a Flask session (a cookie); refuses (500) a session of another call
  /session/next         counts this call's visits in its session: "Visit N of call ..."
  /voicemail            <Record> with transcription and callbacks -> /voicemail/done, /voicemail/status,
                        /voicemail/transcript (the callbacks answer 204)
  /queue                <Enqueue> support with waitUrl /queue/wait (press * to leave) -> /queue/done
  /agent                <Dial record timeLimit> of <Number url=/agent/whisper> and <Client><Identity>,
                        <Parameter> -> /agent/done (the whisper: press 1 to accept, else <Hangup>)
  /conference           <Dial><Conference waitUrl=/conference/hold> -> /conference/done
  /dequeue              <Dial><Queue url=/dequeue/announce>support</Queue></Dial> -> /dequeue/done
  /sip                  <Dial> of <Sip>, <Application> and <WhatsApp>
  /pay                  <Pay chargeAmount> with <Prompt>s and a <Parameter> -> /pay/done
  /ai                   <Start><Stream>, <Start><Transcription>, <Stop><Stream>, then <Connect action=/ai/done>
                        <ConversationRelay> with <Language> and <Parameter>; /ai/stream answers 204
  /transfer             <Refer><Sip> -> /transfer/done
  /text                 <Sms> -> /text/done, then <Echo>
  /media                <Play> of /media/chime.wav (audio/wav) and of /media/missing.wav (404)
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, abort, current_app, request, session

XML = '<?xml version="1.0" encoding="UTF-8"?>'
CHIME = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x40\x1f\x00\x00\x01\x00\x08" \
        b"\x00data\x00\x00\x00\x00"


def twiml(*verbs: str) -> Response:
    return Response(XML + "<Response>" + "".join(verbs) + "</Response>", content_type="text/xml")


def field(name: str) -> str:
    return (request.form if request.method == "POST" else request.args).get(name, "")


def create_app() -> Flask:
    app = Flask("northwind")
    app.secret_key = "northwind-tests"
    add = app.add_url_rule

    def both(rule: str, view: Any) -> None:
        add(rule, view.__name__, view, methods=["GET", "POST"])

    def post(rule: str, view: Any) -> None:
        add(rule, view.__name__, view, methods=["POST"])

    both("/voice", voice)
    add("/hours", "hours", hours, methods=["GET"])
    for rule, view in [("/session/start", session_start), ("/session/next", session_next), ("/voicemail", voicemail),
                       ("/voicemail/done", voicemail_done), ("/voicemail/status", no_content),
                       ("/voicemail/transcript", transcript), ("/queue", queue), ("/queue/wait", queue_wait),
                       ("/queue/leave", queue_leave), ("/queue/done", queue_done), ("/agent", agent),
                       ("/agent/whisper", whisper), ("/agent/accepted", accepted), ("/agent/done", dial_done),
                       ("/conference", conference), ("/conference/hold", hold), ("/conference/done", dial_done),
                       ("/dequeue", dequeue), ("/dequeue/announce", announce), ("/dequeue/done", dial_done),
                       ("/sip", sip), ("/pay", pay), ("/pay/done", pay_done), ("/ai", ai), ("/ai/stream", no_content),
                       ("/ai/done", ai_done), ("/transfer", transfer), ("/transfer/done", transfer_done),
                       ("/text", text), ("/text/done", text_done), ("/media", media)]:
        post(rule, view)
    add("/media/chime.wav", "chime", lambda: Response(CHIME, content_type="audio/wav"), methods=["GET"])
    app.extensions["transcripts"] = []
    return app


def voice() -> Response:
    city, state, country = field("FromCity"), field("FromState"), field("FromCountry")
    if not country:
        abort(400)  # an app that reads Twilio's location parameters
    where = ", ".join(p.title() if len(p) > 2 else p for p in (city, state) if p) or "somewhere"
    return twiml(f"<Say>Welcome to Northwind, caller from {where} in {country}.</Say>",
                 '<Gather numDigits="1" action="/hours" method="GET"><Say>Press any key for our hours.</Say>'
                 "</Gather>")


def hours() -> Response:
    return twiml("<Say>We are open from nine to five.</Say><Hangup/>")


def session_start() -> Response:
    sid = field("CallSid")
    if session.get("call", sid) != sid:  # a cookie of another call: the app was written for one jar per call
        abort(500)
    session["call"], session["visits"] = sid, 0
    return twiml("<Redirect>/session/next</Redirect>")


def session_next() -> Response:
    session["visits"] = session.get("visits", 0) + 1
    said = f"<Say>Visit {session['visits']} of call {session.get('call', 'unknown')}.</Say>"
    return twiml(said, "<Redirect>/session/next</Redirect>" if session["visits"] < 3 else "<Hangup/>")


def voicemail() -> Response:
    return twiml("<Say>Please leave a message after the beep. Press pound when you are done.</Say>",
                 '<Record action="/voicemail/done" finishOnKey="#" maxLength="60" transcribe="true" '
                 'transcribeCallback="/voicemail/transcript" recordingStatusCallback="/voicemail/status" '
                 'recordingStatusCallbackEvent="in-progress completed"/>',
                 "<Say>We did not get a message.</Say>")


def voicemail_done() -> Response:
    ended = field("Digits") or "silence"
    return twiml(f"<Say>Got {field('RecordingDuration')} seconds, ended by {ended}.</Say><Hangup/>")


def transcript() -> Response:
    current_app.extensions["transcripts"].append(field("TranscriptionText"))
    return Response(status=204)


def no_content() -> Response:
    return Response(status=204)


def queue() -> Response:
    return twiml("<Say>All our agents are busy.</Say>",
                 '<Enqueue waitUrl="/queue/wait" action="/queue/done">support</Enqueue>')


def queue_wait() -> Response:
    return twiml(f"<Say>You are number {field('QueuePosition')} in line, after {field('QueueTime')} seconds.</Say>",
                 '<Gather numDigits="1" timeout="1" action="/queue/leave"><Say>Press star to leave a message.</Say>'
                 "</Gather>")


def queue_leave() -> Response:
    return twiml("<Leave/>" if field("Digits") == "*" else "<Say>Still holding.</Say>")


def queue_done() -> Response:
    result = field("QueueResult")
    if result == "leave":
        return twiml("<Redirect>/voicemail</Redirect>")
    return twiml(f"<Say>Queue result {result} after {field('QueueTime')} seconds.</Say><Hangup/>")


def agent() -> Response:
    return twiml('<Dial action="/agent/done" timeLimit="600" timeout="20" record="record-from-answer" '
                 'recordingStatusCallback="/voicemail/status">'
                 '<Number url="/agent/whisper" statusCallback="/voicemail/status" '
                 'statusCallbackEvent="initiated ringing answered completed">+15035550100</Number>'
                 '<Client><Identity>desk-7</Identity><Parameter name="ticket" value="42"/></Client></Dial>')


def whisper() -> Response:
    return twiml(f"<Say>Call from {field('From')} for {field('To')}.</Say>",
                 '<Gather numDigits="1" action="/agent/accepted" timeout="3"><Say>Press 1 to accept.</Say></Gather>',
                 "<Hangup/>")


def accepted() -> Response:
    return twiml("<Say>Connecting.</Say>" if field("Digits") == "1" else "<Hangup/>")


def dial_done() -> Response:
    parts = [field(name) for name in ("DialCallStatus", "DialCallDuration", "DialBridged") if field(name)]
    recorded = " with a recording" if field("RecordingUrl") else ""
    return twiml(f"<Say>Dial {' '.join(parts)}{recorded}.</Say><Hangup/>")


def conference() -> Response:
    return twiml('<Dial action="/conference/done"><Conference waitUrl="/conference/hold" beep="false" '
                 'startConferenceOnEnter="false" endConferenceOnExit="true">standup</Conference></Dial>')


def hold() -> Response:
    return twiml("<Say>Waiting for the moderator.</Say>", '<Pause length="5"/>')


def dequeue() -> Response:
    return twiml('<Dial action="/dequeue/done"><Queue url="/dequeue/announce">support</Queue></Dial>')


def announce() -> Response:
    return twiml(f"<Say>An agent takes your call after {field('QueueTime')} seconds.</Say>")


def sip() -> Response:
    return twiml('<Dial timeout="10"><Sip>sip:desk@pbx.example.com</Sip>'
                 '<Application><ApplicationSid>AP0123456789abcdef0123456789abcdef</ApplicationSid>'
                 '<Parameter name="from" value="ivr"/></Application><WhatsApp>+15035550111</WhatsApp></Dial>',
                 "<Say>Nobody answered.</Say>")


def pay() -> Response:
    return twiml('<Pay chargeAmount="19.99" action="/pay/done" paymentConnector="Default">'
                 '<Prompt for="payment-card-number"><Say>Enter your card number.</Say></Prompt>'
                 '<Prompt for="payment-card-number" errorType="invalid-card-number"><Say>Invalid.</Say></Prompt>'
                 '<Parameter name="order" value="1001"/></Pay>')


def pay_done() -> Response:
    if field("Result") == "success":
        return twiml(f"<Say>Paid. Confirmation {field('PaymentConfirmationCode')}.</Say><Hangup/>")
    return twiml(f"<Say>Payment failed: {field('Result')}.</Say><Hangup/>")


def ai() -> Response:
    return twiml('<Start><Stream name="audit" url="wss://audit.example.com/s" statusCallback="/ai/stream"/>'
                 '<Transcription statusCallbackUrl="/ai/stream"/></Start>', '<Stop><Stream name="audit"/></Stop>',
                 '<Connect action="/ai/done"><ConversationRelay url="wss://ai.example.com/relay" '
                 'welcomeGreeting="Hi!"><Language code="en-US" ttsProvider="Google"/>'
                 '<Parameter name="tier" value="gold"/></ConversationRelay></Connect>')


def ai_done() -> Response:
    return twiml(f"<Say>Assistant session {field('SessionStatus')}.</Say><Hangup/>")


def transfer() -> Response:
    return twiml('<Refer action="/transfer/done"><Sip>sip:retention@pbx.example.com</Sip></Refer>')


def transfer_done() -> Response:
    return twiml(f"<Say>Transfer {field('ReferCallStatus')} with SIP {field('ReferSipResponseCode')}.</Say>"
                 "<Hangup/>")


def text() -> Response:
    return twiml('<Sms action="/text/done">Your ticket is 42.</Sms>')


def text_done() -> Response:
    return twiml(f"<Say>Text {field('SmsStatus')}.</Say>", "<Echo/>")


def media() -> Response:
    return twiml('<Play loop="2">/media/chime.wav</Play>', "<Play>/media/missing.wav</Play>",
                 "<Say>That was the chime.</Say>")
