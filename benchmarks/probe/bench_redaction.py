"""Cost of PII redaction per span attribute, against two baselines measured in the same run.

Workload: span attributes as a probe turn and a pipeline's stage spans carry
them (ids, URLs, stage names, measurements, and transcripts of which about a
fifth hold written or spoken PII), generated from a fixed seed.

Baselines (Presidio is not installed here and needs spaCy models, which
cannot be downloaded offline, so it is not compared):

* ``phonenumbers-only``: ``phonenumbers.PhoneNumberMatcher`` run on every
  string value, i.e. what a redactor built on that library alone costs
  before it detects anything else.
* ``all-detectors``: every voiceobs detector (the same compiled patterns and
  the phone matcher) run on every string with no gating and no replacement,
  i.e. a lower bound on voiceobs without its fast path and detector gates.

Run: ``.venv/bin/python benchmarks/probe/bench_redaction.py [--spans N]``
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import phonenumbers

from voiceobs import redact
from voiceobs.redact import Redactor

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
    """Attribute sets for ``n_spans`` spans, ~20% of transcripts carrying PII."""
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


def _naive_all_detectors(region: str) -> Callable[[Any], Any]:
    """Every detector on every string, no gates: the cost the fast path avoids."""
    patterns = [
        redact._EMAIL_RE,
        redact._SPOKEN_EMAIL_RE,
        redact._IBAN_RE,
        redact._IPV4_RE,
        redact._IPV6_RE,
        redact._DOB_RE,
        redact._SSN_RE,
        redact._SSN_WRITTEN_CONTEXT_RE,
        redact._WRITTEN_RUN_RE,
        redact._SPOKEN_RUN_RE,
    ]

    def run(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        for p in patterns:
            for _ in p.finditer(value):
                pass
        for _ in phonenumbers.PhoneNumberMatcher(value, region):
            pass
        # Detection only, no replacement: a lower bound on the ungated cost.
        return value

    return run


def _phonenumbers_only(region: str) -> Callable[[Any], Any]:
    def run(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        out = value
        for m in phonenumbers.PhoneNumberMatcher(value, region):
            out = out.replace(m.raw_string, "[PHONE]")
        return out

    return run


def _presidio_patterns() -> Callable[[Any], Any] | None:
    """Presidio's pattern recognizers on every string, when presidio-analyzer is installed.

    They need no spaCy model when called directly (``nlp_artifacts=None``), so
    they run offline; like the all-detectors baseline they only detect, and
    they know written forms only (no "four one five ...", no "at gmail dot com").
    """
    try:
        from presidio_analyzer.predefined_recognizers import (
            CreditCardRecognizer,
            DateRecognizer,
            EmailRecognizer,
            IbanRecognizer,
            IpRecognizer,
            PhoneRecognizer,
            UsSsnRecognizer,
        )
    except ImportError:
        return None
    recognizers = [
        r()
        for r in (CreditCardRecognizer, DateRecognizer, EmailRecognizer, IbanRecognizer,
                  IpRecognizer, PhoneRecognizer, UsSsnRecognizer)
    ]  # fmt: skip

    def run(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        found = []
        for r in recognizers:
            found += r.analyze(value, r.supported_entities, None)
        return found

    return run


def _time(fn: Callable[[Any], Any], spans: list[dict[str, Any]], repeats: int) -> list[float]:
    """Seconds per attribute, one figure per repeat (best-of is taken by the caller)."""
    n_attrs = sum(len(s) for s in spans)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for attrs in spans:
            for v in attrs.values():
                fn(v)
        out.append((time.perf_counter() - t0) / n_attrs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spans", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    spans = make_attributes(args.spans)
    n_attrs = sum(len(s) for s in spans)
    # No memo: every repeat pays for every text, as unique transcripts do.
    redactor = Redactor(use_env=False, memo_size=0)
    keyed = Redactor(b"bench-key", use_env=False, memo_size=0)
    memo = Redactor(use_env=False)
    contenders: dict[str, Callable[[Any], Any]] = {
        "voiceobs": redactor.redact_value,
        "voiceobs (keyed HMAC)": keyed.redact_value,
        "voiceobs (memo, repeated texts)": memo.redact_value,
        "all-detectors (no fast path)": _naive_all_detectors("US"),
        "phonenumbers-only": _phonenumbers_only("US"),
    }
    presidio = _presidio_patterns()
    if presidio is not None:
        contenders["presidio pattern recognizers"] = presidio
    else:
        print("presidio-analyzer not installed: `pip install presidio-analyzer` adds that baseline")
    # Warm up caches (regex compilation, phonenumbers metadata) outside the timing.
    for fn in contenders.values():
        _time(fn, spans[:50], 1)
    results = {name: min(_time(fn, spans, args.repeats)) * 1e6 for name, fn in contenders.items()}

    # Per-kind split for voiceobs: the fast-path share and the cost of a PII transcript.
    short = [v for s in spans for k, v in s.items() if k != "voice.transcript"]
    pii = [t for t in PII_TRANSCRIPTS for _ in range(50)]
    clean = [t for t in CLEAN_TRANSCRIPTS for _ in range(50)]

    def per_item(items: list[Any]) -> float:
        best = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for v in items:
                redactor.redact_value(v)
            best.append((time.perf_counter() - t0) / len(items))
        return min(best) * 1e6

    leaks = sum(
        1
        for t in PII_TRANSCRIPTS
        if redactor.redact_text(t) == t or "[" not in redactor.redact_text(t)
    )
    print(f"workload: {args.spans} spans, {n_attrs} attributes (seed 7), best of {args.repeats}")
    print(f"{'contender':32s} {'us/attribute':>12s} {'us/span':>9s}")
    per_span = n_attrs / args.spans
    for name, us in results.items():
        print(f"{name:32s} {us:12.2f} {us * per_span:9.1f}")
    base = results["voiceobs"]
    print(f"speed-up vs all-detectors:   {results['all-detectors (no fast path)'] / base:6.1f}x")
    print(f"speed-up vs phonenumbers-only: {results['phonenumbers-only'] / base:6.1f}x")
    if "presidio pattern recognizers" in results:
        print(f"speed-up vs presidio patterns: {results['presidio pattern recognizers'] / base:6.1f}x")
    print(f"voiceobs, short non-transcript attributes: {per_item(short):7.2f} us")
    print(f"voiceobs, clean transcripts:               {per_item(clean):7.2f} us")
    print(f"voiceobs, transcripts with PII:            {per_item(pii):7.2f} us")
    print(f"PII transcripts left unredacted: {leaks} of {len(PII_TRANSCRIPTS)}")
    print(f"target: under 50 us per attribute -> {'met' if base < 50 else 'NOT met'}")
    print("statistics over repeats (voiceobs):", end=" ")
    print(f"median {statistics.median(_time(redactor.redact_value, spans, 3)) * 1e6:.2f} us")


if __name__ == "__main__":
    main()
