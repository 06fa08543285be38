"""What the command modules share: output format choices, the auth token for live lines, and `needs`, which
turns an extra that is not installed into one line naming the pip command (exit 2) instead of an ImportError.
"""

from __future__ import annotations

import importlib.util
import os

import click

from ivr.errors import MissingExtra, UsageError

FORMATS = click.Choice(["text", "json"])

#: extra -> the top-level modules it installs that ivr's commands import
EXTRAS = {
    "line": ("flask", "sqlalchemy", "twilio"),
    "testing": ("flask", "sqlalchemy", "twilio", "httpx"),
    "speech": ("numpy", "pydub", "faster_whisper", "vosk"),
}


def needs(extra: str, what: str, modules: tuple[str, ...] = ()) -> None:
    """Raise `MissingExtra` unless the `modules` a command uses (default: every module of `extra`) can be imported
    (found, not imported: a command imports its libraries when it runs)."""
    for module in modules or EXTRAS[extra]:
        if importlib.util.find_spec(module) is None:
            raise MissingExtra(extra, what, module)


def live_token() -> str:
    """The auth token to sign requests to a live line with, as Twilio does: TWILIO_AUTH_TOKEN."""
    token = os.environ.get("TWILIO_AUTH_TOKEN", "")
    if not token:
        raise UsageError("--url needs the line's auth token in TWILIO_AUTH_TOKEN, to sign requests as Twilio does")
    return token
