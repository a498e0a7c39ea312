"""`voiceobs calls list` and `calls show` against a real store: both sources, joined figures, JSON."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.helpers import exit_code
from voiceobs.recording import record
from voiceobs.results import RunResult, TurnResult, utcnow
from voiceobs.store import Store


@pytest.fixture
def joined(sqlite_url: str) -> tuple[str, RunResult, RunResult]:
    store = Store.open(sqlite_url, create=True)
    now = utcnow()
    bot = RunResult(probe_name="support-bot", target_url="pipecat://support-bot", started_at=now,
                    source="production", framework="pipecat", service="support-bot",
                    conversation_id="CAjoin1")  # fmt: skip
    bot.turns = [TurnResult(0, reported_latency_ms=410.0, llm_ttfb_ms=180.0,
                            flags={"tts_ttfb_ms": "implausible: -12 ms"}),
                 TurnResult(1, reported_latency_ms=520.0)]  # fmt: skip
    probe = RunResult(probe_name="support-probe", target_url="ws://127.0.0.1:9/twilio",
                      started_at=now - timedelta(seconds=1), call_sid="CAjoin1")  # fmt: skip
    probe.turns = [TurnResult(0, turn_latency_ms=650.0), TurnResult(1, turn_latency_ms=700.0)]
    old = RunResult(probe_name="old", target_url="ws://x", started_at=now - timedelta(hours=3))
    record([bot], store=store)
    record([probe, old], store=store)
    store.close()
    return sqlite_url, probe, bot


def test_list_filters_by_source_and_time_and_prints_json_with_turns(
    joined: tuple[str, RunResult, RunResult], capsys: pytest.CaptureFixture[str]
) -> None:
    url, probe, bot = joined
    assert exit_code(["calls", "list", "--db", url, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {d["id"] for d in data} == {probe.id, bot.id}  # the 3-hour-old call is out of range
    assert exit_code(["calls", "list", "--db", url, "--source", "production", "--json"]) == 0
    [only] = json.loads(capsys.readouterr().out)
    assert only["id"] == bot.id and only["joined_run_id"] == probe.id
    assert only["turns"][0]["measures"]["reported_latency_ms"] == 410.0
    assert only["turns"][0]["flags"] == {"tts_ttfb_ms": "implausible: -12 ms"}
    assert exit_code(["calls", "list", "--db", url, "--since", "4h"]) == 0
    out = capsys.readouterr().out
    assert probe.id[:12] in out and bot.id[:12] in out and "production" in out


def test_show_prints_both_sides_and_the_time_the_bot_does_not_see(
    joined: tuple[str, RunResult, RunResult], capsys: pytest.CaptureFixture[str]
) -> None:
    url, probe, bot = joined
    assert exit_code(["calls", "show", probe.id[:8], "--db", url, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["id"] == probe.id and data["joined"]["id"] == bot.id
    assert data["joined_turns"] == [
        {"turn_index": 0, "caller_heard_ms": 650.0, "bot_reported_ms": 410.0, "unseen_ms": 240.0},
        {"turn_index": 1, "caller_heard_ms": 700.0, "bot_reported_ms": 520.0, "unseen_ms": 180.0},
    ]
    assert data["turns"][0]["measures"]["unseen_latency_ms"] == 240.0
    # The same from the bot's side, as a table.
    assert exit_code(["calls", "show", bot.id, "--db", url]) == 0
    out = capsys.readouterr().out
    assert "seen from both sides" in out and "240" in out and "implausible" in out


def test_an_unknown_call_is_a_one_line_exit_2(
    joined: tuple[str, RunResult, RunResult], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _, _ = joined
    assert exit_code(["calls", "show", "ffffffffffff", "--db", url]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no call 'ffffffffffff'") and len(err.splitlines()) == 1
