"""The failover chain end to end on loopback, every link real.

A reference echo server takes real probe calls; an injected fault makes them
fail; the SLO engine sees the budget burn and pages; the hooks notify a
webhook receiver and a real Alertmanager (whose own receiver is another
loopback HTTP server) and put the server into degraded mode, where the next
probe call hears the spoken apology. Clearing the fault lets the probes
succeed, the SLO recovers, each receiver gets one resolved notification and
the server goes back to normal. Every evaluation pass is two evaluators
racing over the same store at the same instant, as two cron hosts would.

The burn-rate windows are scaled down (long 1 min, short 20 s) so a fast burn
and its recovery fit in seconds; the arithmetic is the production one.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from tests.failover.helpers import write_hooks
from tests.helpers import Receiver, free_port, receiver
from voiceobs.errors import StoreError
from voiceobs.failover import HooksFile, Report, load_hooks, process
from voiceobs.probe import ProbeSpec, parse_spec
from voiceobs.probe.call import CallPlan, CallRecord, TurnPlan, place_call
from voiceobs.probe.measure import find_lag
from voiceobs.probe.prompts import load_prompt
from voiceobs.probe.protocols import wire_for
from voiceobs.recording import run_spec
from voiceobs.results import RunResult, TurnResult, utcnow
from voiceobs.server import ServerConfig, ServerHandle, running_server
from voiceobs.slo import SLO, BurnPolicy, SloResult, evaluate, load_policy, load_slos, parse_slos
from voiceobs.store import Store

AM_BIN = "/usr/bin/prometheus-alertmanager"
TOKEN = "e2e-admin-token"
SLO_NAME = "e2e-echo-availability"
PROMPT = "Hello there."
DEGRADED_MARK = "voiceobs-degraded"
HOOKS = ("oncall", "alertmanager", "degrade")
SHORT, LONG = "20s", "1m"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(AM_BIN).exists(), reason="prometheus-alertmanager not installed"),
]


# -- the pieces ---------------------------------------------------------------------------------


@contextmanager
def alertmanager(workdir: Path, receiver_url: str) -> Iterator[str]:
    """A real Alertmanager on a free loopback port whose only receiver is ``receiver_url``."""
    config = workdir / "alertmanager.yml"
    config.write_text(
        f"""\
route:
  receiver: e2e
  group_by: [alertname, slo, severity]
  group_wait: 200ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: e2e
    webhook_configs:
      - url: {receiver_url}
        send_resolved: true
""",
        encoding="utf-8",
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            AM_BIN,
            f"--config.file={config}",
            f"--storage.path={workdir / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"alertmanager did not start within 30 s: {err[-500:]}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def statuses(rx: Receiver) -> list[str]:
    """The status of every notification a receiver got, in arrival order."""
    return [str(b["status"]) for b in rx.bodies()]


def wait_statuses(rx: Receiver, want: list[str], timeout: float = 20.0) -> None:
    """Wait (with a deadline) until ``rx`` has received at least ``want``, in order."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if statuses(rx)[: len(want)] == want:
            return
        time.sleep(0.05)
    raise AssertionError(f"expected notifications {want} within {timeout}s, got {statuses(rx)}")


class Admin:
    """The server's admin endpoint, as an operator (or a failover hook) uses it."""

    def __init__(self, srv: ServerHandle) -> None:
        self.base = srv.http_url
        self.auth = {"Authorization": f"Bearer {TOKEN}"}

    def fault(self, fault: str) -> str:
        r = httpx.post(f"{self.base}/admin/fault", json={"fault": fault}, headers=self.auth)
        r.raise_for_status()
        return str(r.json()["fault"])

    def mode(self) -> str:
        r = httpx.get(f"{self.base}/admin/mode", headers=self.auth, timeout=5)
        r.raise_for_status()
        return str(r.json()["mode"])


class Evaluators:
    """Two evaluators, each with its own store connection, racing every pass."""

    def __init__(self, url: str, slos: list[SLO], hooks: HooksFile, policy: BurnPolicy) -> None:
        self.stores = [Store.open(url), Store.open(url)]
        self.slos, self.hooks, self.policy = slos, hooks, policy
        self.passes: list[tuple[list[SloResult], Report]] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        for s in self.stores:
            s.close()

    def _evaluate(self, store: Store, now: datetime) -> list[SloResult]:
        """One evaluation; racing evaluators must never refuse each other."""
        return evaluate(store, self.slos, now=now, policy=self.policy)

    def race(self) -> tuple[SloResult, list[Report]]:
        """Both evaluate and process at the same instant; returns the (shared) SLO result."""
        now = utcnow()
        barrier = threading.Barrier(len(self.stores))
        out: list[tuple[list[SloResult], Report] | None] = [None] * len(self.stores)
        errors: list[BaseException] = []

        def worker(i: int) -> None:
            try:
                barrier.wait(timeout=30)
                results = self._evaluate(self.stores[i], now)
                out[i] = (results, process(self.stores[i], results, self.hooks, now=now))
            except BaseException as exc:  # surfaced below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(self.stores))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "an evaluator hung past 60 s"
        if errors:
            raise errors[0]
        done = [o for o in out if o is not None]
        self.passes.extend(done)
        [r0], [r1] = done[0][0], done[1][0]
        # Same data, same instant: both evaluators must agree on every figure.
        assert (r0.alert_state, r0.good, r0.total, r0.burn_rates) == (
            r1.alert_state,
            r1.good,
            r1.total,
            r1.burn_rates,
        )
        return r0, [rep for _, rep in done]


def deliveries(reports: list[Report]) -> list[tuple[str, str, str]]:
    """(hook, event, outcome) of every delivery made by any racer in one pass."""
    return sorted((d.hook, d.event, d.outcome) for rep in reports for d in rep.deliveries)


def call_once(srv: ServerHandle) -> CallRecord:
    """One raw probe call: the call record keeps what a RunResult does not (marks, audio)."""
    prompt = load_prompt(text=PROMPT, wav=None, sample_rate=8000, protocol="twilio")
    plan = CallPlan(
        url=f"{srv.ws_url}/twilio",
        turns=[TurnPlan(prompt, end_silence_s=0.4)],
        first_audio_timeout_s=3.0,
        call_timeout_s=20.0,
    )
    return asyncio.run(place_call(plan, wire_for("twilio")))


def matches_apology(rec: CallRecord, apology: np.ndarray) -> bool:
    """True when the received audio is the server's apology (aligned, near-identical)."""
    if not rec.rx_audio:
        return False
    rx = np.concatenate(rec.rx_audio).astype(np.float32) / 32768.0
    ref = apology.astype(np.float32) / 32768.0
    lag = find_lag(ref, rx)
    if lag is None:
        return False
    seg = rx[lag : lag + ref.size]
    return seg.size > 8000 and float(np.corrcoef(ref[: seg.size], seg)[0, 1]) > 0.95


# -- the test -----------------------------------------------------------------------------------


def _specs(srv: ServerHandle, golden: Path) -> tuple[ProbeSpec, ProbeSpec]:
    target = f"{srv.ws_url}/twilio"
    echo = parse_spec(
        f"""\
version: voiceobs/v1
name: e2e-echo
target: {target}
protocol: twilio
pipeline: echo
region: loopback
timeouts: {{connect_s: 5, first_audio_s: 3, call_s: 20}}
turns:
  - prompt: "{PROMPT}"
    reference: prompt
    end_silence_ms: 400
metrics: [stoi]
calls: 3
concurrency: 3
"""
    )
    # Not selected by the SLO: a caller who listens for the apology, scored against it.
    listener = parse_spec(
        f"""\
version: voiceobs/v1
name: e2e-listener
target: {target}
protocol: twilio
pipeline: echo
timeouts: {{connect_s: 5, first_audio_s: 3, call_s: 20}}
turns:
  - prompt: "{PROMPT}"
    reference: golden
    golden: {golden}
    end_silence_ms: 400
metrics: [stoi]
"""
    )
    return echo, listener


def _write_config(tmp_path: Path, hook_url: str, am_url: str, srv: ServerHandle) -> None:
    (tmp_path / "slos.yaml").write_text(
        f"""\
version: voiceobs/v1
slos:
  - name: {SLO_NAME}
    description: Calls to the echo pipeline connect and complete.
    selector: {{probe: e2e-echo}}
    sli: {{kind: availability}}
    objective: 90%
    window: 1h
""",
        encoding="utf-8",
    )
    # The workbook's fast-burn page alert, shrunk so a burn and its recovery take seconds.
    (tmp_path / "windows.yaml").write_text(
        f"period: 1h\nalerts:\n  - {{severity: page, long: {LONG}, short: {SHORT}, burn_rate: 5}}\n",
        encoding="utf-8",
    )
    write_hooks(
        tmp_path / "hooks.yaml",
        f"""\
external_url: http://dashboard.test
defaults: {{timeout: 5s, retries: 1, backoff: 200ms, cooldown: 10m, send_resolved: true}}
hooks:
  - name: oncall
    match: {{slo: "e2e-*", severity: page}}
    action: webhook
    url: {hook_url}/voiceobs
  - name: alertmanager
    match: {{slo: "e2e-*", severity: page}}
    action: alertmanager
    url: {am_url}
  - name: degrade
    match: {{slo: "e2e-*", severity: page}}
    action: pipeline_mode
    url: {srv.http_url}
    mode: degraded
    resolved_mode: normal
    token_env: E2E_ADMIN_TOKEN
    cooldown: 0s
""",
    )


def _failures(runs: list[RunResult]) -> list[str | None]:
    return [r.failure_class for r in runs]


def _until(
    step: Callable[[], tuple[SloResult, list[Report]]],
    done: Callable[[SloResult], bool],
    timeout_s: float,
) -> tuple[SloResult, list[Report], list[tuple[str, str, str]]]:
    """Repeat ``step`` until ``done`` (with a deadline); returns the last pass and every delivery."""
    deadline = time.monotonic() + timeout_s
    seen: list[tuple[str, str, str]] = []
    while True:
        result, reports = step()
        seen += deliveries(reports)
        if done(result):
            return result, reports, seen
        if time.monotonic() > deadline:
            raise AssertionError(
                f"SLO still {result.alert_state} after {timeout_s}s: {result.burn_rates}"
            )


def test_fault_pages_degrades_and_recovers_end_to_end(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("E2E_ADMIN_TOKEN", TOKEN)
    store = Store.open(db_url, create=True)
    with (
        receiver() as hook_rx,
        receiver() as am_rx,
        alertmanager(tmp_path, f"{am_rx.url}/from-alertmanager") as am_url,
        running_server(ServerConfig(pipeline="echo", port=0, admin_token=TOKEN)) as srv,
    ):
        admin = Admin(srv)
        apology = srv.state.apology(8000)
        golden = tmp_path / "apology.wav"
        sf.write(golden, apology, 8000, subtype="PCM_16")
        echo, listener = _specs(srv, golden)
        _write_config(tmp_path, hook_rx.url, am_url, srv)
        slos = load_slos(tmp_path / "slos.yaml")
        evaluators = Evaluators(
            db_url,
            slos,
            load_hooks(tmp_path / "hooks.yaml"),
            load_policy(tmp_path / "windows.yaml"),
        )
        try:
            # 1. Healthy: the echo comes back, the SLO holds, nobody hears from us.
            healthy = run_spec(echo, store=store)
            assert _failures(healthy) == [None] * 3
            assert all(r.turns[0].stoi is not None and r.turns[0].stoi > 0.9 for r in healthy)
            result, reports = evaluators.race()
            assert (result.alert_state, result.good, result.total) == ("ok", 3, 3)
            assert deliveries(reports) == [] and not any(rep.opened for rep in reports)

            # 2. Fault: every call is cut right after its first reply frame.
            assert admin.fault("drop=0") == "drop=0"
            faulted = run_spec(echo, store=store) + run_spec(echo, store=store)
            assert _failures(faulted) == ["truncated"] * 6
            result, reports = evaluators.race()
            assert result.alert_state == "page", result.burn_rates
            short, long = result.burn_rates[SHORT], result.burn_rates[LONG]
            assert short is not None and short > 5 and long is not None and long > 5
            # One incident, and each hook fired once, by exactly one of the racers.
            assert sum(len(rep.opened) for rep in reports) == 1
            assert deliveries(reports) == sorted((h, "firing", "ok") for h in HOOKS)
            assert sum(rep.skipped for rep in reports) == len(HOOKS)
            wait_statuses(hook_rx, ["firing"])
            wait_statuses(am_rx, ["firing"])
            [fired] = hook_rx.bodies()
            assert fired["version"] == "4" and fired["status"] == "firing"
            [alert] = fired["alerts"]
            assert alert["labels"]["slo"] == SLO_NAME and alert["labels"]["severity"] == "page"
            [am_fired] = am_rx.bodies()
            assert [a["fingerprint"] for a in am_fired["alerts"]] == [alert["fingerprint"]]
            assert {r.path for r in hook_rx.requests} == {"/voiceobs"}
            # The pipeline_mode hook degraded the server.
            assert admin.mode() == "degraded"

            # 3. Still burning: more failed calls and more passes add no notification.
            # The apology is server audio and passes through the same injected fault,
            # so while the fault lasts even degraded calls are cut.
            assert _failures(run_spec(echo, store=store)) == ["truncated"] * 3
            for _ in range(3):
                result, reports = evaluators.race()
                assert result.alert_state == "page"
                assert deliveries(reports) == [] and not any(rep.opened for rep in reports)
            assert statuses(hook_rx) == ["firing"] and statuses(am_rx) == ["firing"]

            # 4. The fault is fixed; the server is still degraded, so callers hear the apology.
            assert admin.fault("") == ""
            rec = call_once(srv)
            assert rec.failure is None
            assert DEGRADED_MARK in rec.turns[0].marks
            assert matches_apology(rec, apology)
            [heard] = run_spec(listener, store=store)
            assert heard.ok and heard.turns[0].stoi is not None and heard.turns[0].stoi > 0.8
            degraded = run_spec(echo, store=store)
            # The calls complete (availability recovers) but what comes back is not the echo.
            assert _failures(degraded) == [None] * 3
            assert all(r.turns[0].stoi is not None and r.turns[0].stoi < 0.5 for r in degraded)

            # 5. Recovery: probes succeed until the burn stops; each hook resolves once.
            def step() -> tuple[SloResult, list[Report]]:
                result, reports = evaluators.race()
                if result.alert_state == "ok":
                    return result, reports
                assert not any(rep.opened for rep in reports)
                more = run_spec(echo, store=store)
                assert _failures(more) == [None] * 3
                return result, reports

            result, reports, seen = _until(step, lambda r: r.alert_state == "ok", 60)
            # The alert stopped on measured calls in both windows, not on an empty window
            # (at least one of them is back to a burn of 5 or less).
            assert None not in (result.burn_rates[SHORT], result.burn_rates[LONG])
            assert sum(len(rep.resolved) for rep in reports) == 1
            assert seen == sorted((h, "resolved", "ok") for h in HOOKS)
            wait_statuses(hook_rx, ["firing", "resolved"])
            wait_statuses(am_rx, ["firing", "resolved"])
            assert admin.mode() == "normal"

            # 6. Back to normal: the echo returns, no apology, and nothing more is sent.
            rec = call_once(srv)
            assert rec.failure is None and DEGRADED_MARK not in rec.turns[0].marks
            assert not matches_apology(rec, apology)
            normal = run_spec(echo, store=store)
            assert all(r.ok and r.turns[0].stoi and r.turns[0].stoi > 0.9 for r in normal)
            for _ in range(2):
                result, reports = evaluators.race()
                assert result.alert_state == "ok" and deliveries(reports) == []
            time.sleep(2.5)  # two more Alertmanager group intervals: nothing else arrives
            assert statuses(hook_rx) == ["firing", "resolved"]
            assert statuses(am_rx) == ["firing", "resolved"]
            assert {r.path for r in am_rx.requests} == {"/from-alertmanager"}
        finally:
            evaluators.close()

    # The audit trail: one incident, opened and resolved, and one of each event per hook.
    [incident] = store.list_incidents()
    assert (incident.slo_name, incident.severity, incident.state) == (SLO_NAME, "page", "resolved")
    trail = Counter((d.hook_name, d.event, d.outcome) for d in store.deliveries())
    assert trail == Counter({(h, e, "ok"): 1 for h in HOOKS for e in ("firing", "resolved")})
    modes = {
        (d.event, d.detail.get("mode")) for d in store.deliveries() if d.hook_name == "degrade"
    }
    assert modes == {("firing", "degraded"), ("resolved", "normal")}
    store.close()


def test_racing_evaluators_do_not_lock_each_other_out(sqlite_url: str) -> None:
    """Two evaluators on one SQLite store (two cron hosts, or cron and the dashboard)."""
    store = Store.open(sqlite_url, create=True)
    [slo] = parse_slos(
        "version: voiceobs/v1\nslos:\n  - {name: race, selector: {probe: p}, "
        "sli: {kind: availability}, objective: 90%, window: 1h}\n"
    )
    racers = [Store.open(sqlite_url), Store.open(sqlite_url)]
    refused: list[BaseException] = []
    try:
        for i in range(20):
            # New data every round, as probes keep landing between passes.
            at = utcnow() - timedelta(seconds=1)
            ok = i % 3 != 0
            store.save_run(
                RunResult(
                    probe_name="p",
                    target_url="ws://127.0.0.1:9/twilio",
                    started_at=at,
                    status="ok" if ok else "failed",
                    failure_class=None if ok else "truncated",
                    turns=[TurnResult(0, ok=ok, started_at=at)],
                )
            )
            barrier = threading.Barrier(len(racers))

            def worker(racer: Store, barrier: threading.Barrier = barrier) -> None:
                try:
                    barrier.wait(timeout=30)
                    evaluate(racer, [slo])
                except StoreError as exc:
                    refused.append(exc)

            threads = [threading.Thread(target=worker, args=(r,)) for r in racers]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            if any(t.is_alive() for t in threads):
                pytest.fail("an evaluator hung past 60 s")  # not the expected failure
        assert refused == [], f"{len(refused)} of 40 passes refused: {refused[0]}"
    finally:
        for r in racers:
            r.close()
        store.close()
