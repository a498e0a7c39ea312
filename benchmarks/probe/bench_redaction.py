"""Redaction: cost per span attribute and recall on the labelled corpus, against baselines in one run.

Two questions, both answered against named baselines measured in the same run:

* **Cost.** Microseconds per span attribute with every detector and the
  attribute policy on (``Redactor.redact_attributes``), on two workloads
  generated from a fixed seed: the probe's own spans (ids, target URL,
  stage names, measurements, transcripts of which about a fifth carry
  written or spoken PII) and production spans as LiveKit, Pipecat and SIP
  gateways emit them (participant identities, SIP numbers, chat contexts
  as JSON, URLs with tokens). Target: under 15 µs per attribute on the
  probe workload.
* **Recall.** The labelled corpus in ``tests/redact/corpus`` (generated and
  hand-written utterances, with hard negatives), scored as the corpus test
  scores it: a PII item counts only if all its letters and digits are gone.

Baselines:

* ``today's redactor``: ``baseline_redact.py`` beside this script, the
  redactor as it was before this rewrite (commit 6f7f0bc), verbatim.
* ``presidio patterns``: Presidio's predefined English recognizers that need
  no NLP model (everything in its default registry except the spaCy NER
  recognizer), when ``presidio-analyzer`` is installed (``pip install
  'voiceobs[bench]'``); skipped otherwise. Its public-suffix lookup is kept
  offline. Like every contender it is timed without memoisation.

Run: ``python benchmarks/probe/bench_redaction.py [--spans N] [--repeats N]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

import baseline_redact  # noqa: E402  (beside this script)

from tests.redact.corpus.score import load_corpus, score  # noqa: E402
from voiceobs.redact import Redactor  # noqa: E402

CLEAN_TRANSCRIPTS = [
    "I'd like to book two tickets for flight 370 on Friday",
    "yes that's right",
    "can you tell me my balance",
    "press one for billing",
    "I want to change my seat to 12 C",
    "the meeting is at 5:30 tomorrow",
    "three hundred dollars please",
    "no thanks, that's all",
    "hello, is anyone there?",
    "I need a room for 2 nights in March",
]
PII_TRANSCRIPTS = [
    "my number is four one five five five five one two one two",
    "you can reach me at 415-555-1212",
    "my email is john dot smith at gmail dot com",
    "card number 4111 1111 1111 1111 expiring 12 25",
    "I was born on March 3rd 1985",
    "my account is double five seven three oh nine one two",
    "send it to jane.doe@example.com",
    "my social is one two three four five six seven eight nine",
]


def make_attributes(n_spans: int, seed: int = 7) -> list[dict[str, Any]]:
    """Probe and stage span attributes for ``n_spans`` spans, ~20% of transcripts carrying PII."""
    rng = random.Random(seed)
    spans = []
    for i in range(n_spans):
        stage = rng.choice(["vad", "asr", "respond", "tts", "transport", "turn", "send"])
        transcript = (
            rng.choice(PII_TRANSCRIPTS) if rng.random() < 0.2 else rng.choice(CLEAN_TRANSCRIPTS)
        )
        attrs: dict[str, Any] = {
            "voiceobs.run_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "voiceobs.probe": "support-line-loopback",
            "voiceobs.target": "ws://127.0.0.1:8765/twilio",
            "voice.stage": stage,
            "voice.turn_index": i % 4,
            "voice.audio_seconds": round(rng.uniform(0.5, 6.0), 3),
            "voice.output_chars": rng.randint(10, 200),
            "voice.ttfb_ms": round(rng.uniform(150, 900), 1),
            "voice.transcript": transcript,
            "voice.intent": rng.choice(["book_flight", "balance", "agent", "goodbye"]),
        }
        if rng.random() < 0.05:
            attrs["error.detail"] = "timeout after 8000 ms waiting for first audio"
        spans.append(attrs)
    return spans


def make_production_attributes(n_spans: int, seed: int = 11) -> list[dict[str, Any]]:
    """Spans as production voice bots export them: identities, SIP numbers, JSON chat contexts."""
    rng = random.Random(seed)
    spans = []
    for i in range(n_spans):
        caller = f"+1415555{rng.randint(1000, 9999)}"
        user = rng.choice(PII_TRANSCRIPTS) if rng.random() < 0.3 else rng.choice(CLEAN_TRANSCRIPTS)
        chat = [
            {"role": "system", "content": "You are a helpful airline assistant. Be brief."},
            {"role": "user", "content": rng.choice(CLEAN_TRANSCRIPTS)},
            {"role": "assistant", "content": "Sure, let me check that for you."},
            {"role": "user", "content": user},
        ]
        attrs: dict[str, Any] = {
            "lk.pii.participant_identity": f"sip_{caller}",
            "sip.phoneNumber": caller,
            "lk.pii.room_name": f"call-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}",
            "lk.speech_id": f"speech_{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}",
            "lk.pii.user_transcript": user,
            "lk.pii.chat_ctx": json.dumps(chat),
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": rng.randint(200, 4000),
            "gen_ai.usage.output_tokens": rng.randint(5, 200),
            "lk.response.ttft": round(rng.uniform(0.2, 1.5), 3),
            "url.full": f"wss://bot.example.com/agent?token=tok{rng.getrandbits(64):x}&room={i}",
        }
        spans.append(attrs)
    return spans


def _presidio() -> tuple[Callable[[str], list[tuple[int, int, str]]], str] | None:
    """Presidio's model-free recognizers as a detector: text -> [(start, end, entity)]."""
    try:
        import tldextract
        from presidio_analyzer import RecognizerRegistry
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer
    except ImportError:
        return None
    from importlib.metadata import version
    # The email recognizer checks domains against the public-suffix list: use the
    # copy bundled with tldextract instead of fetching it (no network here).
    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(languages=["en"])
    recognizers = [r for r in registry.recognizers if not isinstance(r, SpacyRecognizer)]

    def detect(text: str) -> list[tuple[int, int, str]]:
        found = []
        for r in recognizers:
            for res in r.analyze(text, r.supported_entities, None) or []:
                found.append((res.start, res.end, res.entity_type, res.score))
        return [(s, e, k) for s, e, k, sc in found if sc >= _PRESIDIO_MIN_SCORE]

    names = ", ".join(sorted(type(r).__name__.removesuffix("Recognizer") for r in recognizers))
    return detect, f"presidio-analyzer {version('presidio-analyzer')}: {names}"


_PRESIDIO_MIN_SCORE = 0.0  # Presidio's own default threshold
_PRESIDIO_KINDS = {
    "PHONE_NUMBER": "PHONE", "CREDIT_CARD": "CARD", "EMAIL_ADDRESS": "EMAIL", "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP", "US_SSN": "SSN", "DATE_TIME": "DOB", "UK_NINO": "NINO",
}  # fmt: skip


def _render(text: str, spans: list[tuple[int, int, str]]) -> str:
    """Replace merged detector spans with ``[KIND]`` placeholders (as voiceobs renders them)."""
    out, pos = [], 0
    merged: list[list[Any]] = []
    for s, e, k in sorted(spans):
        if merged and s < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e, k])
    for s, e, k in merged:
        out.append(text[pos:s])
        out.append(f"[{_PRESIDIO_KINDS.get(k, 'PII')}]")
        pos = e
    out.append(text[pos:])
    return "".join(out)


def _time_all(
    contenders: dict[str, Callable[[dict[str, Any]], Any]], spans: list[dict[str, Any]], repeats: int
) -> dict[str, list[float]]:
    """Seconds per attribute for each contender and repeat, the contenders interleaved.

    Interleaving means a burst of load on a shared machine hits every
    contender alike, so the ratios stay meaningful.
    """
    n_attrs = sum(len(s) for s in spans)
    out: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            for attrs in spans:
                fn(attrs)
            out[name].append((time.perf_counter() - t0) / n_attrs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spans", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-presidio", action="store_true", help="leave the Presidio baseline out")
    args = ap.parse_args()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.2f} at start")

    # No memo for the timed contenders: every repeat pays for every text.
    new = Redactor(use_env=False, memo_size=0)
    keyed = Redactor(b"bench-key", use_env=False, memo_size=0)
    memo = Redactor(use_env=False)
    old = baseline_redact.Redactor(use_env=False, memo_size=0)
    presidio = None if args.no_presidio else _presidio()

    def old_attrs(attrs: dict[str, Any]) -> Any:
        return {k: old.redact_value(v) for k, v in attrs.items()}

    contenders: dict[str, Callable[[dict[str, Any]], Any]] = {
        "voiceobs redact_attributes": new.redact_attributes,
        "voiceobs, keyed pseudonyms": keyed.redact_attributes,
        "voiceobs, memo on (default)": memo.redact_attributes,
        "today's redactor (6f7f0bc)": old_attrs,
    }
    if presidio is not None:
        detect = presidio[0]

        def presidio_attrs(attrs: dict[str, Any]) -> Any:
            return {k: detect(v) if isinstance(v, str) else v for k, v in attrs.items()}

        contenders["presidio patterns (detect only)"] = presidio_attrs
        print(presidio[1])
    elif args.no_presidio:
        print("presidio baseline left out (--no-presidio)")
    else:
        print("presidio-analyzer not installed: `pip install 'voiceobs[bench]'` adds that baseline")

    for label, spans in (
        ("probe spans", make_attributes(args.spans)),
        ("production spans", make_production_attributes(args.spans // 2)),
    ):
        n_attrs = sum(len(s) for s in spans)
        for fn in contenders.values():  # warm caches (regex compilation, phone metadata)
            for attrs in spans[:50]:
                fn(attrs)
        times = _time_all(contenders, spans, args.repeats)
        best = {name: min(v) * 1e6 for name, v in times.items()}
        med = {name: statistics.median(v) * 1e6 for name, v in times.items()}
        print(f"\n{label}: {len(spans)} spans, {n_attrs} attributes, best (median) of {args.repeats}")
        print(f"  {'contender':34s} {'us/attribute':>14s} {'vs voiceobs':>12s}")
        base = best["voiceobs redact_attributes"]
        for name in contenders:
            print(f"  {name:34s} {best[name]:7.2f} ({med[name]:5.2f}) {best[name] / base:11.2f}x")
        if label == "probe spans":
            verdict = "met" if base < 15 else "NOT met"
            print(f"  target: under 15 us per attribute with all detectors on -> {verdict} ({base:.2f})")

    records = load_corpus()
    print(f"\ncorpus: {len(records)} utterances, {sum(len(r.pii) for r in records)} labelled PII items, "
          f"{sum(1 for r in records if not r.pii)} hard negatives")  # fmt: skip
    scorers: dict[str, Callable[[str], str]] = {
        "voiceobs": Redactor(use_env=False).redact_text,
        "today's redactor (6f7f0bc)": baseline_redact.Redactor(use_env=False).redact_text,
    }
    if presidio is not None:
        detect = presidio[0]
        scorers["presidio patterns"] = lambda t: _render(t, detect(t))
    reports = {}
    for name, fn in scorers.items():
        t0 = time.perf_counter()
        reports[name] = score(records, fn)
        elapsed = time.perf_counter() - t0
        print(f"\n{reports[name].table(name)}\n  ({elapsed * 1e3 / len(records):.2f} ms per utterance)")
    kinds = sorted(reports["voiceobs"].items)
    print("\nrecall per kind, side by side:")
    print(f"  {'kind':9s}" + "".join(f"{n[:26]:>28s}" for n in reports))
    for kind in [*kinds, "overall", "kept"]:
        row = f"  {kind:9s}"
        for rep in reports.values():
            if kind == "overall":
                value = rep.recall
            elif kind == "kept":
                value = rep.kept
            else:
                c, t = rep.items.get(kind, [0, 0])
                value = c / t if t else float("nan")
            row += f"{value:28.3f}"
        print(row)


if __name__ == "__main__":
    main()
