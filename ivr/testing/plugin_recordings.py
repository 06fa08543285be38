"""The pytest plugin's recorded calls: a recording with a sidecar expectation file (`calls/x.expect.yaml` beside
`calls/x.wav`, or a directory `calls/x/` of per-turn clips) collected as a test, replayed (`ivr.testing.replay`)
against the same line as the call scripts, one recogniser per engine and language for the session. Loaded by
`ivr.testing.pytest_plugin` when it first collects a sidecar.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ivr.errors import CallFailed, CallInconclusive, IvrError, MissingExtra
from ivr.testing.pytest_plugin import _SESSION, _extra, _flows, _shared

if TYPE_CHECKING:
    from ivr.flow.model import Flow
    from ivr.speech.transcript import Transcriber
    from ivr.testing.replay import Verdict
    from ivr.testing.sidecar import Sidecar


def _flow(config: pytest.Config, sidecar: Sidecar) -> Flow | None:
    """The flow a sidecar calls: one the session's app serves (a name it does not serve is the sidecar's
    mistake); for a live line (--ivr-url), the local flow file of that name when the flows load, for the
    flow's language, else None (the line alone knows its flows)."""
    _shared(config)
    session = config.stash[_SESSION]
    if "served" in session:
        return sidecar.flow_in(session["served"])
    if "local" not in session:
        from ivr.files import flow_files
        from ivr.flow.loader import load_flow

        try:
            session["local"] = {f.name: f for f in (load_flow(p)[0] for p in flow_files(_flows(config)))}
        except IvrError:
            session["local"] = {}
    return session["local"].get(sidecar.flow)  # type: ignore[no-any-return]


def _transcriber(config: pytest.Config, stt: str | None, language: str | None) -> Transcriber:
    """One recogniser per engine and language for the session, so that a model loads once."""
    with _extra("testing,speech", "ivr's pytest plugin (recorded calls)"):
        from ivr.speech.choose import get_transcriber

    name = stt or config.getoption("--ivr-stt")
    made = config.stash[_SESSION].setdefault("transcribers", {})
    if (name, language) not in made:
        model = config.getoption("--ivr-vosk-model")
        made[name, language] = get_transcriber(name, language=language, vosk_model=model and str(
            config.invocation_params.dir / model))
    return made[name, language]  # type: ignore[no-any-return]


def recording_failed(sidecar: Sidecar, verdict: Verdict) -> CallFailed:
    """The report of a recording that missed its sidecar's expectations, with the conversation."""
    conversation = "".join(f"\n  {line}" for line in verdict.transcript.splitlines())
    return CallFailed(f"{sidecar.file}: {'; '.join(verdict.reasons)}\n{verdict.report()}"
                      + (f"\n\n  conversation:{conversation}" if conversation else ""))


def recording_inconclusive(sidecar: Sidecar, verdict: Verdict) -> CallInconclusive:
    """The report of a recording whose verdict the recogniser cannot vouch for: the turns it could not tell."""
    conversation = "".join(f"\n  {line}" for line in verdict.transcript.splitlines())
    return CallInconclusive(f"{sidecar.file}: inconclusive, the recogniser cannot tell what was said at "
                            f"{'; '.join(verdict.doubts)} (run with --ivr-inconclusive=xfail to report such calls "
                            f"as expected failures)\n{verdict.report()}"
                            + (f"\n\n  conversation:{conversation}" if conversation else ""))


class SidecarFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            with _extra("testing,speech", "ivr's pytest plugin (recorded calls)"):
                from ivr.testing.replay import replay  # noqa: F401  (what running it needs, checked now)
                from ivr.testing.sidecar import load_sidecar
        except MissingExtra as exc:
            raise self.CollectError(str(exc)) from None
        try:
            sidecar = load_sidecar(self.path)
        except IvrError as exc:
            raise self.CollectError(f"invalid sidecar expectation file:\n{exc}") from None
        item = SidecarItem.from_parent(self, name=sidecar.name, sidecar=sidecar)
        if sidecar.known_failure:  # strict: once the call passes, the sidecar must say so
            item.add_marker(pytest.mark.xfail(reason=sidecar.known_failure, raises=CallFailed, strict=True))
        yield item


class SidecarItem(pytest.Item):
    def __init__(self, *, sidecar: Sidecar, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sidecar = sidecar

    def runtest(self) -> None:
        from ivr.testing.replay import replay

        sidecar, sim = self.sidecar, _shared(self.config)
        flow = _flow(self.config, sidecar)
        language = flow.language if flow is not None else None
        verdict = replay(sidecar.recording, sim, f"/voice/{sidecar.flow}",
                         _transcriber(self.config, sidecar.stt, language), language=language,
                         within=sidecar.within, expect=sidecar.expected(flow), channel=sidecar.caller_channel,
                         said=sidecar.said, flow=flow, risk=self.config.stash[_SESSION]["risk"],
                         again=not self.config.getoption("--ivr-url"))
        if verdict.status == "INCONCLUSIVE":
            if self.config.getoption("--ivr-inconclusive") == "xfail":
                pytest.xfail(f"inconclusive: {'; '.join(verdict.doubts)}")
            raise recording_inconclusive(sidecar, verdict)
        if not verdict.ok:
            raise recording_failed(sidecar, verdict)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, IvrError):  # the report, or a person's mistake, says it all
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, 0, f"recorded call {self.name}" + (f": {self.sidecar.description}"
                                                             if self.sidecar.description else "")
