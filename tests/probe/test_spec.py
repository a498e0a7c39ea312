"""Spec validation: good specs load, bad ones name the file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from voiceobs.errors import SpecError
from voiceobs.probe.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
version: voiceobs/v1
name: echo-check
target: ws://127.0.0.1:8765/twilio
protocol: twilio
turns:
  - prompt: "Hello there."
    reference: prompt
metrics: [pesq_nb, stoi]
"""


@pytest.mark.parametrize("name", ["echo.yaml", "codec.yaml", "agent.yaml"])
def test_example_specs_load(name: str) -> None:
    spec = load_spec(ROOT / "probes" / name)
    assert spec.version == "voiceobs/v1"
    assert spec.turns


def test_good_spec_defaults() -> None:
    spec = parse_spec(GOOD, "good.yaml")
    assert spec.total_calls == 1
    assert spec.sample_rate == 8000
    assert spec.turns[0].reference == "prompt"
    assert spec.source == "good.yaml"


def _error(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_spec(text, "bad.yaml")
    return info.value


def test_unknown_field_names_its_line() -> None:
    err = _error(GOOD.replace("    reference: prompt\n", "    reference: prompt\n    refrence: golden\n"))
    assert (err.path, err.line, err.field) == ("bad.yaml", 8, "turns[0].refrence")
    assert str(err).startswith("bad.yaml:8: turns[0].refrence:")


def test_wrong_type_names_its_line() -> None:
    err = _error(GOOD + "concurrency: many\n")
    assert (err.line, err.field) == (9, "concurrency")


def test_nested_value_error_line() -> None:
    err = _error(GOOD + "timeouts:\n  connect_s: 5\n  first_audio_s: -1\n")
    assert (err.line, err.field) == (11, "timeouts.first_audio_s")


def test_bad_version() -> None:
    err = _error(GOOD.replace("voiceobs/v1", "voiceobs/v9"))
    assert (err.line, err.field) == (1, "version")
    assert "voiceobs/v1" in str(err)


def test_prompt_and_wav_both_given() -> None:
    err = _error(GOOD.replace('  - prompt: "Hello there."\n', '  - prompt: "Hello there."\n    wav: a.wav\n'))
    assert err.line == 6 and err.field == "turns[0]"
    assert "exactly one" in str(err)


def test_unknown_metric_and_target() -> None:
    err = _error(GOOD.replace("[pesq_nb, stoi]", "[pesq_nb, loudness]"))
    assert err.line == 8 and err.field.startswith("metrics")
    err = _error(GOOD.replace("ws://127.0.0.1:8765/twilio", "http://example.com"))
    assert (err.line, err.field) == (3, "target")


def test_missing_field_points_at_document() -> None:
    err = _error(GOOD.replace("name: echo-check\n", ""))
    assert err.field == "name" and err.line == 1


def test_invalid_yaml_has_line() -> None:
    err = _error(GOOD + "labels: {a: [\n")
    assert err.line is not None and err.line >= 9
    assert "YAML" in str(err)


def test_missing_file() -> None:
    with pytest.raises(SpecError, match="no such probe spec"):
        load_spec("/nonexistent/probe.yaml")


def test_concurrency_override_without_calls_sets_the_call_count() -> None:
    spec = parse_spec(GOOD, "good.yaml").with_concurrency(3)
    assert (spec.concurrency, spec.total_calls) == (3, 3)
    assert spec.source == "good.yaml"


def test_concurrency_override_keeps_the_specs_calls() -> None:
    spec = parse_spec(GOOD + "calls: 2\n", "good.yaml")
    assert (spec.with_concurrency(5).total_calls, spec.with_concurrency(1).total_calls) == (2, 2)
    assert spec.with_concurrency(None) is spec


def test_concurrency_override_out_of_range_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="concurrency must be within"):
        parse_spec(GOOD, "good.yaml").with_concurrency(0)


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("ws://127.0.0.1:99999/x", "Port out of range"),
        ("ws://:80/x", "names no host"),
        ("ws://h:0/x", "port 0"),
        ("ws://[::1/x", "not a valid URL"),
        ("ws://a b/x", "whitespace"),
    ],
)
def test_a_target_no_call_could_reach_is_a_spec_error_with_its_line(target: str, words: str) -> None:
    from voiceobs.errors import SpecError
    from voiceobs.probe.spec import parse_spec

    with pytest.raises(SpecError, match=words) as info:
        parse_spec(f'version: voiceobs/v1\nname: p\ntarget: "{target}"\nturns: [{{prompt: hi there}}]\n', "s.yaml")
    assert info.value.line == 3 and info.value.field == "target"


def test_voice_defaults_to_espeak_en_us() -> None:
    voice = parse_spec(GOOD, "good.yaml").prompt_voice
    assert (voice.engine, voice.name, voice.words_per_minute) == ("espeak", "en-us", 150)


@pytest.mark.parametrize(
    ("line", "engine", "name", "wpm"),
    [
        ("voice: en-gb\n", "espeak", "en-gb", 150),
        ("voice: espeak:en-gb\nwords_per_minute: 175\n", "espeak", "en-gb", 175),
        ("voice: hibari\n", "hibari", "heart", 180),  # hibari's own default rate
        ("voice: hibari:heart\nwords_per_minute: 150\n", "hibari", "heart", 150),
    ],
)
def test_voice_picks_engine_and_rate(line: str, engine: str, name: str, wpm: int) -> None:
    voice = parse_spec(GOOD + line, "good.yaml").prompt_voice
    assert (voice.engine, voice.name, voice.words_per_minute) == (engine, name, wpm)


def test_a_voice_that_would_be_downloaded_is_refused_at_its_line() -> None:
    err = _error(GOOD + "voice: hibari:emma\n")
    assert (err.line, err.field) == (9, "voice")
    assert "not in the package" in str(err) and "\n" not in str(err)


def test_an_unknown_engine_is_refused() -> None:
    err = _error(GOOD + "voice: festival:kal\n")
    assert err.field == "voice" and "unknown speech engine 'festival'" in str(err)


def test_a_rate_the_engine_cannot_speak_is_refused() -> None:
    err = _error(GOOD + "voice: hibari\nwords_per_minute: 60\n")
    assert "100-400 words per minute" in str(err)


def test_an_unknown_espeak_voice_is_refused_at_load() -> None:
    err = _error(GOOD + "voice: xx-nope\n")
    assert err.field == "voice" and "espeak-ng has no voice 'xx-nope'" in str(err)


DYNAMICS = """\
version: voiceobs/v1
name: dynamics
target: ws://127.0.0.1:8765/twilio
greeting:
  expect: {keywords: [hello]}
  max_ms: 2000
dead_air: {threshold_ms: 400, max_ms: 1500}
caller: {snr_db: 10, level_db: -6}
sweep: {snr_db: [20, 10, 5]}
turns:
  - prompt: "I'd like to change {pause 900ms} my flight to Boston"
    barge_in: {after_ms: 800, prompt: "Sorry, actually, what are your opening hours?"}
  - dtmf: "42#"
"""


def test_a_dynamics_spec_loads_and_sweeps() -> None:
    spec = parse_spec(DYNAMICS, "dyn.yaml")
    assert spec.greeting is not None and spec.greeting.max_ms == 2000
    assert spec.turns[0].barge_in is not None and spec.turns[0].barge_in.after_ms == 800
    assert spec.turns[1].dtmf == "42#"
    points = spec.sweep_points()
    assert [p.caller.snr_db for p in points if p.caller] == [20.0, 10.0, 5.0]
    assert all(p.caller and p.caller.level_db == -6 for p in points)
    assert spec.caller_for(spec.turns[0]) == spec.caller


def test_an_existing_v1_spec_is_read_as_before() -> None:
    spec = parse_spec(GOOD, "good.yaml")
    assert (spec.greeting, spec.caller, spec.sweep) == (None, None, {})
    assert spec.turns[0].barge_in is None and spec.turns[0].dtmf is None
    assert spec.sweep_points() == [spec]


@pytest.mark.parametrize(
    ("old", "new", "field", "needle"),
    [
        ('dtmf: "42#"', 'dtmf: "4x"', "turns[1]", "keypad digits only"),
        ("{pause 900ms}", "{pause}", "turns[0]", "{pause 900ms}"),
        ("{pause 900ms}", "{pause 90s}", "turns[0]", "at most 30 s"),
        ("[20, 10, 5]", "[20, 200]", "sweep", "sweep snr_db: 200"),
        ("sweep: {snr_db", "sweep: {noise", "sweep", "cannot sweep 'noise'"),
        ("after_ms: 800, ", "after_ms: 800, wav: x.wav, ", "turns[0].barge_in", "exactly one of"),
    ],
)
def test_bad_dynamics_fields_name_their_line(old: str, new: str, field: str, needle: str) -> None:
    err = _error(DYNAMICS.replace(old, new))
    assert err.field == field, err
    assert needle in str(err)
    line = next(i for i, text in enumerate(DYNAMICS.replace(old, new).splitlines(), 1) if new in text)
    assert err.line == line


def test_dtmf_needs_twilio() -> None:
    err = _error(DYNAMICS.replace("target: ws://127.0.0.1:8765/twilio", "target: ws://h/pcm\nprotocol: pcm"))
    assert "protocol: twilio" in str(err)
