"""A transcript cache on disk: what a recogniser heard, remembered by audio, engine, model, phrases and language.

Transcripts are JSON files under `IVR_CACHE_DIR` (default `~/.cache/ivr`) in `transcripts/`, keyed by a hash of
the samples, the engine, the model's identity, the sorted phrases and the language. So a second replay of the
same recordings runs no recogniser and loads no model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ivr.speech.transcript import AudioInput, Pcm16, Transcriber, Transcript, Wrapper, pcm16

log = logging.getLogger("ivr.speech.cache")
CACHE_VERSION = 1


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$IVR_CACHE_DIR/transcripts`, else `~/.cache/ivr/transcripts` (or under `$XDG_CACHE_HOME`)."""
    env = os.environ if env is None else env
    root = env.get("IVR_CACHE_DIR") or str(Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ivr")
    return Path(root).expanduser() / "transcripts"


class CachedTranscriber(Wrapper):
    """A transcriber that remembers what `inner` heard, in one JSON file per utterance. A corrupt or unreadable
    entry is ignored and rewritten; a cache that cannot be written is logged and skipped."""

    def __init__(self, inner: Transcriber, directory: str | Path | None = None) -> None:
        super().__init__(inner)
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.hits = self.misses = 0

    def key(self, samples: Pcm16, phrases: Sequence[str], language: str | None) -> str:
        digest = hashlib.sha256()
        for part in (f"v{CACHE_VERSION}", self.inner.engine, self.inner.identity,
                     json.dumps(sorted(set(phrases)), ensure_ascii=False), language or ""):
            digest.update(part.encode() + b"\0")
        digest.update(samples.astype("<i2").tobytes())
        return digest.hexdigest()

    def transcribe(self, audio: AudioInput, *, phrases: Sequence[str] = (),
                   language: str | None = None) -> Transcript:
        samples = pcm16(audio)
        key = self.key(samples, phrases, language)
        path = self.directory / key[:2] / f"{key}.json"
        found = self._read(path, key)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        transcript = self.inner.transcribe(audio, phrases=phrases, language=language)
        self._write(path, {"version": CACHE_VERSION, "key": key, "transcript": transcript.to_json()})
        return transcript

    @staticmethod
    def _read(path: Path, key: str) -> Transcript | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data["version"] != CACHE_VERSION or data["key"] != key:
                raise ValueError("written for another key or version")
            return Transcript.from_json(data["transcript"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as exc:  # JSONDecodeError and UnicodeError are ValueErrors
            log.warning("ignoring the unusable transcript cache entry %s: %s", path, exc)
            return None

    @staticmethod
    def _write(path: Path, data: Mapping[str, Any]) -> None:
        """Atomically: a reader sees the old entry, no entry, or the whole new one (write, then rename)."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, suffix=".tmp",
                                             delete=False) as tmp:
                json.dump(data, tmp, ensure_ascii=False)
            os.replace(tmp.name, path)
        except OSError as exc:
            log.warning("cannot write the transcript cache entry %s: %s", path, exc)
