"""What ivr costs every pytest run of a project that has it installed (pytest loads the plugin through its `pytest11`
entry point on every run), and what `import ivr` costs.

1. pytest with ivr's plugin, and with it blocked (`-p no:ivr.testing.pytest_plugin`, the entry point's name), in
   fresh processes, interleaved, best of N each: the difference and the ratio. Target: at most 0.1 s more.
   Two commands: `pytest --collect-only` in an empty directory, the start of every run (plugins loaded, nothing
   collected), and `pytest --version`, which pytest 9 answers before it loads any plugin (so it costs ivr
   nothing, and is shown only because it is the figure one would reach for first).
2. `python -X importtime`: the cumulative import time of `ivr`, and of `ivr.testing.pytest_plugin` once pytest is
   imported (as when pytest loads it), best of N.

Everything runs from an empty temporary directory (no conftest, no config file), with this interpreter or
`--python` (a venv with ivrkit installed from its wheel shows what users get: an editable install adds its own
import finder).

    python bench/import_time.py [-n N] [--python PATH]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time

TARGET_S = 0.1
BLOCK = ["-p", "no:ivr.testing.pytest_plugin"]
COMMANDS = {"pytest --collect-only": ["-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
            "pytest --version": ["-m", "pytest", "--version"]}


def wall(args: list[str], cwd: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, capture_output=True)
    if done.returncode not in (0, 5):  # 5: no tests collected
        raise SystemExit(f"{args} exited {done.returncode}:\n{done.stdout.decode()}{done.stderr.decode()}")
    return time.perf_counter() - start


def import_us(python: str, module: str, cwd: str, before: str = "") -> int:
    """The cumulative import time of `module` in microseconds, as `-X importtime` reports it (after `before`)."""
    err = subprocess.run([python, "-X", "importtime", "-c", f"{before}import {module}"], cwd=cwd, check=True,
                         capture_output=True, text=True).stderr
    match = re.search(rf"^import time:\s+\d+ \|\s+(\d+) \| {re.escape(module)}$", err, re.MULTILINE)
    if match is None:
        raise SystemExit(f"no importtime line for {module}:\n{err}")
    return int(match[1])


def plugin_is_loaded(python: str, cwd: str) -> bool:
    out = subprocess.run([python, "-m", "pytest", "--trace-config", "--co", "-q"], cwd=cwd,
                         capture_output=True, text=True).stdout
    return "ivr.testing.pytest_plugin" in out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10, help="runs of each (default 10)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter (default: this one)")
    options = parser.parse_args()
    n, python = options.n, options.python
    with tempfile.TemporaryDirectory(prefix="ivr-bench-") as cwd:
        if not plugin_is_loaded(python, cwd):
            raise SystemExit(f"pytest does not load ivr's plugin with {python}: install ivrkit and pytest there")
        print(f"{python}, best of {n} fresh processes each, interleaved:")
        for label, args in COMMANDS.items():
            wall([python, *args], cwd)  # warm the file system cache and the bytecode of both
            wall([python, *args, *BLOCK], cwd)
            with_ivr, without = [], []
            for _ in range(n):
                with_ivr.append(wall([python, *args], cwd))
                without.append(wall([python, *args, *BLOCK], cwd))
            best_with, best_without = min(with_ivr), min(without)
            diff = best_with - best_without
            print(f"  {label}")
            print(f"    with ivr's plugin          {best_with:.3f} s  (median {statistics.median(with_ivr):.3f} s)")
            print(f"    plugin blocked (-p no:...) {best_without:.3f} s  (median {statistics.median(without):.3f} s)")
            print(f"    difference                 {diff:+.3f} s, ratio {best_with / best_without:.2f}  "
                  f"(target: at most +{TARGET_S} s: {'ok' if diff <= TARGET_S else 'OVER'})")
        plain = min(import_us(python, "ivr", cwd) for _ in range(n))
        plugin = min(import_us(python, "ivr.testing.pytest_plugin", cwd, "import pytest; ") for _ in range(n))
    print(f"python -X importtime, cumulative, best of {n}:")
    print(f"  {'import ivr':<48} {plain / 1000:6.1f} ms")
    print(f"  {'import ivr.testing.pytest_plugin (after pytest)':<48} {plugin / 1000:6.1f} ms")


if __name__ == "__main__":
    main()
