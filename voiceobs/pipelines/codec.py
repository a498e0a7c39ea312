"""The ``codec`` pipeline: a seeded telephone-network impairment chain.

Probes need to be checked against audio that is *known* to be worse: this
pipeline degrades the caller's audio the way a phone network does, by a
configured amount, and sends it back. The chain, in order, per 20 ms frame:

1. band-limit: resample to 8 kHz (torchaudio's windowed sinc) and, at the
   end, back to the call's rate (16 kHz calls only; an 8 kHz call is
   already narrowband). One frame of look-ahead on each resampling step
   keeps frame edges clean, which costs 20 ms per step (40 ms total);
2. G.711 mu-law or A-law quantisation (exact ITU tables, ``codec``);
3. packet loss, ``random`` (each frame lost with ``loss_rate``) or bursty
   ``gilbert`` (Gilbert-Elliott: good->bad with ``ge_p``, bad->good with
   ``ge_r``, frames lost in the bad state with ``ge_loss_bad``), concealed by
   repeating the last good frame at -6 dB per consecutive loss, silence
   after three;
4. additive white noise at ``snr_db`` relative to an active speech level of
   -26 dBov (a fixed reference, so the noise floor is steady like a line's);
5. ``latency_ms`` of constant added delay plus up to ``jitter_ms`` of
   uniformly distributed extra delay per frame (order is kept, like a jitter
   buffer that never reorders).

Every random draw comes from generators seeded with ``seed``, so the same
call gives the same impairment. Settings come from a JSON object (server
flag ``--codec-config``, env ``VOICEOBS_CODEC_CONFIG``, a path or inline
JSON), overridable per call with the start parameter ``voiceobs_codec``
holding the same JSON. The DSP runs on the pipeline's torch device.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torchaudio.functional as AF

from voiceobs.audio.g711 import alaw_decode, alaw_encode, mulaw_decode, mulaw_encode
from voiceobs.errors import ConfigError
from voiceobs.pipelines.base import CallInfo, CallSink, Session, frame_samples

_SPEECH_LEVEL_DBOV = -26.0


@dataclass(frozen=True)
class CodecConfig:
    """Impairment settings; the defaults are a clean mu-law phone line."""

    band_limit: bool = True
    codec: Literal["mulaw", "alaw", "none"] = "mulaw"
    loss: Literal["none", "random", "gilbert"] = "none"
    loss_rate: float = 0.0
    ge_p: float = 0.05
    ge_r: float = 0.5
    ge_loss_bad: float = 1.0
    snr_db: float | None = None
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.codec not in ("mulaw", "alaw", "none"):
            raise ConfigError(f"codec must be mulaw, alaw or none, not {self.codec!r}")
        if self.loss not in ("none", "random", "gilbert"):
            raise ConfigError(f"loss must be none, random or gilbert, not {self.loss!r}")
        for name in ("loss_rate", "ge_p", "ge_r", "ge_loss_bad"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"codec {name} must be within 0..1, got {value}")
        if self.latency_ms < 0 or self.jitter_ms < 0:
            raise ConfigError("codec latency_ms and jitter_ms must be 0 or more")

    @classmethod
    def from_mapping(cls, data: dict[str, Any], base: CodecConfig | None = None) -> CodecConfig:
        """Build from a dict, starting from ``base``; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown codec setting(s) {unknown}; known: {sorted(known)}")
        try:
            return replace(base or cls(), **data)
        except TypeError as exc:
            raise ConfigError(f"bad codec settings: {exc}") from exc

    @classmethod
    def load(cls, source: str | None) -> CodecConfig:
        """Inline JSON, a path to a JSON file, or None for the defaults."""
        if not source:
            return cls()
        text = source
        if not source.lstrip().startswith("{"):
            path = Path(source)
            if not path.is_file():
                raise ConfigError(f"codec config {source!r} is neither inline JSON nor a file")
            text = path.read_text()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"codec config is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError("codec config must be a JSON object")
        return cls.from_mapping(data)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for logs and the admin view)."""
        return asdict(self)


class LossModel:
    """Which 20 ms frames a line loses: independent (``random``) or bursty (``gilbert``)."""

    def __init__(self, config: CodecConfig, rng: np.random.Generator) -> None:
        self._cfg = config
        self._rng = rng
        self._bad = False

    @classmethod
    def for_caller(cls, loss: str, loss_rate: float, seed: int) -> LossModel:
        """The same loss model on a probe's outgoing line (a hard caller's ``loss:``)."""
        config = CodecConfig(loss=loss, loss_rate=loss_rate, seed=seed)  # type: ignore[arg-type]
        return cls(config, np.random.default_rng(seed))

    def lost(self) -> bool:
        cfg = self._cfg
        if cfg.loss == "random":
            return bool(self._rng.random() < cfg.loss_rate)
        if cfg.loss == "gilbert":
            if self._bad:
                self._bad = not (self._rng.random() < cfg.ge_r)
            else:
                self._bad = bool(self._rng.random() < cfg.ge_p)
            return self._bad and bool(self._rng.random() < cfg.ge_loss_bad)
        return False


class CodecSession:
    """One call's impairment chain and its delayed sender."""

    def __init__(self, call: CallInfo, sink: CallSink, config: CodecConfig, device: torch.device):
        self._sink = sink
        self._cfg = config
        self._rate = call.sample_rate
        self._device = device
        self._wide = call.sample_rate != 8000
        self._n8 = frame_samples(8000)
        self._n = frame_samples(call.sample_rate)
        rng = np.random.default_rng(config.seed)
        self._loss = LossModel(config, np.random.default_rng(rng.integers(2**32)))
        self._jitter_rng = np.random.default_rng(rng.integers(2**32))
        self._noise_gen = torch.Generator(device=device).manual_seed(int(rng.integers(2**31)))
        # One zero frame of history, so the first frame comes out (40 ms late) instead of lost.
        self._in_hist: list[torch.Tensor] = [torch.zeros(self._n, device=device)]
        self._mid_hist: list[torch.Tensor] = [torch.zeros(self._n8, device=device)]
        self._last_good: np.ndarray | None = None
        self._lost_run = 0
        self._last_due = 0.0
        self._queue: asyncio.Queue[tuple[float, np.ndarray] | None] = asyncio.Queue()
        self._sender = asyncio.get_running_loop().create_task(self._send_loop())

    async def on_audio(self, frame: np.ndarray) -> None:
        """Impair one frame and schedule what comes out (delayed by look-ahead)."""
        arrival = time.monotonic()
        out = self._process(frame)
        if out is None:
            return
        extra = self._cfg.latency_ms
        if self._cfg.jitter_ms:
            extra += float(self._jitter_rng.uniform(0.0, self._cfg.jitter_ms))
        due = max(arrival + extra / 1000.0, self._last_due)
        self._last_due = due
        self._queue.put_nowait((due, out))

    def _process(self, frame: np.ndarray) -> np.ndarray | None:
        x = torch.from_numpy(frame.astype(np.float32) / 32768.0).to(self._device)
        if self._wide and self._cfg.band_limit:
            self._in_hist = [*self._in_hist[-2:], x]
            if len(self._in_hist) < 3:
                return None
            down = AF.resample(torch.cat(self._in_hist), self._rate, 8000)
            narrow = down[self._n8 : 2 * self._n8]
        elif self._wide:
            narrow = x
        else:
            narrow = x
        coded = self._codec_and_loss(narrow)
        if self._wide and self._cfg.band_limit:
            self._mid_hist = [*self._mid_hist[-2:], coded]
            if len(self._mid_hist) < 3:
                return None
            up = AF.resample(torch.cat(self._mid_hist), 8000, self._rate)
            y = up[self._n : 2 * self._n]
        else:
            y = coded
        if self._cfg.snr_db is not None:
            level = 10 ** (_SPEECH_LEVEL_DBOV / 20) / 10 ** (self._cfg.snr_db / 20)
            noise = torch.randn(y.shape, generator=self._noise_gen, device=self._device)
            y = y + noise * level
        pcm = torch.clamp(y * 32768.0, -32768, 32767).round().to(torch.int16)
        return pcm.cpu().numpy()

    def _codec_and_loss(self, x: torch.Tensor) -> torch.Tensor:
        pcm = torch.clamp(x * 32768.0, -32768, 32767).round().to(torch.int16).cpu().numpy()
        if self._cfg.codec == "mulaw":
            pcm = mulaw_decode(mulaw_encode(pcm))
        elif self._cfg.codec == "alaw":
            pcm = alaw_decode(alaw_encode(pcm))
        if self._loss.lost():
            self._lost_run += 1
            if self._last_good is None or self._lost_run > 3:
                pcm = np.zeros_like(pcm)
            else:
                gain = 0.5**self._lost_run
                pcm = (self._last_good.astype(np.float32) * gain).astype(np.int16)
        else:
            self._lost_run = 0
            self._last_good = pcm
        return torch.from_numpy(pcm.astype(np.float32) / 32768.0).to(self._device)

    async def _send_loop(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            due, frame = item
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._sink.send_audio(frame)

    async def close(self) -> None:
        """Stop the sender; frames still queued are dropped with the call."""
        self._sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._sender


class CodecPipeline:
    """Impairs and returns the caller's audio; see the module docstring."""

    name = "codec"

    def __init__(
        self, config: CodecConfig | None = None, device: torch.device | None = None
    ) -> None:
        self.config = config or CodecConfig()
        self.device = device or torch.device("cpu")

    async def load(self) -> None:
        """Nothing to load (torchaudio kernels are built on first use)."""

    def open_session(self, call: CallInfo, sink: CallSink) -> Session:
        """Per-call overrides come from the ``voiceobs_codec`` start parameter."""
        config = self.config
        override = call.params.get("voiceobs_codec")
        if override:
            try:
                data = json.loads(override)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"voiceobs_codec parameter is not valid JSON: {exc}") from exc
            if not isinstance(data, dict):
                raise ConfigError("voiceobs_codec parameter must be a JSON object")
            config = CodecConfig.from_mapping(data, base=config)
        return CodecSession(call, sink, config, self.device)

    async def aclose(self) -> None:
        """Nothing to release."""


__all__ = ["CodecConfig", "CodecPipeline", "CodecSession", "LossModel"]
