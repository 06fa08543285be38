"""`ivr crawl URL`: explore a live voice app (or one in-process: `app.py:app`, `module:create_app()`, see
`ivr.testing.targets`) as a black box, draw its state graph, and check that a caller who
keeps asking to cancel reaches cancellation within N turns from every state found (`ivr.testing.crawl`). Needs
`ivrkit[testing]`. Exit 0 when the property holds, 1 when it fails or the bounds left it undecided, 2 for bad
input or an app that cannot be crawled (its first request fails).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from urllib.parse import urlsplit

import click

from ivr.cli.common import FORMATS, needs
from ivr.errors import UsageError
from ivr.proof.report import DEFAULT_WITHIN


def split_url(url: str, entry: str | None) -> tuple[str, str]:
    """The base URL calls go to and the entry path: `--entry`, else the URL's own path (and query)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"URL {url!r} is not an http(s) URL, e.g. https://example.ngrok.app/voice")
    base = f"{parts.scheme}://{parts.netloc}"
    if entry is not None:
        if not entry.startswith("/"):
            raise UsageError(f"--entry {entry!r}: a path starts with '/', e.g. /voice")
        return (base + parts.path).rstrip("/"), entry
    return base, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _token(given: str | None, in_process: bool) -> str:
    """An app in-process takes any token unless it checks; a live line needs its own."""
    if in_process:
        from ivr.testing.targets import token as any_token

        return any_token(given)
    token = given or os.environ.get("TWILIO_AUTH_TOKEN", "")
    if not token:
        raise UsageError("ivr crawl signs its requests as Twilio does: give the line's auth token with "
                         "--auth-token or TWILIO_AUTH_TOKEN (any text for a line that does not check signatures)")
    return token


@click.command("crawl")
@click.argument("url")
@click.option("--entry", metavar="PATH", help="the path Twilio calls first (default: the URL's own path)")
@click.option("--method", type=click.Choice(["GET", "POST"], case_sensitive=False), default="POST",
              show_default=True, help="how the first request is made")
@click.option("--within", type=click.IntRange(min=1), default=DEFAULT_WITHIN, show_default=True,
              help="N: the most turns cancelling may take from any state")
@click.option("--cancel-when", "cancel_when", multiple=True, metavar="KIND:VALUE",
              help="what cancellation looks like (repeatable; any one counts): prompt:REGEX, dialled:TARGET, "
                   "url:PATH, hangup-after:REGEX, outcome:NAME. Default for lines built with ivr: "
                   "outcome:cancelled")
@click.option("--cancel-key", "cancel_keys", multiple=True, metavar="KEY",
              help="a key that asks to cancel at menus (besides those the prompts offer)")
@click.option("--cancel-phrase", "cancel_phrases", multiple=True, metavar="TEXT",
              help="a phrasing that asks to cancel on this line (besides the built-in ones and its hints)")
@click.option("--every-phrase", is_flag=True, help="try every hint phrase at every state (default: a phrase "
              "that behaved like another at a state with the same hints is tried once)")
@click.option("--max-calls", type=click.IntRange(min=1), default=2000, show_default=True,
              help="the most calls placed (each try is one fresh call, replayed from the entry)")
@click.option("--max-depth", type=click.IntRange(min=0), default=12, show_default=True,
              help="the longest way in (caller actions) to a state that is explored")
@click.option("--max-tries", type=click.IntRange(min=1), default=200, show_default=True,
              help="the most tries at one state")
@click.option("--max-variants", type=click.IntRange(min=1), default=20, show_default=True,
              help="the most states explored that differ only in numbers")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=300.0, show_default=True,
              help="seconds for the whole crawl")
@click.option("--request-timeout", type=click.FloatRange(min=0.1), default=15.0, show_default=True,
              help="seconds an answer may take (Twilio's limit: 15)")
@click.option("--auth-token", metavar="TOKEN", help="sign requests with TOKEN (default: TWILIO_AUTH_TOKEN)")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--graph", type=click.Choice(["mermaid", "dot"]), help="also print the state graph")
@click.option("--emit-scripts", "emit", metavar="DIR", help="write a regression call script per state found, "
              "and the counterexample when the property fails")
def crawl_cmd(url: str, entry: str | None, method: str, within: int, cancel_when: tuple[str, ...],
              cancel_keys: tuple[str, ...], cancel_phrases: tuple[str, ...], every_phrase: bool, max_calls: int,
              max_depth: int, max_tries: int, max_variants: int, timeout: float, request_timeout: float,
              auth_token: str | None, fmt: str, graph: str | None, emit: str | None) -> None:
    """Crawl the voice app at URL and check that a caller who keeps asking to cancel gets there in N turns.

    URL is a live line (https://host/voice), or an app to run in-process: FILE.py:NAME or module:NAME (NAME() for a
    factory), as gunicorn names one."""
    needs("testing", "ivr crawl")
    from ivr.proof.pathtests import prepare
    from ivr.testing.cancel_when import parse_all
    from ivr.testing.crawl import Limits, Options, crawl
    from ivr.testing.crawl_draw import dot, mermaid
    from ivr.testing.crawl_inputs import Inputs
    from ivr.testing.crawl_report import as_json, text
    from ivr.testing.crawl_scripts import write_scripts
    from ivr.testing.sim import Simulator

    for key in cancel_keys:
        if len(key) != 1 or key not in "0123456789*#":
            raise UsageError(f"--cancel-key {key!r}: a key is one of 0-9, * and #")
    from ivr.testing.targets import is_app, load_app

    in_process = is_app(url)
    if in_process:  # FILE.py:NAME or module:NAME: the app in this process, no server needed
        if entry is not None and not entry.startswith("/"):
            raise UsageError(f"--entry {entry!r}: a path starts with '/', e.g. /voice")
        target: object = load_app(url, "URL")
        base, path = "http://localhost", entry or "/"
    else:
        base, path = split_url(url, entry)
        target = base
    directory = prepare(emit) if emit is not None else None
    options = Options(entry=path, method="GET" if method.upper() == "GET" else "POST", within=within,
                      cancel_when=parse_all(cancel_when),
                      inputs=Inputs(cancel_keys=cancel_keys, cancel_phrases=cancel_phrases,
                                    every_phrase=every_phrase, max_tries=max_tries),
                      limits=Limits(max_calls=max_calls, max_depth=max_depth, timeout=timeout,
                                    max_variants=max_variants))
    sim = Simulator(target, base_url=base, auth_token=_token(auth_token, in_process),  # type: ignore[arg-type]
                    timeout=request_timeout)
    try:
        result = crawl(sim, options)
    finally:
        sim.close()
    where = f"{url} {path}" if in_process else base + path
    drawn = None
    if graph is not None:
        draw = mermaid if graph == "mermaid" else dot
        drawn = draw(result.graph, result.analysis, within)
    written = []
    words = ["ivr", "crawl", url, *(["--entry", entry] if entry else []),
             *(["--method", "GET"] if options.method == "GET" else []), "--within", str(within),
             *(w for c in cancel_when for w in ("--cancel-when", c)), *(w for k in cancel_keys for w in
                                                                        ("--cancel-key", k)),
             *(w for p in cancel_phrases for w in ("--cancel-phrase", p)), *(["--emit-scripts", emit] if emit else [])]
    command = " ".join(shlex.quote(w) for w in words)
    if directory is not None and not result.unusable:
        written = write_scripts(result, directory, command)
    if fmt == "json":
        out = as_json(result, where, command)
        if drawn is not None:
            out["graph"] = {"format": graph, "text": drawn}
        if directory is not None:
            out["scripts"] = {"dir": str(directory), "written": [p.name for p in written]}
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        lines = list(text(result, where, command))
        if directory is not None:
            lines.append(f"  scripts: wrote {len(written)} to {directory}{os.sep}")
        click.echo("\n".join(lines))
        if drawn is not None:
            click.echo(drawn, nl=False)
    sys.exit({"pass": 0, "fail": 1, "inconclusive": 1}.get(result.verdict, 2))
