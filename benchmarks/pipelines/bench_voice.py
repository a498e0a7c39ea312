"""Which voice should the reference agent (and the probe's prompts) speak with?

A probe scores the agent's reply as a Twilio caller hears it: the agent's
audio at 8 kHz, through a mu-law round trip, transcribed by pocketsphinx's
default model (voiceobs/quality/asr.py). If that chain cannot understand a
healthy agent, WER SLOs and keyword checks fail on a bot that is fine. This
benchmark measures, per candidate voice:

* replies: WER of every reply the responder can say, rendered exactly as the
  agent sends it (sentence by sentence, each padded to whole 20 ms frames),
  band-limited to 8 kHz and mu-law coded; and the WER over the example
  conversation (the three turns of probes/agent.yaml: per-turn values, their
  mean, and word-weighted over the conversation), with keyword hits;
* DNSMOS (P.835 OVRL/SIG/BAK) of the same 8 kHz replies, as a probe scores them;
* prompts: how often the agent's own ASR (grammar-constrained pocketsphinx)
  plus responder picks the right intent for every example phrase and for the
  spec's prompts, spoken by the voice and sent over the Twilio path.

Baseline: espeak-ng ``en-us`` at 150 words/min (the voice the agent had),
measured in the same run; ratios are baseline WER / candidate WER.

    .venv/bin/python benchmarks/pipelines/bench_voice.py
    .venv/bin/python benchmarks/pipelines/bench_voice.py --voices espeak:en-us@150 hibari@150 hibari@180
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from voiceobs.audio.g711 import float_to_int16, mulaw_decode, mulaw_encode  # noqa: E402
from voiceobs.audio.tts import Voice, describe_voice, parse_voice, render_speech  # noqa: E402
from voiceobs.pipelines.agent import AgentSettings, _to_16k  # noqa: E402
from voiceobs.pipelines.asr import PocketsphinxAsr  # noqa: E402
from voiceobs.pipelines.responder import IntentResponder  # noqa: E402
from voiceobs.pipelines.speech import split_sentences  # noqa: E402
from voiceobs.probe.scoring import keywords_missing  # noqa: E402
from voiceobs.probe.spec import load_spec  # noqa: E402
from voiceobs.quality import score, transcribe, wer  # noqa: E402

RATE = 8000
FRAME = RATE // 50
BASELINE = "espeak:en-us@150"
DEFAULT_VOICES = [BASELINE, *(f"hibari@{w}" for w in (150, 160, 170, 180, 190, 200))]


def voice_of(text: str) -> Voice:
    name, _, wpm = text.partition("@")
    return parse_voice(name, int(wpm) if wpm else None)


def label(voice: Voice) -> str:
    return f"{describe_voice(voice)}@{voice.words_per_minute}"


def agent_reply_8k(text: str, voice: Voice, cache: Path) -> np.ndarray:
    """What a Twilio caller receives: sentences rendered at 8 kHz, frame-padded, mu-law coded."""
    parts = []
    for sentence in split_sentences(text):
        pcm = float_to_int16(render_speech(sentence, RATE, voice, cache_dir=cache))
        parts.append(np.pad(pcm, (0, (-pcm.size) % FRAME)))
    # The probe keeps listening past the reply; a little silence either side, as it hears it.
    pcm = np.concatenate([np.zeros(RATE // 5, np.int16), *parts, np.zeros(RATE // 2, np.int16)])
    return mulaw_decode(mulaw_encode(pcm)).astype(np.float32) / 32768.0


def caller_prompt_16k(text: str, voice: Voice, cache: Path) -> np.ndarray:
    """What the agent's ASR gets: the prompt at 8 kHz mu-law, upsampled as the agent does."""
    pcm = float_to_int16(render_speech(text, RATE, voice, cache_dir=cache))
    # The VAD hands over its preroll and the hangover's silence with the speech.
    settings = AgentSettings()
    lead = np.zeros(int(RATE * settings.preroll_ms / 1000), np.int16)
    tail = np.zeros(int(RATE * settings.hangover_ms / 1000), np.int16)
    pcm = np.concatenate([lead, pcm, tail])
    return _to_16k(mulaw_decode(mulaw_encode(pcm)), RATE)


def measure_replies(voice: Voice, cache: Path, conversation: list[tuple[str, list[str]]]) -> dict:
    responder = IntentResponder()
    texts = responder.replies()
    per_reply: dict[str, tuple[float, str]] = {}
    dns: list[tuple[float, float, float]] = []
    for text in texts:
        audio = agent_reply_8k(text, voice, cache)
        heard = transcribe(audio, RATE)
        per_reply[text] = (float(wer(text, heard)), heard)
        s = score(
            None, audio, RATE, metrics=("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak"), align=False
        )
        dns.append((float(s.dnsmos_ovrl), float(s.dnsmos_sig), float(s.dnsmos_bak)))
    turns = []
    for text, keywords in conversation:
        w, heard = per_reply[text]
        turns.append((w, len(text.split()), not keywords_missing(heard, keywords)))
    weighted = sum(w * n for w, n, _ in turns) / sum(n for _, n, _ in turns)
    return {
        "per_reply": per_reply,
        "turn_wer": [w for w, _, _ in turns],
        "conv_wer": weighted,
        "conv_mean": float(np.mean([w for w, _, _ in turns])),
        "keywords": sum(k for _, _, k in turns),
        "all_mean": float(np.mean([w for w, _ in per_reply.values()])),
        "dnsmos": tuple(float(np.mean([d[i] for d in dns])) for i in range(3)),
    }


async def measure_prompts(voice: Voice, cache: Path, spec_prompts: list[tuple[str, str]]) -> dict:
    responder = IntentResponder()
    asr = PocketsphinxAsr(responder.phrases(), workers=1)
    await asr.load()
    try:
        phrases = [(p, i.name) for i in responder.intents for p in i.phrases]
        misses: list[str] = []
        right_phrases = 0
        for text, intent in phrases:
            heard = await asr.transcribe(caller_prompt_16k(text, voice, cache))
            ok = responder.classify(heard) == intent
            right_phrases += ok
            if not ok:
                misses.append(f"phrase {text!r} -> {heard!r}")
        right_spec = 0
        for text, intent in spec_prompts:
            heard = await asr.transcribe(caller_prompt_16k(text, voice, cache))
            ok = responder.classify(heard) == intent
            right_spec += ok
            if not ok:
                misses.append(f"spec prompt {text!r} -> {heard!r}")
    finally:
        asr.close()
    return {
        "phrases": (right_phrases, len(phrases)),
        "spec": (right_spec, len(spec_prompts)),
        "misses": misses,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voices", nargs="+", default=DEFAULT_VOICES, help="engine[:name][@wpm] ...")
    ap.add_argument("--spec", default=str(ROOT / "probes" / "agent.yaml"))
    ap.add_argument("--details", action="store_true", help="print every reply's transcript")
    args = ap.parse_args()
    spec = load_spec(args.spec)
    conversation = [(t.expect.text or "", list(t.expect.keywords)) for t in spec.turns]
    spec_prompts = [(t.prompt or "", t.expect.intent or "") for t in spec.turns]
    voices = [voice_of(v) for v in args.voices]
    if label(voice_of(BASELINE)) not in {label(v) for v in voices}:
        voices.insert(0, voice_of(BASELINE))
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-voice-") as tmp:
        cache = Path(tmp)
        for voice in voices:
            r = measure_replies(voice, cache, conversation)
            r.update(asyncio.run(measure_prompts(voice, cache, spec_prompts)))
            results[label(voice)] = r
    base = results[label(voice_of(BASELINE))]
    print(f"example conversation: {args.spec} ({len(conversation)} turns)")
    print(
        "| voice | turn WER | conversation WER (word-weighted) | mean turn WER | keywords heard"
        " | all replies mean WER | ratio vs baseline | DNSMOS OVRL / SIG / BAK"
        " | agent ASR: phrases / spec prompts |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        ratio = base["conv_wer"] / r["conv_wer"] if r["conv_wer"] > 0 else float("inf")
        o, s, b = r["dnsmos"]
        print(
            f"| {name} | {' / '.join(f'{w:.2f}' for w in r['turn_wer'])} | {r['conv_wer']:.3f}"
            f" | {r['conv_mean']:.3f} | {r['keywords']}/{len(conversation)} | {r['all_mean']:.3f}"
            f" | {ratio:.2f}x | {o:.2f} / {s:.2f} / {b:.2f}"
            f" | {r['phrases'][0]}/{r['phrases'][1]} / {r['spec'][0]}/{r['spec'][1]} |"
        )
    if args.details:
        for name, r in results.items():
            print(f"\n{name}")
            for text, (w, heard) in r["per_reply"].items():
                print(f"  {w:.2f}  {text!r} -> {heard!r}")
            for miss in r["misses"]:
                print(f"  agent ASR missed the intent of {miss}")


if __name__ == "__main__":
    main()
