"""Random and mutated input to every parser a user or a peer can reach: no traceback, no hang.

Each round mutates real example files (the shipped probe, SLO and hooks
specs, a real WAV render, real protocol messages) or builds random ones, with
a seeded RNG so a failure replays exactly, for a bounded number of cases. An
input may be refused, but only with the documented error (a ``VoiceObsError``
subclass with a one-line message, the documented exit codes at the CLI, a
``WireError`` or failure class in the probe); anything else fails the test
and prints the seed and the input.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import yaml

from tests.helpers import free_port
from voiceobs.errors import FailureClass, ProbeError, VoiceObsError

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261201
#: Cases per parser; each must finish well inside this many seconds.
CASES = 300
DEADLINE_S = 5.0


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    """Flip, drop, duplicate or insert bytes, or cut the input short."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if not b:
            b.extend(rng.randbytes(rng.randint(1, 16)))
            continue
        op = rng.randrange(5)
        i = rng.randrange(len(b))
        if op == 0:
            b[i] = rng.randrange(256)
        elif op == 1:
            del b[i : i + rng.randint(1, 32)]
        elif op == 2:
            b[i:i] = b[i : i + rng.randint(1, 64)]
        elif op == 3:
            b[i:i] = rng.randbytes(rng.randint(1, 16))
        else:
            del b[rng.randrange(len(b)) :]
    return bytes(b)


_WEIRD: list[Any] = [None, True, -1, 0, 2**70, -(2**70), 1e308, -1e308, math.nan, math.inf, -math.inf,
                     "", " ", "\x00", "é" * 300, "x" * 10_000, [], {}, [[[]]], {"a": {"b": None}},
                     "1h30m", "nan", "-5s", "ws://127.0.0.1:99999/x", "99.9999999%", "<<"]  # fmt: skip


def _mutate_tree(rng: random.Random, value: Any, depth: int = 0) -> Any:
    """Replace, drop or add values anywhere in parsed YAML/JSON."""
    if isinstance(value, dict) and value:
        out = dict(value)
        key = rng.choice(list(out))
        op = rng.randrange(4)
        if op == 0:
            out[key] = rng.choice(_WEIRD)
        elif op == 1:
            del out[key]
        elif op == 2:
            out[f"unknown_{rng.randrange(99)}"] = rng.choice(_WEIRD)
        else:
            out[key] = _mutate_tree(rng, out[key], depth + 1)
        return out
    if isinstance(value, list) and value:
        out_list = list(value)
        i = rng.randrange(len(out_list))
        if rng.random() < 0.5:
            out_list[i] = _mutate_tree(rng, out_list[i], depth + 1)
        else:
            out_list[i] = rng.choice(_WEIRD)
        return out_list
    return rng.choice(_WEIRD)


def _yaml_cases(paths: list[Path], rng: random.Random) -> Iterator[str]:
    texts = [p.read_text() for p in paths]
    for i in range(CASES):
        text = rng.choice(texts)
        if i % 3 == 0:
            yield _mutate_bytes(rng, text.encode()).decode("utf-8", "replace")
        else:
            tree = yaml.safe_load(text)
            for _ in range(rng.randint(1, 4)):
                tree = _mutate_tree(rng, tree)
            try:
                yield yaml.safe_dump(tree, allow_unicode=True)
            except (yaml.YAMLError, ValueError, OverflowError):
                yield text


def _check(fn: Callable[[], object], case: object, seed: int, allowed: tuple[type[BaseException], ...]) -> None:
    start = time.monotonic()
    try:
        fn()
    except allowed as exc:
        assert "\n" not in str(exc), f"seed {seed}: multi-line error {exc!r} for {case!r}"[:2000]
    except Exception as exc:  # the point of the test: nothing else may escape
        raise AssertionError(f"seed {seed}: {type(exc).__name__}: {exc} for input {case!r}"[:3000]) from exc
    assert time.monotonic() - start < DEADLINE_S, f"seed {seed}: took too long on {case!r}"[:2000]


def _parsers() -> dict[str, tuple[Callable[[str], object], list[Path]]]:
    from voiceobs.failover.spec import parse_hooks
    from voiceobs.probe.spec import parse_spec
    from voiceobs.slo.openslo import import_openslo_text
    from voiceobs.slo.spec import parse_slos

    probes = sorted((ROOT / "probes").glob("*.yaml"))
    specs = [p for p in probes if "version: voiceobs/v1" in p.read_text() and "turns:" in p.read_text()]
    slos = [ROOT / "probes" / "slos.yaml", ROOT / "tests" / "slo" / "golden" / "rules_input.yaml"]
    return {
        "probe spec": (lambda t: parse_spec(t, "fuzz.yaml"), specs),
        "SLO spec": (lambda t: parse_slos(t, source="fuzz.yaml"), slos),
        "hooks": (lambda t: parse_hooks(t, "fuzz.yaml"), [ROOT / "probes" / "hooks.yaml"]),
        "OpenSLO": (lambda t: import_openslo_text(t, source="fuzz.yaml"), slos),
    }


@pytest.mark.parametrize("name", ["probe spec", "SLO spec", "hooks", "OpenSLO"])
def test_spec_loaders_refuse_bad_yaml_with_one_line_errors(name: str) -> None:
    parse, paths = _parsers()[name]
    rng = random.Random(f"{SEED}-{name}")
    for i, text in enumerate(_yaml_cases(paths, rng)):
        _check(lambda text=text: parse(text), text, i, (VoiceObsError,))


def test_the_redaction_policy_loader_refuses_bad_files(tmp_path: Path) -> None:
    from voiceobs.redact import load_policy

    rng = random.Random(f"{SEED}-policy")
    source = ROOT / "voiceobs" / "redact" / "policy.yaml"
    path = tmp_path / "policy.yaml"
    for i, text in enumerate(_yaml_cases([source], rng)):
        path.write_text(text)
        _check(lambda: load_policy(path), text[:200], i, (VoiceObsError,))


def _wav_bytes() -> bytes:
    from voiceobs.audio.tts import render_speech

    buf = io.BytesIO()
    sf.write(buf, render_speech("The quick brown fox.", 16000), 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def test_audio_loader_refuses_corrupt_wav_with_one_line_errors(tmp_path: Path) -> None:
    from voiceobs.audio.io import load_audio

    rng = random.Random(f"{SEED}-wav")
    good = _wav_bytes()
    path = tmp_path / "fuzz.wav"
    for i in range(CASES):
        data = _mutate_bytes(rng, good[:4096] if i % 2 else good)
        path.write_bytes(data)
        _check(lambda: load_audio(path), data[:64], i, (VoiceObsError,))


def _twilio_messages() -> list[str]:
    media = {"event": "media", "streamSid": "MZ1", "media": {"payload": "//8A/w==", "track": "outbound"}}
    return [json.dumps(media), json.dumps({"event": "mark", "streamSid": "MZ1", "mark": {"name": "m"}}),
            json.dumps({"event": "clear", "streamSid": "MZ1"})]  # fmt: skip


def test_protocol_parsers_turn_any_message_into_an_event_or_a_wire_error() -> None:
    from voiceobs.probe.protocols import PcmWire, TwilioWire, WireError

    rng = random.Random(f"{SEED}-wire")
    samples = _twilio_messages()
    pcm_samples = [json.dumps({"event": "started"}), json.dumps({"event": "mark", "name": "x"}), b"\x00\x01" * 160]
    for i in range(CASES * 3):
        for wire, pool in ((TwilioWire(), samples), (PcmWire(), pcm_samples)):
            base = rng.choice(pool)
            if isinstance(base, str):
                message: str | bytes = (
                    _mutate_bytes(rng, base.encode()).decode("utf-8", "replace")
                    if i % 2 else json.dumps(_mutate_tree(rng, json.loads(base)))
                )  # fmt: skip
            else:
                message = _mutate_bytes(rng, base)
            _check(lambda wire=wire, message=message: wire.parse(message), message, i, (WireError,))


@pytest.mark.slow
def test_a_target_that_sends_garbage_frames_ends_the_call_with_a_failure_class() -> None:
    """Random bytes and malformed frames from a real WebSocket peer, on the real probe call."""
    from websockets.asyncio.server import ServerConnection, serve

    from voiceobs.probe.call import CallPlan, TurnPlan, place_call
    from voiceobs.probe.prompts import load_prompt
    from voiceobs.probe.protocols import TwilioWire

    rng = random.Random(f"{SEED}-socket")
    prompt = load_prompt(text="Hello there.", sample_rate=8000, protocol="twilio")
    payloads: list[bytes] = []
    for i in range(24):
        if i % 3 == 0:
            payloads.append(rng.randbytes(rng.randint(1, 4096)))  # raw bytes, no framing
        elif i % 3 == 1:
            frame = _mutate_bytes(rng, b"\x81\x7e\x00\x20" + _twilio_messages()[0].encode()[:32])
            payloads.append(frame)  # broken framing
        else:
            text = _mutate_bytes(rng, _twilio_messages()[rng.randrange(3)].encode())
            payloads.append(b"\x81" + bytes([min(len(text), 125)]) + text[:125])  # valid frame, bad JSON

    async def run_all() -> list[str]:
        outcomes: list[str] = []
        current: list[bytes] = []

        async def handler(ws: ServerConnection) -> None:
            await ws.recv()  # connected
            ws.transport.write(current[0])
            await asyncio.sleep(3)

        port = free_port()
        async with serve(handler, "127.0.0.1", port):
            for payload in payloads:
                current[:] = [payload]
                plan = CallPlan(
                    url=f"ws://127.0.0.1:{port}/twilio", turns=[TurnPlan(prompt, end_silence_s=0.3)],
                    connect_timeout_s=2, first_audio_timeout_s=1.0, call_timeout_s=4,
                )  # fmt: skip
                started = time.monotonic()
                try:
                    await place_call(plan, TwilioWire())
                    outcomes.append("ok")
                except ProbeError as exc:
                    assert isinstance(exc.failure_class, FailureClass)
                    assert "\n" not in str(exc)
                    outcomes.append(exc.failure_class.value)
                assert time.monotonic() - started < 8, f"call hung on {payload[:64]!r}"
        return outcomes

    outcomes = asyncio.run(run_all())
    assert len(outcomes) == len(payloads)
    # Garbage is never a healthy call.
    assert "ok" not in outcomes, outcomes


def test_the_fuzzer_can_fail() -> None:
    """A parser that lets an exception escape is caught by the same check."""

    def leaky(text: str) -> None:
        raise KeyError(text)

    with pytest.raises(AssertionError, match="KeyError"):
        _check(lambda: leaky("x"), "x", 0, (VoiceObsError,))
    assert np.isfinite(SEED)
