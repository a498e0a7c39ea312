"""The demo: voiceobs doing its whole job on one machine, fault and failover included.

It starts ``voiceobs collect``, three reference pipeline servers (a primary
``agent``, a backup ``agent`` and a ``codec``) that export their stage spans
to it as production bots would, a front-door router in front of the agents,
and the dashboard; then it probes on a schedule while a fault script plays out
on the primary: healthy, added latency, dropped calls. The SLO engine sees
the burn, the page alert opens an incident, the failover hook (an
Alertmanager-style webhook to the router) moves traffic to the backup, and
the SLO recovers. Every process it started is stopped on exit, on Ctrl-C
and on SIGTERM: each child runs in its own process group (so whatever it
starts is stopped with it) and is told to die with the demo
(``PR_SET_PDEATHSIG``) should the demo itself be killed outright. The
servers get their admin token from a private file, never on the command
line, where ``ps`` would show it to every user on the host.

The probes score what the dashboard's Quality page shows: PESQ (narrow-
and wide-band), STOI and ESTOI on the codec line, DNSMOS and WER on the
agent. The agents' traces become production calls joined with the probe
calls that placed them, so the Calls page shows both sides of one call and
the Capacity page fills with the stages' cost drivers.

``quick`` compresses the script to under two minutes for CI; the SLO
windows are compressed with it (a burn-rate policy whose period is the
SLO's one hour), which is exactly the workbook's scaling carried further.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from voiceobs.demo.router import Router, Upstream
from voiceobs.errors import PipelineError
from voiceobs.store import Store

log = logging.getLogger(__name__)

AGENT_PROMPT = "What are your opening hours?"
AGENT_REPLY = "We are open from nine in the morning to five in the evening, Monday to Friday."


@dataclass(frozen=True)
class Phase:
    """One act of the fault script: a fault on the primary for a while."""

    name: str
    fault: str
    min_s: float
    max_s: float
    #: Ends the phase early (after min_s) once this holds.
    until: str = ""


@dataclass(frozen=True)
class DemoPlan:
    """Durations and windows of one demo; ``quick()`` and ``full()`` are the two shipped."""

    phases: tuple[Phase, ...]
    interval_s: float
    page_long: str
    page_short: str
    page_burn: float
    ticket_long: str
    ticket_short: str

    @classmethod
    def quick(cls) -> DemoPlan:
        """Under two minutes end to end, for CI and the fault drill."""
        return cls(
            phases=(
                Phase("healthy", "", 14, 14),
                Phase("latency", "delay=1800", 14, 14),
                Phase("dropped-calls", "drop=0", 8, 40, until="failed_over"),
                Phase("recovery", "drop=0", 10, 40, until="all_ok"),
            ),
            interval_s=2.0,
            page_long="30s",
            page_short="8s",
            page_burn=5.0,
            ticket_long="2m",
            ticket_short="20s",
        )

    @classmethod
    def full(cls) -> DemoPlan:
        """A few minutes, slow enough to watch on the dashboard."""
        return cls(
            phases=(
                Phase("healthy", "", 60, 60),
                Phase("latency", "delay=1800", 50, 50),
                Phase("dropped-calls", "drop=0", 20, 120, until="failed_over"),
                Phase("recovery", "drop=0", 40, 120, until="all_ok"),
            ),
            interval_s=4.0,
            page_long="90s",
            page_short="20s",
            page_burn=5.0,
            ticket_long="5m",
            ticket_short="1m",
        )


@dataclass
class DemoReport:
    """What happened, for the summary and for the fault drill test."""

    db_url: str
    dashboard_url: str | None = None
    calls_placed: int = 0
    runs_stored: int = 0
    #: Calls the pipelines' own traces recorded through ``voiceobs collect``.
    production_calls: int = 0
    #: Of those, joined with the probe call that placed them.
    joined_calls: int = 0
    failures_by_phase: dict[str, dict[str, int]] = field(default_factory=dict)
    agent_latency_ms_by_phase: dict[str, list[float]] = field(default_factory=dict)
    states: dict[str, list[str]] = field(default_factory=dict)
    router_history: list[dict[str, Any]] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (``voiceobs demo --report FILE``)."""
        return dict(self.__dict__)


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class _Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    port: int


_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:
    """In the child, before exec: its own process group, and SIGTERM when the demo dies."""
    os.setpgid(0, 0)
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Demo:
    """Runs one demo; ``run()`` returns the report, ``stop()`` is always safe to call."""

    def __init__(
        self,
        workdir: Path,
        *,
        db_url: str | None = None,
        quick: bool = False,
        dashboard: bool = True,
        dashboard_port: int = 8501,
        keep_running: bool = False,
        say: Callable[[str], None] = print,
    ) -> None:
        self.workdir = workdir
        self.db_url = db_url or f"sqlite:///{workdir / 'voiceobs-demo.db'}"
        self.plan = DemoPlan.quick() if quick else DemoPlan.full()
        self.dashboard = dashboard
        self.dashboard_port = dashboard_port
        self.keep_running = keep_running
        self.say = say
        self.token = secrets.token_urlsafe(16)
        self.children: list[_Child] = []
        self.report = DemoReport(db_url=self.db_url)
        self.dashboard_password = ""
        #: The signal that stopped the demo early (SIGINT or SIGTERM), if any.
        self.signalled: int | None = None
        #: The scripted scenario ran to its end.
        self.completed = False
        self._stopping = threading.Event()
        self._main: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._store: Store | None = None
        self._token_path: Path | None = None
        self._collect: _Child | None = None
        self._t0 = time.monotonic()

    # -- processes ---------------------------------------------------------------------

    def _spawn(
        self, name: str, args: list[str], port: int, env: dict[str, str] | None = None
    ) -> _Child:
        log_path = self.workdir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        # Settings for a child go in the child's environment only: the demo's own
        # process (and whatever embeds it) keeps the settings it started with.
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "voiceobs.cli.main", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                preexec_fn=_child_setup,
            )
        child = _Child(name, proc, log_path, port)
        self.children.append(child)
        self.report.pids.append(proc.pid)
        return child

    def _token_file(self) -> Path:
        """This run's admin token in a file only the user can read (rewritten every run)."""
        path = self.workdir / "admin-token"
        if self._token_path is None:
            tmp = path.with_name(f".admin-token.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.token + "\n")
            os.replace(tmp, path)
            self._token_path = path
        return path

    def _start_server(self, name: str, pipeline: str) -> _Child:
        port = free_port()
        args = ["serve", "--pipeline", pipeline, "--port", str(port),
                "--admin-token-file", str(self._token_file())]  # fmt: skip
        if self._collect is not None:
            # Like a production bot: the pipeline's stage spans go to the collector.
            args += ["--otlp-endpoint", f"http://127.0.0.1:{self._collect.port}"]
        return self._spawn(name, args, port)

    def _start_collect(self) -> _Child:
        port = free_port()
        # A short idle timeout: a demo call is recorded a moment after it ends.
        args = ["collect", "--port", str(port), "--db", self.db_url, "--idle-timeout", "3s"]
        return self._spawn("collect", args, port)

    def _wait_ready(self, child: _Child, path: str, deadline_s: float = 240.0) -> None:
        end = time.monotonic() + deadline_s
        url = f"http://127.0.0.1:{child.port}{path}"
        while time.monotonic() < end and not self._stopping.is_set():
            if child.proc.poll() is not None:
                tail = child.log_path.read_text(errors="replace")[-800:]
                raise PipelineError(
                    f"{child.name} exited with {child.proc.returncode}: {tail.strip()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            self._stopping.wait(0.5)
        if self._stopping.is_set():
            return  # the demo is stopping; the caller is being cancelled
        raise PipelineError(
            f"{child.name} was not ready within {deadline_s:.0f} s; see {child.log_path}"
        )

    def _stop_group(self, children: list[_Child]) -> None:
        for child in children:
            if child.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for child in children:
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.proc.pid, signal.SIGKILL)
                child.proc.wait(5)
            # Whatever the child started and left behind in its group goes with it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.proc.pid, signal.SIGKILL)
            self.report.exit_codes[child.name] = child.proc.returncode

    def stop(self) -> None:
        """Stop every child's process group: SIGTERM, then SIGKILL after 10 s; record exit codes.

        The collector goes last, so the spans the pipelines flush as they stop
        still reach it, and it records the calls still open before it exits.
        """
        others = [c for c in self.children if c is not self._collect]
        self._stop_group(others)
        self._stop_group([c for c in self.children if c is self._collect])
        if self._token_path is not None:  # the servers read it at startup; nobody needs it now
            self._token_path.unlink(missing_ok=True)
            self._token_path = None

    # -- files -------------------------------------------------------------------------

    def _write_specs(self, router_port: int, codec_port: int, router_admin: str) -> dict[str, Path]:
        d = self.workdir / "specs"
        d.mkdir(parents=True, exist_ok=True)
        plan = self.plan
        files = {
            "agent": f"""version: voiceobs/v1
name: demo-agent
target: ws://127.0.0.1:{router_port}/twilio
protocol: twilio
pipeline: agent
region: local
labels: {{tier: primary-route}}
voice: hibari
concurrency: 2
calls: 2
timeouts: {{connect_s: 3, first_audio_s: 4, call_s: 20}}
turns:
  - prompt: "{AGENT_PROMPT}"
    max_reply_s: 6
    expect:
      intent: hours
      keywords: [open, nine, five, monday, friday]
      text: "{AGENT_REPLY}"
metrics: [dnsmos_ovrl, wer]
""",
            "codec": f"""version: voiceobs/v1
name: demo-codec
target: ws://127.0.0.1:{codec_port}/twilio
protocol: twilio
pipeline: codec
region: local
timeouts: {{connect_s: 3, first_audio_s: 4, call_s: 20}}
turns:
  - prompt: "Please check the line quality."
    reference: prompt
    max_reply_s: 4
metrics: [pesq_nb, pesq_wb, stoi, estoi]
""",
            "slos": """version: voiceobs/v1
slos:
  - name: agent-availability
    description: Callers reach the agent and hear a complete reply.
    selector: {probe: demo-agent}
    sli: {kind: availability}
    objective: 90%
    window: 1h
  - name: agent-latency
    description: The agent starts answering within 1.5 s of the caller finishing.
    selector: {probe: demo-agent}
    sli: {kind: latency, measure: turn_latency_ms, threshold_ms: 1500}
    objective: 90%
    window: 1h
  - name: codec-quality
    description: Audio through the G.711 line still sounds clear.
    selector: {probe: demo-codec}
    sli: {kind: quality, measure: pesq_nb, op: ">=", threshold: 2.5}
    objective: 90%
    window: 1h
""",
            "policy": f"""# The demo compresses time: an hour-long SLO with alert windows of seconds.
period: 1h
alerts:
  - {{severity: page, long: {plan.page_long}, short: {plan.page_short}, burn_rate: {plan.page_burn}}}
  - {{severity: ticket, long: {plan.ticket_long}, short: {plan.ticket_short}, burn_rate: 1}}
""",
            "hooks": f"""version: voiceobs/v1
defaults: {{timeout: 3s, retries: 2, backoff: 0.5s, cooldown: 0s, send_resolved: true}}
hooks:
  - name: failover-to-backup
    match: {{slo: agent-availability, severity: page}}
    action: webhook
    url: {router_admin}
""",
        }
        paths = {}
        for name, text in files.items():
            path = d / f"{name}.yaml"
            path.write_text(text)
            paths[name] = path
        return paths

    # -- the run -----------------------------------------------------------------------

    def _elapsed(self) -> str:
        s = int(time.monotonic() - self._t0)
        return f"{s // 60:02d}:{s % 60:02d}"

    def _set_fault(self, primary: _Child, fault: str) -> None:
        r = httpx.post(
            f"http://127.0.0.1:{primary.port}/admin/fault",
            json={"fault": fault},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=5.0,
        )
        r.raise_for_status()

    def _on_signal(self, signum: int, _frame: object) -> None:
        # A Python signal handler runs on the main thread between bytecodes, maybe
        # inside the loop's own code: only set flags and wake the loop from here.
        if self.signalled is None:
            self.signalled = signum
        self._stopping.set()
        loop, main = self._loop, self._main
        if loop is not None and main is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(main.cancel)

    async def _guarded(self) -> None:
        self._loop, self._main = asyncio.get_running_loop(), asyncio.current_task()
        if self._stopping.is_set():  # a signal came before the loop started
            return
        await self._run()

    def run(self) -> DemoReport:
        """Run the whole demo; always stops what it started, on SIGTERM and SIGINT too.

        Both signals are handled the same way for the whole run, the final
        shutdown included: the scenario is cancelled, its ``finally`` blocks
        run, every child is stopped, and ``signalled`` says which signal it was.
        """
        signals = (signal.SIGTERM, signal.SIGINT)
        # Only the main thread may set handlers; a host running the demo on another
        # thread keeps its own and calls stop() itself.
        on_main = threading.current_thread() is threading.main_thread()
        previous = {sig: signal.signal(sig, self._on_signal) for sig in signals} if on_main else {}
        try:
            try:
                asyncio.run(self._guarded())
            except asyncio.CancelledError:
                if self.signalled is None:
                    raise
            finally:
                self.stop()
                if self._store is not None:  # cancelled before the scenario's own finally
                    self._store.close()
                self._count_production()
                self.report.elapsed_s = round(time.monotonic() - self._t0, 1)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.report

    async def _run(self) -> None:
        from voiceobs.failover import load_hooks, process
        from voiceobs.probe import load_spec, run_spec_async
        from voiceobs.recording import record
        from voiceobs.slo import evaluate, load_policy, load_slos

        self.workdir.mkdir(parents=True, exist_ok=True)
        store = self._store = Store.open(self.db_url, create=True)
        self.say(f"[{self._elapsed()}] store: {store.display_url}")
        collect = self._collect = self._start_collect()
        await asyncio.to_thread(self._wait_ready, collect, "/readyz")
        self.say(f"[{self._elapsed()}] collect :{collect.port} (the pipelines export their traces to it)")
        primary = self._start_server("agent-primary", "agent")
        backup = self._start_server("agent-backup", "agent")
        codec = self._start_server("codec", "codec")
        dash = None
        if self.dashboard:
            dash = self._start_dashboard()
        for child in (primary, backup, codec):
            await asyncio.to_thread(self._wait_ready, child, "/readyz")
        self.say(f"[{self._elapsed()}] pipelines ready: agent-primary :{primary.port}, "
                 f"agent-backup :{backup.port}, codec :{codec.port}")  # fmt: skip
        router = Router(Upstream("agent-primary", "127.0.0.1", primary.port),
                        Upstream("agent-backup", "127.0.0.1", backup.port))  # fmt: skip
        await router.start()
        admin = f"http://127.0.0.1:{router.port}/_router/failover"
        paths = self._write_specs(router.port, codec.port, admin)
        agent_spec, codec_spec = load_spec(paths["agent"]), load_spec(paths["codec"])
        slos = load_slos(paths["slos"])
        policy = load_policy(paths["policy"])
        hooks = load_hooks(paths["hooks"])
        self.say(f"[{self._elapsed()}] router :{router.port} -> agent-primary; probing every "
                 f"{self.plan.interval_s:.0f} s")  # fmt: skip
        if dash is not None:
            await asyncio.to_thread(self._wait_ready, dash, "/_stcore/health", 120.0)
            self.report.dashboard_url = f"http://127.0.0.1:{dash.port}"
            self.say(
                f"[{self._elapsed()}] dashboard: {self.report.dashboard_url} "
                f"(sign in as demo / {self.dashboard_password})"
            )

        async def cycle(phase: str) -> dict[str, str]:
            started = time.monotonic()
            raw = await asyncio.gather(run_spec_async(agent_spec), run_spec_async(codec_spec))
            recorded = await asyncio.to_thread(
                record, [r for rs in raw for r in rs], store=store
            )
            flat = recorded.results
            results = [[r for r in flat if r.probe_name == s.name] for s in (agent_spec, codec_spec)]
            self.report.calls_placed += len(flat)
            counts = self.report.failures_by_phase.setdefault(phase, {})
            lats = self.report.agent_latency_ms_by_phase.setdefault(phase, [])
            for r in flat:
                key = f"{r.probe_name}:{r.failure_class or 'ok'}"
                counts[key] = counts.get(key, 0) + 1
                if r.probe_name == agent_spec.name:
                    lats += [
                        round(t.turn_latency_ms, 1)
                        for t in r.turns
                        if t.turn_latency_ms is not None
                    ]
            evals = await asyncio.to_thread(evaluate, store, slos, policy=policy)
            await asyncio.to_thread(process, store, evals, hooks)
            states = {e.slo.name: e.alert_state for e in evals}
            for name, st in states.items():
                seq = self.report.states.setdefault(name, [])
                if not seq or seq[-1] != st:
                    seq.append(st)
            agent = results[0][0]
            lat = agent.turns[0].turn_latency_ms if agent.turns else None
            shown = f"{lat:.0f} ms" if lat is not None else agent.failure_class or "-"
            self.say(f"[{self._elapsed()}] {phase:<13} agent call: {shown:<14} route: "
                     f"{router.active.name:<13} " + " ".join(f"{k}={v}" for k, v in states.items()))  # fmt: skip
            await asyncio.sleep(max(0.0, self.plan.interval_s - (time.monotonic() - started)))
            return states

        try:
            for phase in self.plan.phases:
                if phase.fault or phase.name != self.plan.phases[0].name:
                    await asyncio.to_thread(self._set_fault, primary, phase.fault)
                    self.say(f"[{self._elapsed()}] fault on agent-primary: {phase.fault or 'none'}")
                begun = time.monotonic()
                while True:
                    states = await cycle(phase.name)
                    spent = time.monotonic() - begun
                    if spent >= phase.max_s:
                        break
                    if spent >= phase.min_s:
                        if not phase.until:
                            break
                        if phase.until == "failed_over" and router.active is router.backup:
                            break
                        if phase.until == "all_ok" and all(s == "ok" for s in states.values()):
                            break
            self.completed = True
            if self.keep_running:
                self.say(f"[{self._elapsed()}] scenario done; probing on. Ctrl-C stops everything.")
                while True:
                    await cycle("steady")
        finally:
            await router.stop()
            self.report.router_history = router.history
            self.report.runs_stored = store.count_runs(source="synthetic")
            self.report.incidents = [
                {"id": i.id, "slo": i.slo_name, "severity": i.severity, "state": i.state}
                for i in store.list_incidents()
            ]
            self.report.deliveries = [
                {
                    "hook": d.hook_name,
                    "event": d.event,
                    "outcome": d.outcome,
                    "code": d.response_code,
                }
                for d in store.deliveries()
            ]
            store.close()

    def _count_production(self) -> None:
        """Production calls recorded from the pipelines' traces (the collector has stopped)."""
        if self._collect is None:
            return
        try:
            store = Store.open(self.db_url)
        except Exception as exc:  # the scenario's outcome is already recorded; say why these are 0
            log.warning("cannot count production calls: %s", exc)
            return
        try:
            self.report.production_calls = store.count_runs(source="production")
            self.report.joined_calls = store.count_joined_runs()
        finally:
            store.close()

    def _start_dashboard(self) -> _Child:
        from voiceobs.users import add_user

        # Sign-in stays on: the demo gets its own operator in its own users file.
        users = self.workdir / "users.toml"
        self.dashboard_password = secrets.token_urlsafe(9)
        add_user("demo", self.dashboard_password, "operator", path=users, replace=True)
        port = self.dashboard_port or free_port()
        settings = {
            "VOICEOBS_USERS_FILE": str(users),
            "VOICEOBS_HOOKS_FILE": str(self.workdir / "specs" / "hooks.yaml"),
        }
        return self._spawn(
            "dashboard", ["dashboard", "--db", self.db_url, "--port", str(port)], port, settings
        )


def summary(report: DemoReport) -> str:
    """A short human summary printed at the end."""
    lines = [
        f"calls placed {report.calls_placed}, runs stored {report.runs_stored}",
        f"production calls from the pipelines' traces {report.production_calls}, "
        f"joined with their probe call {report.joined_calls}",
        "SLO states: " + "; ".join(f"{k}: {' -> '.join(v)}" for k, v in report.states.items()),
        "incidents: "
        + (
            ", ".join(f"{i['slo']}/{i['severity']} {i['state']}" for i in report.incidents)
            or "none"
        ),
        "hook deliveries: "
        + (
            ", ".join(f"{d['hook']} {d['event']} {d['outcome']}" for d in report.deliveries)
            or "none"
        ),
    ]
    if report.dashboard_url:
        lines.append(f"dashboard: {report.dashboard_url} (user demo; password printed above)")
    return "\n".join(lines)


__all__ = ["Demo", "DemoPlan", "DemoReport", "Phase", "free_port", "summary"]
