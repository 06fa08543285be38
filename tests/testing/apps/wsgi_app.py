"""A hand-written voice app as a bare WSGI callable (no framework, built without ivr): "Example Telecom", a phone
tree with a cancel branch, and the odd answers Twilio rejects. `app(environ, start_response)` is the app.

Routes (GET or POST; each answers TwiML unless said):
  /                     the menu: press 1 for billing, 2 for support, 9 or say "cancel" to cancel
                        (<Gather input="dtmf speech" numDigits="1" hints=...>; silence says the menu again)
  /menu                 the menu's action: 1 -> the balance, then the menu; 2 -> <Dial> support; 9 or "cancel"
                        -> "Your cancellation number is 4242." and <Hangup/>; anything else -> the menu again
  /cookie               counts visits in a cookie of its own (Set-Cookie: visits=N), three times, then hangs up
  /extras               <Say> with SSML, <Pause>, <Play digits> and <Play loop> of /tone.wav, <Redirect method=GET>
  /extras/next          GET: says where it was reached from, then <Reject reason="busy"/>
  /reject               <Reject/> (no answer)
  /tone.wav             audio/wav: a tone for <Play>
  /big                  a document of 70 kB (Twilio refuses it: 11750)
  /nested               <Gather> inside <Gather> (Twilio refuses it: 12200)
  /message              <Message> in a voice document (messaging TwiML: 12200)
  anything else         404
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

MENU = ('<Gather input="dtmf speech" numDigits="1" action="/menu" timeout="5" hints="billing, support, cancel">'
        "<Say>Welcome to Example Telecom. For billing, press 1. For support, press 2. "
        "To cancel your service, press 9 or say cancel.</Say></Gather><Redirect>/</Redirect>")
TONE = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x40\x1f\x00\x00\x01\x00\x08" \
       b"\x00data\x00\x00\x00\x00"
StartResponse = Callable[..., Any]


def document(*verbs: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?><Response>' + "".join(verbs) + "</Response>").encode()


def form(environ: dict[str, Any]) -> dict[str, str]:
    """The request's parameters: the query of a GET, the form of a POST."""
    if environ["REQUEST_METHOD"] == "POST":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(size).decode()
    else:
        raw = environ.get("QUERY_STRING", "")
    return {key: values[-1] for key, values in parse_qs(raw, keep_blank_values=True).items()}


def menu(fields: dict[str, str]) -> bytes:
    digits, said = fields.get("Digits", ""), fields.get("SpeechResult", "").lower()
    if digits == "9" or "cancel" in said:
        return document("<Say>Your cancellation number is 4242.</Say>", "<Hangup/>")
    if digits == "1" or "billing" in said:
        return document("<Say>Your balance is forty two dollars.</Say>", "<Redirect>/</Redirect>")
    if digits == "2" or "support" in said:
        return document("<Say>Connecting you to support.</Say>", "<Dial>+18005550123</Dial>")
    return document("<Say>Sorry, I did not understand.</Say>", "<Redirect>/</Redirect>")


def cookie(environ: dict[str, Any]) -> tuple[bytes, list[tuple[str, str]]]:
    jar: SimpleCookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
    visits = int(jar["visits"].value) + 1 if "visits" in jar else 1
    verbs = [f"<Say>Visit {visits}.</Say>", "<Redirect>/cookie</Redirect>" if visits < 3 else "<Hangup/>"]
    return document(*verbs), [("Set-Cookie", f"visits={visits}; Path=/")]


PAGES: dict[str, Callable[[dict[str, str]], bytes]] = {
    "/": lambda fields: document(MENU),
    "/menu": menu,
    "/extras": lambda fields: document(
        "<Say><s>Extras.</s><prosody rate='slow'>Slowly</prosody></Say>", '<Pause length="2"/>',
        '<Play digits="ww1"></Play>', '<Play loop="3">/tone.wav</Play>',
        '<Redirect method="GET">/extras/next?from=extras</Redirect>'),
    "/extras/next": lambda fields: document(f"<Say>Reached from {fields.get('from', 'nowhere')}.</Say>",
                                            '<Reject reason="busy"/>'),
    "/reject": lambda fields: document("<Reject/>"),
    "/big": lambda fields: document("<Say>" + "filler " * 10000 + "</Say>"),
    "/nested": lambda fields: document("<Gather><Gather/></Gather>"),
    "/message": lambda fields: document("<Message>Your code is 1234</Message>"),
}


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path = environ.get("PATH_INFO") or "/"
    fields = form(environ)
    if path == "/tone.wav":
        start_response("200 OK", [("Content-Type", "audio/wav"), ("Content-Length", str(len(TONE)))])
        return [TONE]
    if path == "/cookie":
        body, headers = cookie(environ)
    elif path in PAGES:
        body, headers = PAGES[path](fields), []
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body))),
                              *headers])
    return [body]
