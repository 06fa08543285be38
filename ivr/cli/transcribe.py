"""`ivr transcribe`: what each audio file says, and what the IVR would take from it; and the speech-to-text
options it shares with `ivr replay` (`stt_options`). Heavy imports happen inside the command.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from ivr.cli.common import needs
from ivr.errors import UsageError

STT_ENGINES = click.Choice(["vosk", "whisper"])


def stt_options(f: Any) -> Any:
    f = click.option("--cache-dir", metavar="DIR", envvar="IVR_CACHE_DIR", show_envvar=True,
                     help="the transcript cache (default: ~/.cache/ivr; shared by every worker, so on a cluster a "
                          "directory on shared storage hears each utterance once anywhere)")(f)
    f = click.option("--no-cache", is_flag=True, help="recognise again even when a cached transcript exists")(f)
    f = click.option("--vosk-model", metavar="DIR", help="a Vosk model directory (default: $IVR_VOSK_MODEL)")(f)
    f = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None, expose_value=False,
                     callback=_whisper_device,
                     help="where Whisper runs: auto (a CUDA GPU when there is one, else the CPU), cpu or cuda "
                          "(default: $IVR_WHISPER_DEVICE, else auto)")(f)
    return click.option("--stt", type=STT_ENGINES, default=None,
                        help="speech-to-text engine (default: $IVR_STT, else vosk for Korean flows or a configured "
                             "Vosk model, else whisper)")(f)


def _whisper_device(ctx: click.Context, _param: Any, value: str | None) -> None:
    """--device reaches the recognisers as IVR_WHISPER_DEVICE (as the command's environment does, so worker
    processes see it too), for this command only."""
    if value is None:
        return
    before = os.environ.get("IVR_WHISPER_DEVICE")
    os.environ["IVR_WHISPER_DEVICE"] = value

    def restore() -> None:
        if before is None:
            os.environ.pop("IVR_WHISPER_DEVICE", None)
        else:
            os.environ["IVR_WHISPER_DEVICE"] = before

    ctx.call_on_close(restore)


@click.command("transcribe")
@click.argument("files", metavar="AUDIO...", nargs=-1, required=True)
@click.option("--flow", "flow_file", metavar="FLOW", help="interpret what was heard as this flow would")
@click.option("--at", "node", metavar="NODE", help="the node that hears it (default: the first that gathers input)")
@stt_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def transcribe_cmd(files: tuple[str, ...], flow_file: str | None, node: str | None, stt: str | None,
                   vosk_model: str | None, no_cache: bool, cache_dir: str | None, fmt: str) -> None:
    """Print what each audio file says (and, with --flow, the intent and digits the IVR would take)."""
    phrases: tuple[str, ...]
    needs("speech", "ivr transcribe")
    from ivr.speech.audio import load, load_all
    from ivr.speech.choose import get_transcriber
    from ivr.speech.split import detect_dtmf

    flow, phrases = None, ()
    if flow_file:
        flow, node, phrases = _listening(flow_file, node)
    transcriber = get_transcriber(stt, language=flow.language if flow else None, vosk_model=vosk_model,
                                  cache=not no_cache, cache_dir=Path(cache_dir) / "transcripts" if cache_dir else None)

    def heard(path: Path) -> dict[str, Any]:
        """One file's row: a file at a time, so a batch holds one file's audio at most, and a bad one fails alone."""
        audio = load(path)
        keys = "".join(t.key for t in detect_dtmf(audio))
        said = transcriber.transcribe(audio, phrases=phrases, language=flow.language if flow else None)
        return {"file": audio.source, "text": said.text, "confidence": said.confidence,
                "intent": _intent(flow, node, said.text, said.confidence, keys), "digits": keys or None}

    batch = load_all(files, heard)
    rows = [row for _name, row in batch.done]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        for r in rows:
            conf = f" ({r['confidence']:.2f})" if r["confidence"] is not None else ""
            extra = (f" -> {r['intent']}" if r["intent"] else "") + (f" [keys {r['digits']}]" if r["digits"] else "")
            click.echo(f"{r['file']}: {r['text']!r}{conf}{extra}")
    for failure in batch.failed:
        click.echo(f"error: {failure}", err=True)
    if batch.failed:
        sys.exit(2)


def _listening(flow_file: str, node: str | None) -> tuple[Any, str, tuple[str, ...]]:
    from ivr.flow import engine
    from ivr.flow.loader import load_flow
    from ivr.flow.model import GatherNode

    flow = load_flow(flow_file)[0]
    gathering = [k for k, n in flow.nodes.items() if isinstance(n, GatherNode)]
    node = node or (gathering[0] if gathering else None)
    if node not in gathering:
        raise UsageError(f"--at: {node!r} is not a node that gathers input; choices: {gathering}")
    return flow, node, engine.gather_for(flow, node).hints


def _intent(flow: Any, node: str | None, text: str, confidence: float | None, keys: str) -> str | None:
    if flow is None or node is None:
        return None
    from ivr.flow.caller import Digits, Silence, Speech
    from ivr.flow.intents import interpret

    heard = Digits(keys) if keys else Speech(text, confidence) if text.strip() else Silence()
    return str(interpret(flow, node, heard))
