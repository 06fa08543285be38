"""Tests of `ivr.flow.loader`: YAML text -> `Flow`, every error naming file, line, key path, bad value and choices.

The malformed corpus is `tests/malformed/`: one realistic flow per mistake, and `expected.txt` with the exact
`str(error)` that `load_flow` must give for each, the file named relative to the repository root. A case in
`LOADER_BUGS` holds the message the loader *should* give and is a strict xfail until the loader gives it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ivr.errors import FlowError, FlowFileError, IvrError
from ivr.files import flow_files
from ivr.flow import engine
from ivr.flow.caller import Digits, Heard, Speech
from ivr.flow.loader import Source, load_flow, parse_flow
from ivr.flow.model import BranchNode, ConfirmNode, Flow, GatherNode

ROOT = Path(__file__).resolve().parents[2]
#: relative to ROOT, so the file names inside the messages do not depend on where the checkout lives
MALFORMED = Path("tests", "malformed")
EXPECTED_FILE = "expected.txt"

#: corpus files where the loader's message (or behaviour) is wrong today -> why
LOADER_BUGS: dict[str, str] = {}


def _expectations() -> dict[str, str]:
    """`expected.txt` -> {file name: message}: `== <file>` then the message lines; `#` lines before the first."""
    table: dict[str, list[str]] = {}
    current: list[str] | None = None
    for number, line in enumerate((ROOT / MALFORMED / EXPECTED_FILE).read_text("utf-8").splitlines(), 1):
        if line.startswith("== "):
            name = line.removeprefix("== ")
            if name in table:
                raise ValueError(f"{EXPECTED_FILE}:{number}: {name!r} is listed twice")
            current = table[name] = []
        elif current is not None:
            current.append(line)
        elif line and not line.startswith("#"):
            raise ValueError(f"{EXPECTED_FILE}:{number}: text before the first '== <file>' line")
    return {name: "\n".join(lines).strip("\n") for name, lines in table.items()}


EXPECTED = _expectations()


def _case(name: str) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=LOADER_BUGS[name])] if name in LOADER_BUGS else []
    return pytest.param(name, EXPECTED[name], id=name.removesuffix(".yaml"), marks=marks)


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from the repository root, so `tests/malformed/...` paths (and the messages naming them) are stable."""
    monkeypatch.chdir(ROOT)


# --- the malformed corpus ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("in_root")
@pytest.mark.parametrize(("name", "expected"), [_case(name) for name in sorted(EXPECTED)])
def test_malformed_flow_message(name: str, expected: str) -> None:
    with pytest.raises(IvrError) as info:
        load_flow(MALFORMED / name)
    assert str(info.value) == expected


def test_every_malformed_flow_has_an_expected_message_and_vice_versa() -> None:
    files = {p.name for p in (ROOT / MALFORMED).iterdir()} - {EXPECTED_FILE}
    assert files == set(EXPECTED)
    assert set(LOADER_BUGS) <= files
    assert len(files) >= 30


@pytest.mark.usefixtures("in_root")
@pytest.mark.parametrize(("name", "error", "codes"), [
    ("empty.yaml", FlowFileError, ["unreadable-flow"]),
    ("yaml-syntax.yaml", FlowFileError, ["unreadable-flow"]),
    ("not-utf8.yaml", FlowFileError, ["unreadable-flow"]),
    ("top-level-list.yaml", FlowFileError, ["unreadable-flow"]),
    ("dup-node.yaml", FlowError, ["undefined-target", "duplicate-key"]),
    ("key-two-intents.yaml", FlowError, ["duplicate-key"]),
    ("unknown-node-key.yaml", FlowError, ["unknown-key"]),
    ("say-missing-next.yaml", FlowError, ["missing-key"]),
    ("missing-type.yaml", FlowError, ["missing-key"]),
    ("unknown-node-type.yaml", FlowError, ["unknown-node-type"]),
    ("timeout-not-number.yaml", FlowError, ["bad-value"]),
    ("undefined-route.yaml", FlowError, ["undefined-target"]),
    ("undefined-intent.yaml", FlowError, ["undefined-intent"]),
    ("opt-out-not-global.yaml", FlowError, ["undefined-intent"]),
    ("undefined-end-outcome.yaml", FlowError, ["undefined-outcome"]),
    ("undeclared-variable.yaml", FlowError, ["undefined-variable"]),
    ("three-problems.yaml", FlowError, ["undefined-target", "undefined-target", "undefined-outcome"]),
])
def test_error_class_and_codes(name: str, error: type[IvrError], codes: list[str]) -> None:
    with pytest.raises(IvrError) as info:
        load_flow(MALFORMED / name)
    assert type(info.value) is error
    found = [p.code for p in info.value.problems] if isinstance(info.value, FlowError) else [info.value.code]
    assert found == codes


@pytest.mark.usefixtures("in_root")
def test_every_problem_in_a_file_is_reported_with_its_own_line() -> None:
    with pytest.raises(FlowError) as info:
        load_flow(MALFORMED / "three-problems.yaml")
    found = [(p.file, p.line, p.dotted) for p in info.value.problems]
    assert found == [
        ("tests/malformed/three-problems.yaml", 3, "start"),
        ("tests/malformed/three-problems.yaml", 20, "nodes.main_menu.routes.billing"),
        ("tests/malformed/three-problems.yaml", 45, "nodes.goodbye.outcome"),
    ]


def test_errors_hide_the_library_exception() -> None:
    """No chained pydantic / PyYAML traceback behind the designer's message."""
    with pytest.raises(FlowError) as info:
        parse_flow("name: x\nstart: a\noutcomes: [cancelled]\nnodes: {a: {type: say, next: b}}\n", "f.yaml")
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__
    assert str(info.value) == ("f.yaml:4: nodes.a.next: target 'b' is not a node; known nodes: ['a']")


def test_parse_flow_without_a_file_name() -> None:
    with pytest.raises(FlowFileError, match=r"^<flow>:1: a flow file must be a mapping of keys, got a list$"):
        parse_flow("- a\n- b\n")


# --- reading files -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("relative", "message"), [
    ("nope.yaml", "{path}: no such flow file"),
    (".", "{path}: is a directory, not a flow file"),
    ("flow.yaml/x.yaml", "{path}: cannot read: Not a directory"),
])
def test_unreadable_path(tmp_path: Path, relative: str, message: str) -> None:
    (tmp_path / "flow.yaml").write_text(YES_NO)
    path = tmp_path / relative
    with pytest.raises(FlowFileError, match=f"^{re.escape(message.format(path=path))}$"):
        load_flow(path)


def test_load_flow_accepts_str_and_path(tmp_path: Path) -> None:
    path = tmp_path / "yes-no.yaml"
    path.write_text(YES_NO)
    assert load_flow(str(path)) == load_flow(path)
    assert load_flow(str(path))[1].file == str(path)


def test_the_example_flow_loads() -> None:
    flow, source = load_flow(ROOT / "flows" / "acme.yaml")
    assert flow.name == "acme"
    assert source.line("nodes", flow.start) is not None


# --- scalars stay strings (YAML 1.1 would make booleans of yes / no / on / off) ------------------------------

YES_NO = """\
name: yes-no
start: confirm_cancel
outcomes: [cancelled, kept]
nodes:
  confirm_cancel:
    type: confirm
    prompt: Do you want to cancel your service? Say yes or no.
    yes: cancelled
    no: kept

  cancelled:
    type: end
    outcome: cancelled

  kept:
    type: end
    prompt: Thank you for staying.
    outcome: kept
"""


def _load(tmp_path: Path, text: str, data: bytes | None = None) -> tuple[Flow, Source]:
    path = tmp_path / "flow.yaml"
    path.write_bytes(text.encode() if data is None else data)
    return load_flow(path)


def test_unquoted_yes_and_no_keys_of_a_confirm_node(tmp_path: Path) -> None:
    flow, _ = _load(tmp_path, YES_NO)
    node = flow.nodes["confirm_cancel"]
    assert isinstance(node, ConfirmNode)
    assert (node.yes, node.no) == ("cancelled", "kept")
    assert flow.active_routes("confirm_cancel") == {"yes": "cancelled", "no": "kept"}


@pytest.mark.parametrize(("heard", "outcome"), [
    (Speech("yes"), "cancelled"),
    (Speech("no"), "kept"),
    (Digits("1"), "cancelled"),
    (Digits("2"), "kept"),
])
def test_a_confirm_node_loaded_from_yaml_routes_yes_and_no(tmp_path: Path, heard: Heard, outcome: str) -> None:
    flow, _ = _load(tmp_path, YES_NO)
    step = engine.advance(flow, engine.start(flow).state, heard)
    assert step.outcome == outcome


SCALARS = """\
name: scalars
start: check
outcomes: [lit, dark, agreed, one, truth, tilde, other, cancelled]
variables:
  light: on
  answer: yes
  count: 1
nodes:
  check:
    type: branch
    var: light
    cases:
      on: lit
      off: dark
      yes: agreed
      1: one
      true: truth
      ~: tilde
    default: other
  lit: {type: end, outcome: lit}
  dark: {type: end, outcome: dark}
  agreed: {type: end, outcome: agreed}
  one: {type: end, outcome: one}
  truth: {type: end, outcome: truth}
  tilde: {type: end, outcome: tilde}
  other: {type: end, outcome: other}
"""


def test_on_off_yes_and_numbers_stay_distinct_strings(tmp_path: Path) -> None:
    flow, _ = _load(tmp_path, SCALARS)
    assert flow.variables == {"light": "on", "answer": "yes", "count": "1"}
    node = flow.nodes["check"]
    assert isinstance(node, BranchNode)
    assert list(node.cases) == ["on", "off", "yes", "1", "true", "~"]


@pytest.mark.parametrize(("light", "outcome"), [
    ("on", "lit"), ("off", "dark"), ("yes", "agreed"), ("1", "one"), ("true", "truth"), ("~", "tilde"),
    ("True", "other"), ("no", "other"), ("", "other"),
])
def test_branch_cases_match_the_text_written(tmp_path: Path, light: str, outcome: str) -> None:
    flow, _ = _load(tmp_path, SCALARS)
    assert engine.start(flow, variables={"light": light}).outcome == outcome


@pytest.mark.parametrize(("written", "value"), [
    ("true", True), ("yes", True), ("on", True), ("false", False), ("no", False), ("off", False),
])
def test_true_false_settings_read_yaml_words(tmp_path: Path, written: str, value: bool) -> None:
    flow, _ = _load(tmp_path, YES_NO.replace("    type: confirm\n", f"    type: confirm\n    retention: {written}\n"))
    node = flow.nodes["confirm_cancel"]
    assert isinstance(node, GatherNode)
    assert node.retention is value


# --- Source: the line of each key path ---------------------------------------------------------------------


@pytest.mark.parametrize(("path", "line"), [
    ((), 1),
    (("start",), 2),
    (("outcomes",), 3),
    (("outcomes", "1"), 3),
    (("nodes",), 4),
    (("nodes", "confirm_cancel"), 5),
    (("nodes", "confirm_cancel", "yes"), 8),
    (("nodes", "confirm_cancel", "no"), 9),
    (("nodes", "cancelled"), 11),
    (("nodes", "kept"), 15),
    (("nodes", "kept", "outcome"), 18),
    # a key that is not there reports its nearest ancestor's line
    (("nodes", "cancelled", "prompt"), 11),
    (("nodes", "nowhere", "next"), 4),
])
def test_source_line(tmp_path: Path, path: tuple[str, ...], line: int) -> None:
    _, source = _load(tmp_path, YES_NO)
    assert source.line(*path) == line


@pytest.mark.parametrize("data", [
    pytest.param(YES_NO.encode("utf-8-sig"), id="byte-order-mark"),
    pytest.param(YES_NO.replace("\n", "\r\n").encode(), id="crlf"),
])
def test_windows_files_load_with_the_same_lines(tmp_path: Path, data: bytes) -> None:
    flow, source = _load(tmp_path, "", data)
    expected_flow, expected_source = parse_flow(YES_NO)
    assert flow == expected_flow
    assert source.lines == expected_source.lines


# --- flow_files: FLOW|DIR arguments ------------------------------------------------------------------------


def test_flow_files_expands_a_directory_to_its_flows(tmp_path: Path) -> None:
    for name in ("b.yaml", "a.yml", "c.call.yaml", "d.call.yml", "notes.txt", "e.yaml.bak"):
        (tmp_path / name).write_text("")
    (tmp_path / "sub.yaml").mkdir()
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "f.yaml").write_text("")
    assert list(flow_files([str(tmp_path)])) == [tmp_path / "a.yml", tmp_path / "b.yaml"]


def test_flow_files_keeps_file_arguments_and_their_order(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("")
    args = ["z.yaml", str(tmp_path), "missing.yaml", "x.call.yaml"]
    expected = [Path("z.yaml"), tmp_path / "a.yaml", Path("missing.yaml"), Path("x.call.yaml")]
    assert list(flow_files(args)) == expected
    assert list(flow_files(tuple(args))) == expected


@pytest.mark.parametrize("names", [(), ("only.call.yaml", "readme.md"),
                                   ("rec.expect.yaml", "x.call.yml", "y.expect.yml")])
def test_flow_files_rejects_a_directory_without_flows(tmp_path: Path, names: tuple[str, ...]) -> None:
    for name in names:
        (tmp_path / name).write_text("")
    message = f"{tmp_path}: directory holds no flow files (*.yaml, other than *.call.yaml scripts and *.expect.yaml " \
              "sidecars)"
    with pytest.raises(FlowFileError, match=f"^{re.escape(message)}$"):
        list(flow_files([str(tmp_path)]))
