"""The Flask application factory: Twilio's webhooks for each served flow, signature checks, audio and health.

    create_app(["flows/acme.yaml"], Settings(auth_token=...))     # in code and tests
    gunicorn "ivr.line.app:create_app()"                                # production: configured from IVR_* variables

Routes (`<flow>` is a flow's `name`):

    POST /voice/<flow>            a call comes in (POST /voice too, when one flow is served)
    POST /voice/<flow>/gather     the caller answered a <Gather> (?seq= numbers the request, for retries)
    POST /voice/<flow>/dial       a <Dial> transfer finished
    POST /voice/<flow>/status     Twilio's status callback
    GET  /audio/<flow>/<file>     the flow's `play` files, from its audio directory only
    GET  /healthz                 the flows served and whether the store answers

Only Twilio gets in: every POST must carry a valid `X-Twilio-Signature` for the URL Twilio called, rebuilt from
`public_url` or trusted proxy headers (a tunnel or load balancer changes the URL the app sees). A webhook never
answers with an error page — Twilio would tell the caller "an application error has occurred" — but with an
apology and a transfer to an agent, logged with the CallSid.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request, send_from_directory
from twilio.request_validator import SIGNATURE_HEADER, RequestValidator
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr.errors import IvrError, StoreError, UsageError
from ivr.files import flow_files
from ivr.flow import model as f
from ivr.flow.loader import audio_dir, audio_files, load_flow
from ivr.flow.model import Flow
from ivr.line.records import Apology, CommitUnknown, Turn, now
from ivr.line.schema import SchemaMismatch
from ivr.line.settings import ACCOUNT_SID, Settings
from ivr.line.spool import Spool
from ivr.line.store import Store
from ivr.line.webhook import SORRY_BROKEN, EffectHandler, Line

#: the WSGI application `create_app` returns (Flask), named here so other layers need not import Flask
App = Flask

log = logging.getLogger("ivr.line.app")
bp = Blueprint("ivr", __name__)
XML = "application/xml"
#: the exit code gunicorn gives a worker that cannot boot: its master stops, rather than start the worker again
BOOT_FAILED = 3
#: Twilio's webhook forms are a few kilobytes; anything much larger is not Twilio
MAX_REQUEST = 64 * 1024
#: Twilio's call SIDs: CA and 32 lowercase hexadecimal digits (a signed request replayed with its CallSid
#: stretched over the next parameter, which the signature cannot tell apart, fails this)
CALL_SID = re.compile(r"CA[0-9a-f]{32}")
#: what `play` files may be: Twilio plays these, and the audio route serves nothing else
AUDIO_SUFFIXES = (".wav", ".mp3", ".ogg", ".aif", ".aiff", ".gsm", ".ulaw", ".au", ".flac")


@dataclass(frozen=True)
class Served:
    """A flow the app serves, where its `play` files are, and where it came from (for messages)."""

    flow: Flow
    audio: Path | None
    file: Path | None = None
    lines: Mapping[str, int] = field(default_factory=dict)

    @cached_property
    def plays(self) -> frozenset[str]:
        """The audio files the flow's prompts play: all the audio route serves."""
        return frozenset(part.play for node in self.flow.nodes.values() for part in _parts(self.flow, node)
                         if part.play is not None)


@dataclass(frozen=True)
class Service:
    """What the views share: the flows, their lines, the store and how requests are checked."""

    served: Mapping[str, Served]
    lines: Mapping[str, Line]
    store: Store
    settings: Settings
    validator: RequestValidator | None
    spool: Spool

    def line(self, flow: str) -> Line:
        line = self.lines.get(flow)
        if line is None:
            abort(404, f"no flow named {flow!r} is served here; served: {sorted(self.lines)}")
        return line

    def urls(self, flow: str) -> FlaskUrls:
        return FlaskUrls(flow, self.settings.public_url)


def service() -> Service:
    return current_app.extensions["ivr"]  # type: ignore[no-any-return]


class FlaskUrls:
    """Action URLs for one flow's TwiML: paths relative to the server (Twilio resolves them against the URL
    it called), and absolute audio URLs. Built from the request's script root: a prefix (ProxyFix's
    X-Forwarded-Prefix, or a mount point) is kept."""

    def __init__(self, flow: str, public_url: str) -> None:
        self.prefix = f"{request.script_root}/voice/{quote(flow)}"
        self.audio = (public_url or request.host_url.rstrip("/")) + f"{request.script_root}/audio/{quote(flow)}"

    def gather(self, seq: int) -> str:
        return f"{self.prefix}/gather?seq={seq}"

    def dial(self, seq: int) -> str:
        return f"{self.prefix}/dial?seq={seq}"


def load_flows(flows: Sequence[str | Path] | Mapping[str, Flow], settings: Settings) -> dict[str, Served]:
    """Flows by name, from files or directories (or given as objects); two flows may not share a name."""
    served: dict[str, Served] = {}
    items: list[tuple[Flow, Path | None, dict[str, int]]] = []
    if isinstance(flows, Mapping):
        items = [(flow, None, {}) for flow in flows.values()]
    else:
        for path in flow_files([str(given) for given in flows]):
            flow, source = load_flow(path)
            lines = {key[1]: line for key, line in source.lines.items() if len(key) == 2 and key[0] == "nodes"}
            items.append((flow, path, lines))
    for flow, file, lines in items:
        if flow.name in served:
            raise UsageError(f"two flows are named {flow.name!r}; each served flow needs its own name")
        audio = Path(settings.audio_dir) if settings.audio_dir else audio_dir(file) if file else None
        served[flow.name] = Served(flow, audio, file, lines)
    if not served:
        raise UsageError("no flows to serve: pass flow files, or set IVR_FLOWS (paths separated by ':')")
    return served


def create_app(flows: Sequence[str | Path] | Mapping[str, Flow] | None = None, settings: Settings | None = None,
               *, effects: Mapping[str, EffectHandler] | None = None, store: Store | None = None) -> Flask:
    """The webhook app for `flows` (files, directories, or flows by name). Without arguments everything comes
    from the environment (`Settings.from_env`, `IVR_FLOWS`), as `gunicorn "ivr.line.app:create_app()"` needs: it
    is then a server's entry point, and a mistake in that environment (no flows, a store that is down) is logged as
    one line and the process exits with gunicorn's "worker failed to boot" code, instead of a traceback from every
    worker. With arguments, such mistakes raise their `IvrError` (a `StoreError` for the store)."""
    if flows is None and settings is None:
        try:
            return _create_app(None, None, effects, store)
        except IvrError as exc:
            log.critical("ivr: %s", exc)
            raise SystemExit(BOOT_FAILED) from None
    return _create_app(flows, settings, effects, store)


def _create_app(flows: Sequence[str | Path] | Mapping[str, Flow] | None, settings: Settings | None,
                effects: Mapping[str, EffectHandler] | None, store: Store | None) -> Flask:
    settings = settings or Settings.from_env()
    served = load_flows(flows if flows is not None else settings.flows, settings)
    if settings.serve_failing:
        log.warning("!!! serving flows whether or not `ivr check` accepts them (IVR_SERVE_FAILING_FLOWS=1): "
                    "development only !!!")
    else:
        refuse_failing(served)
    store = store or Store(settings.database_url)
    try:
        store.open()
    except SchemaMismatch:
        raise
    except StoreError as exc:
        if store.is_sqlite:  # a file that cannot be opened is a mistake in the configuration, not an outage
            raise
        log.error("ivr: %s; answering calls with an apology and a transfer until it is back", exc)
    lines = {name: Line(s.flow, store, effects=effects, fallback_number=settings.fallback_number)
             for name, s in served.items()}
    app = Flask("ivr")
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST
    if settings.trusted_proxy_headers:  # one trusted proxy sets each named header
        fix = {"x_" + h.removeprefix("x-forwarded-"): 1 for h in settings.trusted_proxy_headers}
        app.wsgi_app = ProxyFix(app.wsgi_app, **fix)  # type: ignore[method-assign]
    validator = RequestValidator(settings.auth_token) if settings.verify_signatures else None
    if validator is None:
        log.warning("!!! Twilio signature validation is OFF: anyone who can reach this server can drive calls "
                    "and record cancellations. Use this for local development only. !!!")
    app.extensions["ivr"] = Service(served, lines, store, settings, validator, Spool(spool_dir(settings)))
    app.register_blueprint(bp)
    return app


def spool_dir(settings: Settings) -> Path:
    """Where apologies wait for a store that is down: as configured, else beside a SQLite file, else ./ivr-spool
    (for an in-memory store, which dies with the process, a temporary directory)."""
    if settings.spool_dir:
        return Path(settings.spool_dir)
    url = settings.database_url
    if url.startswith("sqlite"):
        database = url.partition(":///")[2].partition("?")[0]
        if database and database != ":memory:":
            return Path(f"{database}-spool")
        return Path(tempfile.gettempdir()) / f"ivr-spool-{os.getpid()}"
    return Path("ivr-spool")


def refuse_failing(served: Mapping[str, Served]) -> None:
    """Refuse (one line, `UsageError`) to serve a flow that `ivr check` rejects with an error: a caller who cannot
    cancel, a loop of effects, a dead end. The checker is the proof layer's; the app is the one place in the line
    that asks it (an exception to the layers, in pyproject's import-linter contract)."""
    from ivr.proof.report import check

    for name, s in served.items():
        files = audio_files(s.file) if s.file is not None else None
        errors = [x for x in check(s.flow, lines=dict(s.lines), audio_files=files).findings if x.severity == "error"]
        if errors:
            first = errors[0]
            where = f"{s.file}:{first.line}: " if s.file and first.line else f"{s.file}: " if s.file else ""
            others = ", ".join(sorted({x.code for x in errors[1:]}))
            more = f" (and {len(errors) - 1} more: {others}; run `ivr check`)" if len(errors) > 1 else ""
            raise UsageError(f"{where}refusing to serve flow {name!r}: `ivr check` rejects it: {first.code}: "
                             f"{first.message}{more}; fix the flow, or set IVR_SERVE_FAILING_FLOWS=1 to serve it "
                             "anyway during development")


def _parts(flow: Flow, node: f.Node) -> list[f.PromptPart]:
    """Every prompt part of a node: its prompt, and for an input node its help and ladder messages."""
    parts = list(node.prompt)
    if isinstance(node, f.GatherNode):
        parts += node.help
        for kind in ("no_input", "no_match"):
            for handler in flow.ladder(node, kind):
                parts += handler.message
    return parts


def local_app(flows: Sequence[str | Path], directory: str | Path) -> Flask:
    """The app for testing and replaying on this machine: a fresh SQLite store in `directory`, and signatures
    checked as in production, with a random auth token only the simulator is given
    (`app.extensions["ivr"].settings.auth_token`)."""
    settings = Settings(auth_token=secrets.token_hex(16), database_url=f"sqlite:///{Path(directory)}/calls.db",
                        serve_failing=True)  # QA runs a failing flow to watch it fail
    return create_app(list(flows), settings)


def token_of(app: Flask) -> str:
    return str(app.extensions["ivr"].settings.auth_token)


def _signed_url(settings: Settings) -> str:
    """The URL Twilio called and signed, exactly: the public base URL when configured, else the one this request
    reached (ProxyFix has already corrected it for trusted proxy headers). Path and query stay as sent: werkzeug's
    `request.url` would decode `%2F` in the query, and the signature would no longer match."""
    base = settings.public_url or request.host_url.rstrip("/")
    query = request.query_string.decode("latin-1")
    return base + request.script_root + request.path + (f"?{query}" if query else "")


def _twiml(xml: str) -> Response:
    return Response(xml, mimetype=XML)


def _header(value: str) -> str:
    """A header value from flow names, which may be in any script: percent-encoded beyond printable ASCII."""
    return quote(value, safe=" !\"#$&'()*+,-./:;<=>?@[]^_`{|}~")


def _reply(turn: Turn) -> Response:
    """The TwiML of a turn, with where the call now is in `X-Ivr-*` headers (Twilio ignores them; the simulator
    and QA read them, so tests can assert the node and outcome of a line they can only reach over HTTP)."""
    response = _twiml(turn.twiml)
    if turn.kind != "apology":
        response.headers.update({"X-Ivr-Node": _header(turn.next_node), "X-Ivr-Turns": str(turn.turns)})
        if turn.intent:  # how the answer that led here was understood
            response.headers["X-Ivr-Intent"] = _header(turn.intent)
        if turn.outcome:
            response.headers["X-Ivr-Outcome"] = _header(turn.outcome)
    return response


def _call_sid() -> str:
    sid = request.form.get("CallSid", "")
    if not CALL_SID.fullmatch(sid):
        log.warning("400 for %s: %s", request.path, f"CallSid {sid[:80]!r} is not Twilio's" if sid else "no CallSid")
        abort(400, "a Twilio voice webhook carries a CallSid: CA and 32 hexadecimal digits")
    return sid


def _seq() -> int | None:
    raw = request.args.get("seq", "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 9 else None


@bp.before_request
def check_signature() -> None:
    svc = service()
    if request.method != "POST" or svc.validator is None:
        return
    signature = request.headers.get(SIGNATURE_HEADER, "")
    url = _signed_url(svc.settings)
    # the URL as seen first (one HMAC); then twilio's validator, which also tries it with and without the port. A
    # signature is base64: anything else is refused before comparing (compare_digest raises on non-ASCII text)
    if not signature or not signature.isascii() or not (
            hmac.compare_digest(svc.validator.compute_signature(url, request.form), signature)
            or svc.validator.validate(url, request.form, signature)):
        log.warning("403 for %s: %s X-Twilio-Signature (checked against %s; behind a proxy or tunnel, set "
                    "IVR_PUBLIC_URL or IVR_TRUSTED_PROXY_HEADERS)", request.path, "a wrong" if signature else "no",
                    url)
        abort(403, "invalid or missing X-Twilio-Signature")
    account = request.form.get("AccountSid")
    expected = svc.settings.account_sid
    if (account and not ACCOUNT_SID.fullmatch(account)) or (expected and account != expected):
        log.warning("403 for %s: AccountSid %r is not %s", request.path, (account or "")[:80],
                    repr(expected) if expected else "a Twilio account SID")
        abort(403, "this webhook serves another Twilio account")


@bp.post("/voice")
def incoming_only() -> Response:
    lines = service().lines
    if len(lines) != 1:
        abort(404, f"several flows are served here: call /voice/<flow>, one of {sorted(lines)}")
    return incoming(next(iter(lines)))


@bp.post("/voice/<flow>")
def incoming(flow: str) -> Response:
    svc = service()
    return _reply(svc.line(flow).incoming(_call_sid(), request.form, svc.urls(flow)))


@bp.post("/voice/<flow>/gather")
def gather(flow: str) -> Response:
    return _numbered(flow, "gather", lambda line, sid, seq, urls: line.answer(sid, seq, request.form, urls))


@bp.post("/voice/<flow>/dial")
def dial(flow: str) -> Response:
    return _numbered(flow, "dial", lambda line, sid, seq, urls: line.dial_result(sid, seq, request.form, urls))


def _numbered(flow: str, what: str, handle: Callable[[Line, str, int, FlaskUrls], Turn]) -> Response:
    """A callback that answers request `?seq=` of a call; one without a valid seq cannot be ours: apologise (and
    transfer, when the caller was waiting for an answer rather than coming back from one)."""
    svc = service()
    line, sid, seq = svc.line(flow), _call_sid(), _seq()
    if seq is None:
        log.warning("call %s: %s callback without a valid seq (%r)", sid, what, request.args.get("seq"))
        return _twiml(line.apology(SORRY_BROKEN, transfer=what == "gather"))
    return _reply(handle(line, sid, seq, svc.urls(flow)))


@bp.post("/voice/<flow>/status")
def status(flow: str) -> Response:
    line, sid = service().line(flow), _call_sid()
    if not line.status(sid, request.form):
        log.warning("call %s: status %r for a call this app never saw", sid, request.form.get("CallStatus"))
    return Response(status=204)


@bp.get("/audio/<flow>/<path:name>")
def audio(flow: str, name: str) -> Response:
    """A `play` file of the flow, and nothing else: not the other files of audio/ (scripts, sidecars, notes), not
    a file of another suffix, never through a symbolic link (a link could lead anywhere on the server)."""
    served = service().served.get(flow)
    if served is None or served.audio is None or name not in served.plays or \
            not name.lower().endswith(AUDIO_SUFFIXES) or not _plain_file_under(served.audio, name):
        abort(404)
    return send_from_directory(served.audio.resolve(), name)  # safe_join: '..' and absolute paths are a 404


def _plain_file_under(root: Path, name: str) -> bool:
    """`root/name` is a regular file, and no part of the way from `root` to it is a symbolic link."""
    path = root
    for part in Path(name).parts:
        if part in ("", ".", "..") or os.sep in part:
            return False
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            return False
        if stat.S_ISLNK(mode):
            return False
    return stat.S_ISREG(mode)


def _health() -> dict[str, Any]:
    svc = service()
    try:
        svc.store.check()
        ok, detail = True, "ok"
    except StoreError as exc:
        ok, detail = False, str(exc)
    return {"status": "ok" if ok else "degraded", "ok": ok, "flows": sorted(svc.lines), "store": detail,
            "signatures": svc.validator is not None, "spooled_apologies": svc.spool.pending()}


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Liveness: the app answers (200), `"status": "degraded"` while its store is down (callers then hear an
    apology and a transfer); restarting it would not bring the store back."""
    return jsonify(_health()), 200


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Readiness: 503 while the store is down, for a load balancer that can send calls to another instance."""
    body = _health()
    return jsonify(body), 200 if body["ok"] else 503


@bp.after_request
def drain_spool(response: Response) -> Response:
    """After a request the store answered, move the apologies said while it was down into its call log."""
    svc = service()
    if request.method == "POST" and response.status_code == 200 and response.headers.get("X-Ivr-Node") is not None:
        try:
            svc.spool.drain(svc.store.record_apology)
        except (StoreError, OSError) as exc:
            log.warning("could not move spooled apologies into the store yet: %s", exc)
    return response


@bp.errorhandler(Exception)
def failed(exc: Exception) -> Any:
    """A webhook never fails in front of a caller: apologise and transfer, and log it with the CallSid."""
    if isinstance(exc, HTTPException):
        return exc
    lines = service().lines
    sid = request.form.get("CallSid", "?") if request.method == "POST" else "-"
    if isinstance(exc, StoreError):
        log.error("call %s: the call store failed; apologising and transferring: %s", sid, exc)
    else:
        log.exception("call %s: %s failed; apologising and transferring", sid, request.path)
    flow = (request.view_args or {}).get("flow", "")
    line = lines.get(flow) or (next(iter(lines.values())) if len(lines) == 1 else None)
    if line is None or request.method != "POST":
        return Response("internal error", status=500, mimetype="text/plain")
    xml = line.apology(SORRY_BROKEN)
    _log_apology(line, xml, exc)
    return _twiml(xml)


def _log_apology(line: Line, xml: str, exc: Exception) -> None:
    """Keep the apology in the call log: in the store when it answers, else in the spool until it does."""
    svc = service()
    key = exc.key if isinstance(exc, CommitUnknown) else secrets.token_hex(16)
    apology = Apology(key=key, call_sid=request.form.get("CallSid", "")[:64], seq=_seq() if request.args else 0,
                      at=now(), flow=line.flow.name, said=xml, reason=str(exc)[:2000] or type(exc).__name__)
    try:
        svc.store.record_apology(apology)
    except StoreError:
        try:
            svc.spool.add(apology)
        except OSError as error:
            log.error("call %s: the apology could not be kept anywhere (spool %s: %s)", apology.call_sid,
                      svc.spool.directory, error)
