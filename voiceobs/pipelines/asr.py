"""Speech recognition with pocketsphinx and its bundled en-us model.

Plain n-gram decoding of espeak-ng speech is poor (word error rate around
0.8 measured on the agent's prompts: "please cancel my order" came out as
"the console order"). The agent only needs to tell a handful of intents
apart, so by default the decoder is constrained by a JSGF grammar whose
sentences are the intent table's example phrases: measured on eleven
espeak-ng prompts, nine of the nine in-grammar ones decoded exactly, with
20-300 ms of CPU per two-second utterance. Over the Twilio path (8 kHz
mu-law, upsampled here) espeak-ng callers fare worse: 17 of the 24 intent
phrases recognised, against 24 of 24 spoken by the hibari voice
(benchmarks/pipelines/bench_voice.py), which is why the example spec speaks
with hibari. ``mode="lm"`` keeps open vocabulary decoding for callers who
need it.

Decoders are not thread-safe, so the recogniser keeps a small pool and
decodes on worker threads, one decoder per thread at a time.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np

from voiceobs.errors import PipelineError


def _grammar(phrases: list[str]) -> str:
    cleaned = sorted({re.sub(r"[^a-z' ]", "", p.lower()).strip() for p in phrases} - {""})
    if not cleaned:
        raise PipelineError("the ASR grammar needs at least one phrase")
    return "#JSGF V1.0;\ngrammar intents;\npublic <s> = " + " | ".join(cleaned) + " ;\n"


class PocketsphinxAsr:
    """Pooled pocketsphinx decoders (grammar or language-model search)."""

    def __init__(
        self, phrases: list[str], mode: Literal["grammar", "lm"] = "grammar", workers: int = 2
    ) -> None:
        self.mode = mode
        self._phrases = phrases
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asr")
        self._decoders: asyncio.Queue[object] | None = None
        self._workers = workers

    def _make_decoder(self) -> object:
        from pocketsphinx import Config, Decoder

        config = Config()
        config["logfn"] = "/dev/null"
        decoder = Decoder(config)
        if self.mode == "grammar":
            decoder.add_jsgf_string("intents", _grammar(self._phrases))
            decoder.activate_search("intents")
        return decoder

    async def load(self) -> None:
        """Build the decoders on the worker threads (a second or so for the LM)."""
        loop = asyncio.get_running_loop()
        decoders = await asyncio.gather(
            *[loop.run_in_executor(self._pool, self._make_decoder) for _ in range(self._workers)]
        )
        self._decoders = asyncio.Queue()
        for d in decoders:
            self._decoders.put_nowait(d)

    @staticmethod
    def _decode(decoder: object, pcm16k: np.ndarray) -> str:
        d = decoder
        d.start_utt()  # type: ignore[attr-defined]
        d.process_raw(pcm16k.astype(np.int16).tobytes(), False, True)  # type: ignore[attr-defined]
        d.end_utt()  # type: ignore[attr-defined]
        hyp = d.hyp()  # type: ignore[attr-defined]
        return str(hyp.hypstr) if hyp is not None else ""

    async def transcribe(self, pcm16k: np.ndarray) -> str:
        """Transcribe one utterance of 16 kHz int16 audio."""
        if self._decoders is None:
            raise PipelineError("ASR used before load(); the server must load the pipeline first")
        decoder = await self._decoders.get()
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, self._decode, decoder, pcm16k)
        finally:
            self._decoders.put_nowait(decoder)

    def close(self) -> None:
        """Stop the worker threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["PocketsphinxAsr"]
