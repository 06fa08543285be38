"""A scripted webhook for the simulator's tests: fixed TwiML (or any answer) per path, and every request it
received, as the app saw it (its signature checked with twilio's own validator); and what Twilio posts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator

from ivr.testing.sim import Call, Simulator
from tests.conftest import TOKEN

ACCOUNT = "AC" + "0" * 32
CALLER, CALLED = "+15551230000", "+18005550199"


@dataclass(frozen=True)
class Page:
    """What a scripted path answers."""

    body: str
    status: int = 200
    content_type: str = "text/xml"
    delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Hit:
    """One request the scripted app received, as it saw it."""

    method: str
    path: str
    url: str
    fields: dict[str, str]  # the form of a POST, the query of a GET
    signature: str

    @property
    def signed(self) -> bool:
        """The signature validates, with twilio's own validator, over the exact URL the app saw."""
        form = self.fields if self.method == "POST" else {}
        return bool(RequestValidator(TOKEN).validate(self.url, form, self.signature))


class Scripted:
    """A tiny webhook app answering each path with a fixed page (404 for any other) and recording each request."""

    def __init__(self, pages: Mapping[str, str | Page]) -> None:
        self.pages = {path: page if isinstance(page, Page) else Page(page) for path, page in pages.items()}
        self.hits: list[Hit] = []
        self.app = Flask("scripted")
        self.app.add_url_rule("/", "page", self.answer, methods=["GET", "POST"], defaults={"path": ""})
        self.app.add_url_rule("/<path:path>", "page", self.answer, methods=["GET", "POST"])

    def answer(self, path: str) -> Response:
        fields = request.form if request.method == "POST" else request.args
        self.hits.append(Hit(request.method, request.path, request.url, dict(fields),
                             request.headers.get("X-Twilio-Signature", "")))
        page = self.pages.get(request.path)
        if page is None:
            abort(404)
        time.sleep(page.delay)
        return Response(page.body, status=page.status, content_type=page.content_type, headers=list(page.headers))

    def to(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == path]


def twiml(*verbs: str) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?><Response>' + "".join(verbs) + "</Response>"


#: where Twilio's lookup puts the numbers: the caller in San Francisco, the toll-free number called nowhere
PLACES = {"FromCity": "SAN FRANCISCO", "FromState": "CA", "FromZip": "94103", "FromCountry": "US",
          "CallerCity": "SAN FRANCISCO", "CallerState": "CA", "CallerZip": "94103", "CallerCountry": "US",
          "ToCity": "", "ToState": "", "ToZip": "", "ToCountry": "US",
          "CalledCity": "", "CalledState": "", "CalledZip": "", "CalledCountry": "US"}


def twilio_fields(call: Call, status: str = "in-progress", **more: str) -> dict[str, str]:
    """Exactly what Twilio posts to a voice webhook of this call, plus `more`."""
    return {"CallSid": call.sid, "AccountSid": ACCOUNT, "From": CALLER, "To": CALLED, "Caller": CALLER,
            "Called": CALLED, "CallStatus": status, "Direction": "inbound", "ApiVersion": "2010-04-01",
            "CallToken": call.params["CallToken"], **PLACES, **more}



def posted(hits: list[Hit], path: str, *names: str) -> list[dict[str, str]]:
    """The named fields of each request to `path` (all of Twilio's standard ones left out when `names` is empty)."""
    out = []
    for hit in hits:
        if hit.path == path:
            out.append({k: v for k, v in hit.fields.items() if (k in names if names else k not in STANDARD)})
    return out


STANDARD = frozenset({"CallSid", "AccountSid", "From", "To", "Caller", "Called", "CallStatus", "Direction",
                      "ApiVersion", "CallToken", *PLACES})


#: `place(pages, path="/voice", sim={simulator options}, **call options)` -> (the call placed, the app)
Place = Callable[..., tuple[Call, Scripted]]


@contextmanager
def placing() -> Iterator[Place]:
    """Place calls through the simulator to scripted apps; the simulators closed at the end."""
    sims: list[Simulator] = []

    def place(pages: Mapping[str, str | Page], path: str = "/voice", *, sim: Mapping[str, Any] | None = None,
              **call: Any) -> tuple[Call, Scripted]:
        app = Scripted(pages)
        simulator = Simulator(app.app, auth_token=TOKEN, **(sim or {}))
        sims.append(simulator)
        return simulator.call(path, caller=CALLER, called=CALLED, **call), app

    try:
        yield place
    finally:
        for simulator in sims:
            simulator.close()
