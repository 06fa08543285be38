"""How the web app is configured: one frozen `Settings` value, built in code or from environment variables.

`gunicorn "ivr.line.app:create_app()"` has no command line of its own, so production configuration comes from the
environment (`Settings.from_env`); `ivr serve` builds the same value from its options. Every setting is listed in
`ENVIRONMENT` with the variable that sets it; the README's settings reference is that table.

Signature validation is on unless it is turned off explicitly (`IVR_VERIFY_SIGNATURES=0` or
`ivr serve --insecure-no-signatures`): a missing auth token is a configuration error, never a silent "allow all".
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ivr.errors import UsageError

DEFAULT_DATABASE = "sqlite:///ivr-calls.db"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
#: the proxy headers `trusted_proxy_headers` may name (werkzeug's ProxyFix handles each)
PROXY_HEADERS = ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port",
                 "x-forwarded-prefix")

#: setting -> (environment variable, what it does); the README's settings reference
ENVIRONMENT: dict[str, tuple[str, str]] = {
    "flows": ("IVR_FLOWS", "flow files or directories to serve, separated by ':' (required for gunicorn)"),
    "auth_token": ("TWILIO_AUTH_TOKEN", "your Twilio account's auth token; every webhook's X-Twilio-Signature "
                                        "is checked with it"),
    "database_url": ("IVR_DATABASE_URL", f"SQLAlchemy URL of the call store (default {DEFAULT_DATABASE}, "
                                         "SQLite in WAL mode; e.g. postgresql://host/db; sqlite:// keeps it in "
                                         "memory, for tests in one process)"),
    "public_url": ("IVR_PUBLIC_URL", "the base URL Twilio calls (e.g. https://abc.ngrok.app); signatures are "
                                     "checked against it instead of the URL the app sees"),
    "trusted_proxy_headers": ("IVR_TRUSTED_PROXY_HEADERS", "comma-separated X-Forwarded-* headers set by ONE "
                                                           "trusted proxy in front of the app, e.g. "
                                                           "x-forwarded-proto,x-forwarded-host"),
    "verify_signatures": ("IVR_VERIFY_SIGNATURES", "1 (default) or 0; 0 lets unsigned requests in: local "
                                                   "development only, logged loudly"),
    "fallback_number": ("IVR_FALLBACK_NUMBER", "where callers go when the app cannot carry on (store down, "
                                               "a bug); default: the flow's agent transfer"),
    "audio_dir": ("IVR_AUDIO_DIR", "directory of the flows' `play` files (default: audio/ beside the flows)"),
    "account_sid": ("TWILIO_ACCOUNT_SID", "your Twilio account's SID (AC + 32 hex digits); when set, a webhook "
                                          "from any other account is refused (403)"),
    "spool_dir": ("IVR_SPOOL_DIR", "where the apologies said while the store is down wait for it, one file per "
                                   "worker (default: beside a SQLite store, else ./ivr-spool); keep it on a "
                                   "volume that outlives the app"),
    "serve_failing": ("IVR_SERVE_FAILING_FLOWS", "0 (default) or 1; 1 serves a flow that `ivr check` rejects "
                                                 "with an error: development only, logged loudly"),
}
#: Twilio's account SIDs: AC and 32 lowercase hexadecimal digits (call SIDs are the same with CA)
ACCOUNT_SID = re.compile(r"AC[0-9a-f]{32}")


@dataclass(frozen=True)
class Settings:
    """Everything `create_app` needs besides the flows. Defaults suit development behind nothing."""

    auth_token: str = ""
    database_url: str = DEFAULT_DATABASE
    public_url: str = ""
    trusted_proxy_headers: tuple[str, ...] = ()
    verify_signatures: bool = True
    fallback_number: str = ""
    audio_dir: str = ""
    flows: tuple[str, ...] = field(default=())
    account_sid: str = ""
    spool_dir: str = ""
    serve_failing: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "public_url", self.public_url.rstrip("/"))  # it is joined with paths
        unknown = [h for h in self.trusted_proxy_headers if h not in PROXY_HEADERS]
        if unknown:
            raise UsageError(f"trusted_proxy_headers: {unknown[0]!r} is not a proxy header ivr understands; "
                             f"valid choices: {list(PROXY_HEADERS)}")
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            raise UsageError(f"public_url: {self.public_url!r} must start with https:// (or http://)")
        if self.account_sid and not ACCOUNT_SID.fullmatch(self.account_sid):
            raise UsageError(f"account_sid: {self.account_sid!r} is not a Twilio account SID (AC followed by 32 "
                             "lowercase hexadecimal digits, as the console shows it)")
        if self.verify_signatures and not self.auth_token:
            raise UsageError("TWILIO_AUTH_TOKEN is not set, so Twilio's signatures cannot be checked. Set it to "
                             "your account's auth token, or turn validation off for local development only "
                             "(IVR_VERIFY_SIGNATURES=0, or `ivr serve --insecure-no-signatures`)")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from environment variables (see `ENVIRONMENT`); unset ones keep their defaults."""
        env = os.environ if env is None else env

        def get(name: str) -> str:
            return env.get(ENVIRONMENT[name][0], "").strip()

        def flag(name: str, default: str) -> bool:
            value = get(name).lower() or default
            if value not in _TRUE + _FALSE:
                raise UsageError(f"{ENVIRONMENT[name][0]}: {value!r} is not a yes/no value; valid choices: "
                                 f"{list(_TRUE + _FALSE)}")
            return value in _TRUE

        return cls(
            auth_token=get("auth_token"),
            database_url=get("database_url") or DEFAULT_DATABASE,
            public_url=get("public_url").rstrip("/"),
            trusted_proxy_headers=tuple(h.strip().lower() for h in get("trusted_proxy_headers").split(",")
                                        if h.strip()),
            verify_signatures=flag("verify_signatures", "1"),
            fallback_number=get("fallback_number"),
            audio_dir=get("audio_dir"),
            flows=tuple(p for p in get("flows").split(os.pathsep) if p),
            account_sid=get("account_sid"),
            spool_dir=get("spool_dir"),
            serve_failing=flag("serve_failing", "0"),
        )
