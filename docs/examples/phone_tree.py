"""A hand-written Twilio voice app, as many teams already run one: Flask and twilio's TwiML builder, no ivr.

The QA guide (docs/guides/any-twilio-app.md) tests it with ivr's simulator, call scripts and crawler, without
reading this file: they see only what Twilio would see. It has a retention offer on the way to cancelling, and a
support queue, like the lines ivr was made for.

    flask --app docs/examples/phone_tree.py run     # then point Twilio's number at http://HOST/incoming
"""

from __future__ import annotations

from flask import Flask, request
from twilio.twiml.voice_response import VoiceResponse

app = Flask(__name__)
CANCEL_WORDS = ("cancel", "disconnect", "close my account")


def twiml(response: VoiceResponse) -> tuple[str, int, dict[str, str]]:
    return str(response), 200, {"Content-Type": "text/xml"}


def wants_to_cancel() -> bool:
    speech = request.values.get("SpeechResult", "").lower()
    return any(word in speech for word in CANCEL_WORDS)


@app.route("/incoming", methods=["GET", "POST"])
def incoming() -> tuple[str, int, dict[str, str]]:
    response = VoiceResponse()
    gather = response.gather(input="dtmf speech", num_digits=1, action="/menu", hints="billing, support, cancel",
                             timeout=5)
    gather.say("Thanks for calling Example Telecom. For billing, press 1. For support, press 2. "
               "To cancel your service, press 9 or say cancel.")
    response.redirect("/incoming")  # no answer: the menu again
    return twiml(response)


@app.post("/menu")
def menu() -> tuple[str, int, dict[str, str]]:
    response = VoiceResponse()
    digits = request.values.get("Digits", "")
    if digits == "9" or wants_to_cancel():
        gather = response.gather(input="dtmf speech", num_digits=1, action="/retention", hints="discount, cancel")
        gather.say("We would hate to see you go. Press 1 for half price for three months, or press 2 to cancel "
                   "anyway.")
        response.redirect("/retention")
    elif digits == "1":
        response.say("Your balance is 42 dollars, due on the first.")
        response.redirect("/incoming")
    elif digits == "2":
        response.say("Please hold for the next support agent.")
        response.enqueue("support", wait_url="/hold")
    else:
        response.say("Sorry, I did not get that.")
        response.redirect("/incoming")
    return twiml(response)


@app.post("/retention")
def retention() -> tuple[str, int, dict[str, str]]:
    response = VoiceResponse()
    digits = request.values.get("Digits", "")
    if digits == "1":
        response.say("Done: half price for three months. Goodbye.")
    elif digits == "2" or wants_to_cancel():
        response.say("Your service is cancelled. Your cancellation number is 4 2 4 2. Goodbye.")
    else:
        response.say("Sorry, I did not get that.")
        response.redirect("/menu?Digits=9")
        return twiml(response)
    response.hangup()
    return twiml(response)


@app.post("/hold")
def hold() -> tuple[str, int, dict[str, str]]:
    response = VoiceResponse()
    response.say("All our agents are busy. Please stay on the line.")
    response.pause(length=10)
    return twiml(response)
