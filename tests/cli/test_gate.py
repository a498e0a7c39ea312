"""The CI gate and `slo status` against real stores: exit codes, JUnit, Markdown."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import pytest

from tests.helpers import ServerProcess, exit_code
from tests.slo.helpers import add_calls, add_turns
from voiceobs.results import utcnow
from voiceobs.store import Store

SPEC = """\
version: voiceobs/v1
slos:
  - name: avail
    selector: {probe: echo-loopback}
    sli: {kind: availability}
    objective: 90%
    window: 1d
  - name: latency
    selector: {probe: echo-loopback}
    sli: {kind: latency, threshold_ms: 500}
    objective: 90%
    window: 1d
"""



@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "slos.yaml"
    path.write_text(SPEC)
    return path


def fill(store: Store, *, failed_calls: int, slow_turns: int) -> None:
    """Ten calls and ten turns spread over the last 50 minutes."""
    now = utcnow()
    add_calls(store, [(now - timedelta(minutes=5 * i + 1), "failed" if i < failed_calls else "ok")
                      for i in range(10)])
    add_turns(store, [(now - timedelta(minutes=5 * i + 1), True,
                       {"turn_latency_ms": 900.0 if i < slow_turns else 200.0}) for i in range(10)])


def test_gate_passes_when_every_slo_holds(store: Store, spec_file: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    fill(store, failed_calls=0, slow_turns=0)
    junit, md = tmp_path / "junit.xml", tmp_path / "summary.md"
    code = exit_code(["gate", "--slos", str(spec_file), "--db", store.url, "--junit", str(junit),
                "--markdown", str(md)])
    assert code == 0, capsys.readouterr()
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "0"
    assert [c.get("name") for c in suite.iter("testcase")] == ["avail", "latency"]
    assert "SLO gate: passed" in md.read_text()
    assert len(store.evaluations()) == 2  # the gate's evaluation is recorded


def test_gate_fails_on_a_breach_with_a_junit_failure(store: Store, spec_file: Path,
                                                     tmp_path: Path) -> None:
    # 3 slow turns of 11 (the failed-call run's turn counts too): SLI 8/11 < 90%.
    fill(store, failed_calls=0, slow_turns=3)
    junit, md = tmp_path / "junit.xml", tmp_path / "summary.md"
    code = exit_code(["gate", "--slos", str(spec_file), "--db", store.url, "--junit", str(junit),
                "--markdown", str(md)])
    assert code == 1
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert cases["avail"].find("failure") is None
    failure = cases["latency"].find("failure")
    assert failure is not None and failure.get("type") == "breached"
    assert "below the objective 90%" in (failure.get("message") or "")
    assert "3 bad of 10" in (failure.get("message") or "")
    text = md.read_text()
    assert "SLO gate: failed" in text and "**latency**" in text


def test_gate_fails_when_burning_past_page_even_if_window_holds(
    store: Store, spec_file: Path, tmp_path: Path
) -> None:
    # A 30-day SLO whose budget is barely touched overall but burns fast right now.
    path = tmp_path / "burn.yaml"
    path.write_text(SPEC.replace("window: 1d", "window: 30d").replace("objective: 90%", "objective: 99%"))
    now = utcnow()
    add_calls(store, [(now - timedelta(days=2, minutes=i), "ok") for i in range(2000)])
    add_calls(store, [(now - timedelta(minutes=1 + i), "failed" if i < 3 else "ok") for i in range(10)])
    # 3 bad of 2010 over 30 d: SLI 99.85% holds; 1h and 5m burn 30x: page.
    code = exit_code(["gate", "--slos", str(path), "--db", store.url, "--junit", str(tmp_path / "j.xml")])
    assert code == 1
    failure = next(c for c in ET.parse(tmp_path / "j.xml").getroot().iter("testcase")
                   if c.get("name") == "avail").find("failure")
    assert failure is not None and failure.get("type") == "burning"


def test_gate_since_narrows_the_window(store: Store, spec_file: Path) -> None:
    now = utcnow()
    add_calls(store, [(now - timedelta(hours=5), "failed")] * 10)
    add_calls(store, [(now - timedelta(minutes=10), "ok")] * 50)
    only_avail = spec_file.parent / "avail.yaml"
    only_avail.write_text(SPEC.split("  - name: latency")[0])
    assert exit_code(["gate", "--slos", str(only_avail), "--db", store.url]) == 1      # 50/60 < 90%
    assert exit_code(["gate", "--slos", str(only_avail), "--db", store.url, "--since", "1h"]) == 0


@pytest.mark.parametrize("problem", ["spec", "store", "since", "probes"])
def test_gate_usage_spec_and_store_errors_exit_2(
    problem: str, spec_file: Path, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Store.open(sqlite_url, create=True).close()
    argv = ["gate", "--slos", str(spec_file), "--db", sqlite_url]
    if problem == "spec":
        spec_file.write_text(SPEC.replace("objective: 90%", "objective: 200%", 1))
    elif problem == "store":
        argv[-1] = f"sqlite:///{tmp_path / 'empty.db'}"
    elif problem == "since":
        argv += ["--since", "soon"]
    else:
        argv += ["--run-probes", str(tmp_path / "missing.yaml")]
    assert exit_code(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_gate_fails_on_no_data_by_default_with_its_own_exit_code(
    store: Store, spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit, md = tmp_path / "j.xml", tmp_path / "s.md"
    code = exit_code(["gate", "--slos", str(spec_file), "--db", store.url, "--junit", str(junit),
                "--markdown", str(md)])
    assert code == 3
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "2" and suite.get("skipped") == "0"
    failure = next(suite.iter("testcase")).find("failure")
    assert failure is not None and failure.get("type") == "no data"
    assert "probe: echo-loopback" in (failure.get("message") or "")
    assert "--allow-no-data" in (failure.get("message") or "")
    text = md.read_text()
    assert "SLO gate: failed" in text and "**avail** (no data)" in text
    assert "2 with no data in the window" in capsys.readouterr().err


def test_allow_no_data_skips_empty_slos_and_says_so(
    store: Store, spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit = tmp_path / "j.xml"
    code = exit_code(["gate", "--slos", str(spec_file), "--db", store.url, "--junit", str(junit),
                "--allow-no-data"])
    assert code == 0
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("skipped") == "2" and suite.get("failures") == "0"
    assert "skipped by --allow-no-data" in capsys.readouterr().out


def test_a_breach_beats_no_data_in_the_exit_code(store: Store, spec_file: Path) -> None:
    now = utcnow()
    add_calls(store, [(now - timedelta(minutes=i + 1), "failed") for i in range(5)])
    # avail is breached; latency has no turns at all.
    assert exit_code(["gate", "--slos", str(spec_file), "--db", store.url]) == 1


@pytest.mark.slow
def test_an_slo_the_gate_s_own_probes_should_feed_fails_even_with_allow_no_data(
    echo_server: ServerProcess, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    probe = tmp_path / "echo.yaml"
    probe.write_text(
        "version: voiceobs/v1\nname: echo-loopback\n"
        f"target: {echo_server.url('twilio')}\n"
        "timeouts: {connect_s: 3, first_audio_s: 2, call_s: 20}\n"
        "turns: [{prompt: Hello there., reference: prompt, end_silence_ms: 300}]\n"
    )
    slos = tmp_path / "slos.yaml"
    # The latency SLO's measure is one this loopback probe never takes (no golden, no WER):
    # it selects the probe, so the probe should feed it, and silence is a broken setup.
    slos.write_text(SPEC.replace("sli: {kind: latency, threshold_ms: 500}",
                                 "sli: {kind: quality, measure: wer, op: '<=', threshold: 0.5}"))
    junit = tmp_path / "j.xml"
    code = exit_code(["gate", "--slos", str(slos), "--db", store.url, "--run-probes", str(probe),
                "--allow-no-data", "--junit", str(junit)])
    assert code == 3, capsys.readouterr()
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert cases["avail"].find("failure") is None  # the call was stored and succeeded
    failure = cases["latency"].find("failure")
    assert failure is not None and "this gate's probes should feed it" in (failure.get("message") or "")


@pytest.mark.parametrize("flag", ["--junit", "--markdown"])
@pytest.mark.parametrize("problem", ["missing-dir", "dir-is-a-file", "is-a-directory", "read-only"])
def test_an_unwritable_output_is_exit_2_before_any_work(
    store: Store, spec_file: Path, tmp_path: Path, flag: str, problem: str,
    capsys: pytest.CaptureFixture[str], read_only_dir: Path,
) -> None:
    fill(store, failed_calls=5, slow_turns=5)  # would be breached: exit 1 if it got that far
    target = {
        "missing-dir": tmp_path / "nope" / "out.xml",
        "dir-is-a-file": spec_file / "out.xml",
        "is-a-directory": tmp_path,
        "read-only": read_only_dir / "out.xml",
    }[problem]
    before = len(store.evaluations())
    code = exit_code(["gate", "--slos", str(spec_file), "--db", store.url, flag, str(target)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and flag in err and len(err.splitlines()) == 1
    assert len(store.evaluations()) == before  # nothing was evaluated


def test_slo_status_json(store: Store, spec_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fill(store, failed_calls=2, slow_turns=0)
    assert exit_code(["slo", "status", "--slos", str(spec_file), "--db", store.url, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    avail = next(d for d in data if d["name"] == "avail")
    assert (avail["good"], avail["total"]) == (9, 11)  # + the run that holds the turns
    assert list(avail["burn_rates"]) == ["10s", "1m", "2m", "12m", "2h24m"]  # 1d: windows / 30
    assert exit_code(["slo", "status", "--slos", str(spec_file), "--db", store.url]) == 0
    assert "avail" in capsys.readouterr().out
