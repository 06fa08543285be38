"""Where a webhook turn's time goes: `webhook_load.py`'s callers, in process (Flask's test client, no gunicorn),
under cProfile, broken down by part of the request. Companion of `webhook_load.py`, which says how fast; this
says why.

    python bench/webhook_profile.py                       # 200 calls on SQLite in a temporary directory
    python bench/webhook_profile.py --calls 500 --database postgresql://127.0.0.1/ivr_bench --top 25

The first lines are measured without the profiler: time and CPU per turn, and how long each request holds the
call's lock (`Store.locked`: the section a SQLite store runs one at a time across all workers, fsync included).
The tables are wall time under cProfile (which roughly doubles Python's own cost): read them as shares. The
Flask test client's own work is in "everything" and in the werkzeug line.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import secrets
import shutil
import tempfile
import time
from html import unescape
from pathlib import Path
from typing import Any

from twilio.request_validator import RequestValidator
from webhook_load import ACTION, FLOW, ROOT, kind_of, scripts

from ivr.line.app import create_app
from ivr.line.settings import Settings

#: (label, pattern over "file:function") of the parts reported; indented ones are inside the one above
PARTS = [
    ("signature check (before_request)", r"ivr/app\.py:check_signature$"),
    ("under the call's lock (Store.locked)", r"ivr/store\.py:locked$"),
    ("  BEGIN IMMEDIATE + connection checkout", r"sqlalchemy/engine/base\.py:begin$"),
    ("  read the call (Transaction.call)", r"ivr/store\.py:call$"),
    ("  read a stored turn (retries only)", r"ivr/store\.py:turn$"),
    ("  engine: start, advance", r"ivr/engine\.py:(start|advance)$"),
    ("  record_cancellation (store)", r"ivr/store\.py:record_cancellation$"),
    ("  TwiML rendering (twiml.render)", r"ivr/twiml\.py:render$"),
    ("  write turn + call (Transaction.save)", r"ivr/store\.py:save$"),
    ("  COMMIT (the DB driver's; fsync on SQLite)", r"~:<method 'commit' of '(sqlite3|psycopg)"),
    ("SQLAlchemy Connection.execute, all", r"sqlalchemy/engine/base\.py:execute$"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--database", help="SQLAlchemy URL (default: SQLite in a temporary directory)")
    parser.add_argument("--top", type=int, default=0, help="also print the top N functions by own time")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ivr-webhook-profile-"))
    try:
        run(args, args.database or f"sqlite:///{tmp / 'calls.db'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, url: str) -> None:
    token = secrets.token_hex(16)
    app = create_app([ROOT / FLOW], Settings(auth_token=token, database_url=url))
    client, validator, plans = app.test_client(), RequestValidator(token), scripts(6)
    prefix, turns = "CA" + secrets.token_hex(12), 0  # with the call's 8-digit number: Twilio's CA + 32 hex digits

    def call(n: int) -> int:
        sid, xml, plan = f"{prefix}{n:08d}", "", plans[kind_of(n)]
        for i, (fields, expect) in enumerate(plan):
            found = ACTION.search(xml)
            path = unescape(found.group(1)) if i and found else "/voice/acme"
            form = {"CallSid": sid, "AccountSid": "AC" + "0" * 32, **(fields or {"From": "+15550001111",
                                                                                 "To": "+18005550199"})}
            signature = validator.compute_signature("http://localhost" + path, form)
            xml = client.post(path, data=form, headers={"X-Twilio-Signature": signature}).get_data(as_text=True)
            if expect not in xml:
                raise SystemExit(f"call {sid}, turn {i}: expected {expect!r}, got {xml!r}")
        return len(plan)

    store = app.extensions["ivr"].store
    locked, held = store.locked, [0.0]

    def timed(*a: Any, **kw: Any) -> Any:  # how long each request holds the call's lock, profiler off
        t = time.perf_counter()
        try:
            return locked(*a, **kw)
        finally:
            held[0] += time.perf_counter() - t

    for n in range(20):  # warm-up: caches, compiled statements, the first connection
        call(n)
    store.locked = timed
    t0, c0 = time.perf_counter(), time.process_time()
    for n in range(20, 20 + args.calls):
        turns += call(n)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    store.locked = locked
    profiler = cProfile.Profile()
    profiled = 0
    profiler.enable()
    for n in range(20 + args.calls, 20 + 2 * args.calls):
        profiled += call(n)
    profiler.disable()
    print(f"{args.calls} calls, {turns} turns, in process on {url.split(':')[0]}: {wall / turns * 1000:.2f} ms a "
          f"turn ({cpu / turns * 1000:.2f} ms CPU), without the profiler; {turns / wall:.0f} turns/s on one core")
    print(f"inside Store.locked: {held[0] / turns * 1000:.2f} ms a turn" + (
        f": on SQLite the whole store, all workers together, serves at most {turns / held[0]:.0f} turns/s"
        if store.is_sqlite else "") + "\n")
    stats = pstats.Stats(profiler)
    entries = stats.stats.items()  # type: ignore[attr-defined]
    total = sum(tt for (_, _, tt, _, _) in stats.stats.values())  # type: ignore[attr-defined]
    per = 1000 / profiled
    print(f"{'part of a turn (inclusive, under cProfile)':<46} {'ms/turn':>8} {'share':>6} {'calls/turn':>10}")
    print(f"{'everything (Flask test client included)':<46} {total * per:>8.2f} {100:>5.0f}%")
    for label, pattern in PARTS:
        found = [(nc, ct) for (file, _, func), (_, nc, _, ct, _) in entries
                 if re.search(pattern, f"{file.replace(chr(92), '/')}:{func}")]
        nc, ct = sum(f[0] for f in found), sum(f[1] for f in found)
        print(f"{label:<46} {ct * per:>8.2f} {ct / total * 100:>5.0f}% {nc / profiled:>10.1f}" if found else
              f"{label:<46} {'-':>8}  (not called: no function matches {pattern!r})")
    own: dict[str, float] = {}
    for (file, _, func), (_, _, tt, _, _) in entries:
        own[library(file, func)] = own.get(library(file, func), 0.0) + tt
    print(f"\n{'own time by library (under cProfile)':<46} {'ms/turn':>8} {'share':>6}")
    for name, tt in sorted(own.items(), key=lambda item: -item[1])[:12]:
        print(f"{name:<46} {tt * per:>8.2f} {tt / total * 100:>5.0f}%")
    if args.top:
        print()
        stats.sort_stats("tottime").print_stats(args.top)


def library(file: str, func: str) -> str:
    """Who a profiled function belongs to: a package, one of ours (by module), the stdlib, or C code."""
    file = file.replace("\\", "/")
    if file == "~":  # C code: "<method 'commit' of 'sqlite3.Connection' objects>", "<built-in method _hashlib.x>"
        found = re.search(r"of '([\w.]+)'|built-in method ([\w.]+)", func)
        name = (found.group(1) or found.group(2)) if found else ""
        return f"C: {name.split('.')[0]}" if "." in name else "C: builtins"
    if "site-packages/" in file:
        return file.split("site-packages/", 1)[1].split("/", 1)[0]
    if "/ivr/" in file:
        return "ivr." + file.rsplit("/", 1)[1].removesuffix(".py")
    if file.startswith("<"):
        return file.split(" ")[-1].split(".")[0].strip("<>") if "sqlalchemy" in file else file
    return "stdlib " + file.rsplit("/", 1)[-1].removesuffix(".py")


if __name__ == "__main__":
    main()
