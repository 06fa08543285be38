"""Small voice apps written for the crawler's tests: plain WSGI callables (no framework), each a line the crawler
must handle: a hand-written phone tree, a retention loop, a counter the prompts do not show, a number prompt, a
recording, a menu that reads back any digits, and bad input (slow, hanging, redirect loops, HTML). The tests at
the end check that each app answers as its docstring says, through the simulator."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import pytest

from ivr.testing.sim import Simulator

TOKEN = "crawl-test-token"
Handler = Callable[[dict[str, str]], tuple[str, str, str]]  # form -> (status, content type, body)
XML = "text/xml"


def twiml(body: str) -> tuple[str, str, str]:
    return "200 OK", XML, f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


def wsgi(routes: dict[str, Handler]) -> Callable[..., Any]:
    """A WSGI app answering each path with its handler, given the request's form and query fields."""
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(size).decode() if size else ""
        form = {k: v[0] for k, v in parse_qs(body).items()}
        form.update({k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()})
        handler = routes.get(environ["PATH_INFO"])
        status, kind, text = handler(form) if handler else ("404 Not Found", "text/plain", "not found")
        headers = [("Content-Type", kind)]
        if status.startswith("302"):
            headers.append(("Location", text))
        start_response(status, headers)
        return [text.encode()]
    return app


def said(form: dict[str, str]) -> str:
    return (form.get("SpeechResult", "") + " " + form.get("Digits", "")).lower()


# -- lines ----------------------------------------------------------------------------------------------------

MENU = ('<Gather input="dtmf speech" numDigits="1" action="/menu" hints="billing, my bill, cancel my account, '
        '$OOV_CLASS_DIGIT_SEQUENCE"><Say>For billing, press 1. To cancel your account, press 9.</Say></Gather>'
        '<Say>We did not hear you. Goodbye.</Say>')


def phone_tree() -> Callable[..., Any]:
    """A hand-written line: billing (1 or "billing") and back, cancelling (9 or any words with "cancel") after a
    confirmation (1 to confirm); cancelled calls hear "has been cancelled"."""
    def menu(form: dict[str, str]) -> tuple[str, str, str]:
        heard = said(form)
        if "cancel" in heard or heard.strip() == "9":
            return twiml('<Gather numDigits="1" action="/confirm"><Say>Press 1 to cancel, or 2 to keep '
                         'your account.</Say></Gather><Redirect>/voice</Redirect>')
        if "bill" in heard or heard.strip() == "1":
            return twiml("<Say>You owe nothing.</Say><Redirect>/voice</Redirect>")
        return twiml("<Say>Sorry.</Say><Redirect>/voice</Redirect>")

    def confirm(form: dict[str, str]) -> tuple[str, str, str]:
        if form.get("Digits") == "1":
            return twiml("<Say>Your account has been cancelled. Goodbye.</Say><Hangup/>")
        return twiml("<Say>Glad you are staying.</Say><Hangup/>")

    return wsgi({"/voice": lambda f: twiml(MENU), "/menu": menu, "/confirm": confirm})


def retention_loop() -> Callable[..., Any]:
    """The 2014 call, hand-written: "cancel" is answered with "why?", then "let me help", then "why?" again."""
    why = twiml('<Gather input="speech" action="/help"><Say>Why do you want to leave us?</Say></Gather>'
                '<Redirect>/why</Redirect>')
    help_ = twiml('<Gather input="speech" action="/why"><Say>I am just trying to help you.</Say></Gather>'
                  '<Redirect>/help-again</Redirect>')
    return wsgi({"/voice": lambda f: twiml('<Gather input="speech" action="/why"><Say>Say cancel to leave.</Say>'
                                           "</Gather>"),
                 "/why": lambda f: why, "/help": lambda f: help_, "/help-again": lambda f: help_})


def hidden_counter() -> Callable[..., Any]:
    """A menu whose first "cancel" is answered "are you sure?", which leads back to the same menu; the second
    "cancel" there cancels. The count is in a query value the crawler takes for a per-call one (`?n=1`), so the
    crawler sees "cancel" lead from the menu to "are you sure?" and back: a loop no real call goes round."""
    def menu(form: dict[str, str]) -> tuple[str, str, str]:
        n = int(form.get("n", "0"))
        if "cancel" in said(form):
            if n >= 1:
                return twiml("<Say>Cancelled.</Say><Hangup/>")
            return twiml('<Gather input="speech" action="/sure"><Say>Are you sure?</Say></Gather>')
        return twiml(f'<Gather input="speech" action="/menu?n={n}"><Say>Say cancel.</Say></Gather>')

    def sure(form: dict[str, str]) -> tuple[str, str, str]:
        return twiml('<Gather input="speech" action="/menu?n=1"><Say>Say cancel.</Say></Gather>')
    return wsgi({"/voice": menu, "/menu": menu, "/sure": sure})


def account_line() -> Callable[..., Any]:
    """Asks for a five-digit account number (keypad), then offers "press 9 to cancel"; a wrong length is
    asked again."""
    ask = twiml('<Gather numDigits="5" action="/account"><Say>Please enter your 5 digit account number.</Say>'
                "</Gather>")

    def account(form: dict[str, str]) -> tuple[str, str, str]:
        if len(form.get("Digits", "")) != 5:
            return twiml("<Say>That is not an account number.</Say><Redirect>/voice</Redirect>")
        return twiml('<Gather numDigits="1" action="/done"><Say>Press 9 to cancel.</Say></Gather>')

    def done(form: dict[str, str]) -> tuple[str, str, str]:
        return twiml("<Say>Cancelled.</Say><Hangup/>" if form.get("Digits") == "9" else "<Say>Bye.</Say>")

    return wsgi({"/voice": lambda f: ask, "/account": account, "/done": done})


def voicemail() -> Callable[..., Any]:
    """Records a message (finish with *), then asks whether to cancel the account (1)."""
    def recorded(form: dict[str, str]) -> tuple[str, str, str]:
        return twiml('<Gather numDigits="1" action="/end"><Say>Thanks. Press 1 to cancel your account.</Say>'
                     "</Gather>")

    def end(form: dict[str, str]) -> tuple[str, str, str]:
        return twiml("<Say>Cancelled.</Say><Hangup/>" if form.get("Digits") == "1" else "<Say>Bye.</Say>")

    return wsgi({"/voice": lambda f: twiml('<Say>Leave a message.</Say><Record action="/recorded" '
                                           'finishOnKey="*" maxLength="30"/>'),
                 "/recorded": recorded, "/end": end})


def any_digits() -> Callable[..., Any]:
    """Reads back whatever number is entered and asks for another: a new prompt for every number."""
    def echo(form: dict[str, str]) -> tuple[str, str, str]:
        digits = form.get("Digits", "")
        return twiml(f'<Gather action="/echo"><Say>You entered {digits or "nothing"}. Enter any number, then '
                     "press pound.</Say></Gather>")
    return wsgi({"/voice": lambda f: twiml('<Gather action="/echo"><Say>Enter any number, then press pound.</Say>'
                                           "</Gather>"), "/echo": echo})


def slow(seconds: float, path: str = "/voice") -> Callable[..., Any]:
    """The phone tree, but `path` answers after `seconds`."""
    tree = phone_tree()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ["PATH_INFO"] == path:
            time.sleep(seconds)
        return tree(environ, start_response)
    return app


BAD: dict[str, Callable[..., Any]] = {
    "redirect-loop": wsgi({"/voice": lambda f: twiml("<Say>Hello.</Say><Redirect>/voice</Redirect>")}),
    "http-redirect-loop": wsgi({"/voice": lambda f: ("302 Found", "text/plain", "/voice")}),
    "html": wsgi({"/voice": lambda f: ("200 OK", "text/html", "<html><body>Welcome</body></html>")}),
    "plain-text": wsgi({"/voice": lambda f: ("200 OK", "text/plain", "Welcome")}),
    "server-error": wsgi({"/voice": lambda f: ("500 Internal Server Error", "text/plain", "boom")}),
}


# -- the apps answer as they say --------------------------------------------------------------------------------

@pytest.mark.parametrize(("app", "steps", "last"), [
    (phone_tree, ["9", "1"], "Your account has been cancelled. Goodbye."),
    (phone_tree, ["billing"], "For billing, press 1. To cancel your account, press 9."),
    (account_line, ["12345", "9"], "Cancelled."),
    (hidden_counter, ["cancel", "cancel", "cancel"], "Cancelled."),
    (voicemail, ["*", "1"], "Cancelled."),
    (any_digits, ["42#"], "You entered 42. Enter any number, then press pound."),
])
def test_apps_answer(app: Callable[[], Callable[..., Any]], steps: list[str], last: str) -> None:
    call = Simulator(app(), auth_token=TOKEN).call("/voice")
    for step in steps:
        if not step:
            call.silence()
        elif step[0].isdigit() or step[0] in "*#":
            call.press(step)
        else:
            call.say(step)
    assert call.prompts[-1] == last
