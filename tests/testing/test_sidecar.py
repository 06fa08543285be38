"""Tests of `ivr.testing.sidecar`: sidecar expectation files parsed with file:line errors, the one recording beside each
found (or the problem named), and a sidecar checked against the flows a line serves.

Every malformed sidecar is one row of `MALFORMED`: its text and the exact `str(error)` it must give. How the pytest
plugin collects and runs sidecars is in test_pytest_plugin_recordings.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ivr.errors import FlowFileError, IvrError, SidecarError
from ivr.flow.loader import load_flow
from ivr.flow.model import Flow, Guarantee
from ivr.testing.sidecar import Sidecar, load_sidecar, parse_sidecar
from tests.conftest import ACME

FILE = "calls/x.expect.yaml"
WAV = Path("calls/x.wav")
KEYS = "['flow', 'outcome', 'within', 'caller_channel', 'stt', 'description', 'known_failure', 'said']"
SAID = ("expected a list of what the caller said at each turn, in order: words ('cancel'), '#' and keys "
        "('#12345678#') or '(silence)'")
SAID_ENTRY = "expected what the caller said: words, '#' and keys, or '(silence)'"
FLOW_NAME = "expected the flow's name as served (letters, digits, '_' and '-'), e.g. 'acme'"
WITHIN = "expected a whole number of turns, 1 or more"
CHANNEL = "expected the caller's channel of the recording: a whole number, 0 or more"
OUTCOME = "expected the outcome the call must end with, e.g. 'cancelled'"
NEITHER = ("give 'outcome' (the outcome the call must end with), 'within' (the most turns it may take; alone it "
           "means the outcome of the flow's guarantee), or both")

#: id -> (sidecar text, error class, exact message)
MALFORMED: dict[str, tuple[str, type[IvrError], str]] = {
    "unknown-key": ("flow: acme\nwithin: 4\nwihtin: 3\n", SidecarError,
                    f"{FILE}:3: wihtin: unknown key 'wihtin'; valid keys: {KEYS}"),
    "script-key": ("flow: acme\nwithin: 4\nsteps:\n  - press: '9'\n", SidecarError,
                   f"{FILE}:3: steps: unknown key 'steps'; valid keys: {KEYS}"),
    "missing-flow": ("within: 4\n", SidecarError, f"{FILE}:1: missing required key 'flow': the flow's name as "
                                                  "served (letters, digits, '_' and '-'), e.g. 'acme'"),
    "neither-outcome-nor-within": ("flow: acme\ndescription: no expectation\n", SidecarError, f"{FILE}:1: {NEITHER}"),
    "nothing-at-all": ("description: nothing\n", SidecarError,
                       f"{FILE}:1: missing required key 'flow': the flow's name as served (letters, digits, '_' "
                       f"and '-'), e.g. 'acme'\n{FILE}:1: {NEITHER}"),
    "flow-with-a-space": ("flow: acme line\nwithin: 4\n", SidecarError, f"{FILE}:1: flow: 'acme line': {FLOW_NAME}"),
    "flow-a-path": ("flow: /voice/acme\nwithin: 4\n", SidecarError, f"{FILE}:1: flow: '/voice/acme': {FLOW_NAME}"),
    "flow-a-list": ("flow: [acme, gym]\nwithin: 4\n", SidecarError, f"{FILE}:1: flow: ['acme', 'gym']: {FLOW_NAME}"),
    "within-zero": ("flow: acme\nwithin: 0\n", SidecarError, f"{FILE}:2: within: '0': {WITHIN}"),
    "within-words": ("flow: acme\nwithin: four\n", SidecarError, f"{FILE}:2: within: 'four': {WITHIN}"),
    "within-negative": ("flow: acme\nwithin: -1\n", SidecarError, f"{FILE}:2: within: '-1': {WITHIN}"),
    "within-a-fraction": ("flow: acme\nwithin: 4.5\n", SidecarError, f"{FILE}:2: within: '4.5': {WITHIN}"),
    "within-superscript": ("flow: acme\nwithin: '²'\n", SidecarError, f"{FILE}:2: within: '²': {WITHIN}"),
    "within-empty": ("flow: acme\nwithin:\n", SidecarError, f"{FILE}:2: within: '': {WITHIN}"),
    # found by fuzzing (tests/fuzz/test_fuzz_readers.py): int() raised ValueError on more than 4300 digits
    "within-past-what-int-converts": ("flow: acme\nwithin: " + "9" * 5000 + "\n", SidecarError,
                                      f"{FILE}:2: within: '{'9' * 5000}': {WITHIN}"),
    "channel-past-what-int-converts": ("flow: acme\nwithin: 4\ncaller_channel: " + "1" * 4400 + "\n", SidecarError,
                                       f"{FILE}:3: caller_channel: '{'1' * 4400}': {CHANNEL}"),
    "outcome-empty": ("flow: acme\noutcome: ''\n", SidecarError, f"{FILE}:2: outcome: '': {OUTCOME}"),
    "outcome-a-mapping": ("flow: acme\noutcome: {is: cancelled}\n", SidecarError,
                          f"{FILE}:2: outcome: {{'is': 'cancelled'}}: {OUTCOME}"),
    "channel-negative": ("flow: acme\nwithin: 4\ncaller_channel: -1\n", SidecarError,
                         f"{FILE}:3: caller_channel: '-1': {CHANNEL}"),
    "channel-a-name": ("flow: acme\nwithin: 4\ncaller_channel: left\n", SidecarError,
                       f"{FILE}:3: caller_channel: 'left': {CHANNEL}"),
    "stt-unknown": ("flow: acme\nwithin: 4\nstt: google\n", SidecarError,
                    f"{FILE}:3: stt: 'google': expected a speech-to-text engine: one of ['vosk', 'whisper']"),
    "stt-capitalised": ("flow: acme\nwithin: 4\nstt: Whisper\n", SidecarError,
                        f"{FILE}:3: stt: 'Whisper': expected a speech-to-text engine: one of ['vosk', 'whisper']"),
    "description-a-list": ("flow: acme\nwithin: 4\ndescription: [a, b]\n", SidecarError,
                           f"{FILE}:3: description: ['a', 'b']: expected text, for people"),
    "said-text": ("flow: acme\nwithin: 4\nsaid: cancel\n", SidecarError, f"{FILE}:3: said: 'cancel': {SAID}"),
    "said-a-mapping": ("flow: acme\nwithin: 4\nsaid: {1: cancel}\n", SidecarError,
                       f"{FILE}:3: said: {{'1': 'cancel'}}: {SAID}"),
    "said-empty": ("flow: acme\nwithin: 4\nsaid: []\n", SidecarError,
                   f"{FILE}:3: said: an empty list: {SAID}; or leave 'said' out"),
    "said-entries": ("flow: acme\nwithin: 4\nsaid:\n  - cancel\n  - [yes, no]\n  - {a: b}\n  - ''\n", SidecarError,
                     f"{FILE}:5: said.1: turn 2: ['yes', 'no']: {SAID_ENTRY}\n"
                     f"{FILE}:6: said.2: turn 3: {{'a': 'b'}}: {SAID_ENTRY}\n"
                     f"{FILE}:7: said.3: turn 4: '': {SAID_ENTRY}"),
    "said-keys-unquoted": ("flow: acme\nwithin: 4\nsaid:\n  - cancel\n  - #12345678#\n", SidecarError,
                           f"{FILE}:5: said.1: empty: YAML reads the '#' in '- #12345678#' as the start of a comment; "
                           "quote it: - \"#12345678#\""),
    "duplicate-key": ("flow: acme\nwithin: 4\nflow: gym\n", SidecarError,
                      f"{FILE}:3: flow: duplicate key 'flow' (first defined on line 1)"),
    "every-problem-at-once": ("flow: a b\nwithin: 0\nstt: google\nfoo: 1\n", SidecarError,
                              f"{FILE}:1: flow: 'a b': {FLOW_NAME}\n{FILE}:2: within: '0': {WITHIN}\n"
                              f"{FILE}:3: stt: 'google': expected a speech-to-text engine: one of ['vosk', 'whisper']\n"
                              f"{FILE}:4: foo: unknown key 'foo'; valid keys: {KEYS}"),
    "empty-file": ("", FlowFileError, f"{FILE}: the file is empty; a sidecar needs 'flow', and 'outcome' or 'within'"),
    "a-list": ("- flow: acme\n", FlowFileError,
               f"{FILE}:1: a sidecar expectation file must be a mapping of keys, got a list"),
    "not-yaml": ("flow: acme\nwithin: [4\n", FlowFileError, f"{FILE}:3: not valid YAML: while parsing a flow sequence "
                                                            "(line 2), expected ',' or ']', but got '<stream end>'"),
}


@pytest.mark.parametrize(("text", "error", "message"), list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_sidecars(text: str, error: type[IvrError], message: str) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        parse_sidecar(text, FILE, WAV)


@pytest.mark.parametrize(("text", "expected"), [
    ("flow: acme\nwithin: 4\n", Sidecar(FILE, WAV, "acme", within=4)),
    ("flow: acme\noutcome: resolved\n", Sidecar(FILE, WAV, "acme", outcome="resolved")),
    ("flow: ko-telecom\noutcome: transferred\nwithin: 2\ncaller_channel: 1\nstt: vosk\ndescription: an agent\n",
     Sidecar(FILE, WAV, "ko-telecom", "transferred", 2, 1, "vosk", "an agent")),
    ("# YAML 1.1 would read 'no' as false: here it stays a string\nflow: acme\noutcome: 'no'\ndescription: yes\n",
     Sidecar(FILE, WAV, "acme", outcome="no", description="yes")),
    ("flow: acme\nwithin: 004\ncaller_channel: 0\ndescription: ''\n", Sidecar(FILE, WAV, "acme", within=4)),
    ("flow: acme\nwithin: 4\nknown_failure: cancel heard as council\n",
     Sidecar(FILE, WAV, "acme", within=4, known_failure="cancel heard as council")),
    ("flow: acme\nwithin: 4\nsaid:\n  - cancel\n  - '#12345678#'\n  - (silence)\n  - 'yes'\n  - no\n",
     Sidecar(FILE, WAV, "acme", within=4, said=("cancel", "#12345678#", "(silence)", "yes", "no"))),
])
def test_valid_sidecars(text: str, expected: Sidecar) -> None:
    assert parse_sidecar(text, FILE, WAV) == expected


TERMINATING = load_flow(ACME)[0].model_copy(update={"guarantee": Guarantee(outcome="kept")})


@pytest.mark.parametrize(("outcome", "within", "flow", "wanted"), [
    # within alone expects the outcome of the flow's guarantee, as `ivr replay --within`
    (None, 4, TERMINATING, "kept"),
    (None, 4, None, "cancelled"),  # the flow unknown (a live line): the default guarantee's
    ("kept", 4, None, "kept"),
    ("resolved", None, TERMINATING, "resolved"),
    (None, None, TERMINATING, None),
])
def test_the_outcome_expected(outcome: str | None, within: int | None, flow: Flow | None,
                              wanted: str | None) -> None:
    assert Sidecar(FILE, WAV, "acme", outcome, within).expected(flow) == wanted


# -- the recording beside it --------------------------------------------------------------------------------------

NONE = "no recording beside it: expected one of x.flac, x.mp3, x.ogg, x.wav or a directory x/ of per-turn clips; " \
       "found none"


@pytest.mark.parametrize(("present", "found"), [
    (["x.wav"], "x.wav"),
    (["x.MP3", "y.wav", "x.wav.bak", "xx.wav"], "x.MP3"),
    (["x/turn1.wav", "x.txt"], "x"),
    (["x.flac", "x.call.yaml"], "x.flac"),
])
def test_the_recording_beside_a_sidecar(tmp_path: Path, present: list[str], found: str) -> None:
    for name in present:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "x.expect.yaml").write_text("flow: acme\nwithin: 4\n")
    assert load_sidecar(tmp_path / "x.expect.yaml").recording == tmp_path / found
    assert load_sidecar(tmp_path / "x.expect.yaml").name == found


@pytest.mark.parametrize(("present", "message"), [
    ([], NONE),
    (["y.wav", "x.txt", "x.wav.bak", "xx.wav", "X.wav"], NONE),
    (["x.wav", "x.mp3"], "2 recordings beside it share its name, expected exactly one: ['x.mp3', 'x.wav']"),
    (["x.wav", "x/turn1.wav"], "2 recordings beside it share its name, expected exactly one: ['x/', 'x.wav']"),
])
def test_no_single_recording_beside_a_sidecar(tmp_path: Path, present: list[str], message: str) -> None:
    for name in present:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    sidecar = tmp_path / "x.expect.yml"
    sidecar.write_text("flow: acme\nwihtin: 4\n")
    with pytest.raises(SidecarError) as raised:
        load_sidecar(sidecar)
    assert str(raised.value) == (f"{sidecar}: {message}\n"  # the file, then its own problems, all at once
                                 f"{sidecar}:1: {NEITHER}\n"
                                 f"{sidecar}:2: wihtin: unknown key 'wihtin'; valid keys: {KEYS}")


def test_an_unreadable_sidecar_names_itself(tmp_path: Path) -> None:
    (tmp_path / "x.wav").write_bytes(b"")
    (tmp_path / "x.expect.yaml").write_bytes(b"flow: acme\nwithin: \xff\n")
    with pytest.raises(FlowFileError, match=re.escape(f"{tmp_path}/x.expect.yaml:2: not UTF-8 text: byte 0xff in "
                                                      "column 9; save the sidecar expectation as UTF-8")):
        load_sidecar(tmp_path / "x.expect.yaml")


# -- against the flows a line serves ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def served() -> dict[str, Flow]:
    acme = load_flow(ACME)[0]
    return {acme.name: acme}


@pytest.mark.parametrize(("text", "message"), [
    ("description: a typo\nflow: acmee\nwithin: 4\n", f"{FILE}:2: flow: 'acmee' is not served; served flows: ['acme']"),
    ("flow: acme\noutcome: canceled\n", f"{FILE}:2: outcome: 'canceled' is not an outcome of flow 'acme'; its "
                                        "outcomes: ['cancelled', 'resolved', 'kept', 'transferred']"),
])
def test_a_sidecar_against_the_served_flows(served: dict[str, Flow], text: str, message: str) -> None:
    with pytest.raises(SidecarError, match=f"^{re.escape(message)}$"):
        parse_sidecar(text, FILE, WAV).flow_in(served)


def test_within_alone_needs_a_flow_that_can_cancel(served: dict[str, Flow]) -> None:
    no_cancel = served["acme"].model_copy(update={"outcomes": ("resolved",)})
    with pytest.raises(SidecarError, match="^" + re.escape(
            f"{FILE}:3: within: 'cancelled' (the outcome 'within' alone expects) is not an outcome of flow 'acme'; "
            "its outcomes: ['resolved']") + "$"):
        parse_sidecar("flow: acme\n\nwithin: 4\n", FILE, WAV).flow_in({"acme": no_cancel})
    assert parse_sidecar("flow: acme\nwithin: 4\n", FILE, WAV).flow_in(served) is served["acme"]
