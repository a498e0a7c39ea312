"""Soak: probe every reference pipeline on a schedule, with random faults, and look for leaks.

Why: a probe fleet runs for weeks. A few kilobytes kept per call, a socket
left open after a stalled call, or a result dropped on the way to the store
are invisible in a unit test and fatal in production. This script starts
the echo, codec and agent servers, places one call into each every
``--interval`` seconds for ``--minutes``, injects a seeded random fault into
a random server every few cycles, and samples each process (the three
servers and this probe process) from ``/proc``: resident memory, open file
descriptors, sockets, threads, and the TCP connections on each server port.

The baseline is the sample taken right after a warm-up of a few healthy
cycles (imports, model loads, caches and the first allocations are done by
then); the end sample is compared with it as end/start ratios. Calls placed
are counted independently of results returned and runs stored, so a result
lost anywhere on the way shows as ``lost > 0``.

    .venv/bin/python benchmarks/soak/soak.py --minutes 30 --out soak.json

Exit status: 0 when no result was lost and every fault produced its
documented failure class; 1 otherwise (the leak figures are printed and
judged by the reader against the thresholds in the README).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

PIPELINES = ("echo", "codec", "agent")

#: The documented failure class of each fault (voiceobs/pipelines/faults.py);
#: ``None``: the call still succeeds (a delay only makes it slower).
EXPECTED: dict[str, str | None] = {
    "delay": None,
    "stall": "timeout",
    "drop": "truncated",
    "garble": "quality_error",
    "silence": "no_audio",
    "crash": "protocol_error",
}

#: TCP states in /proc/net/tcp (hex) that we name in the report.
_TCP_LISTEN, _TCP_TIME_WAIT, _TCP_CLOSE_WAIT = "0A", "06", "08"

#: One call per pipeline per cycle, short prompts so a cycle fits in 10 s even
#: when a fault makes a call wait for its first-audio deadline.
_SPECS = {
    "echo": """version: voiceobs/v1
name: soak-echo
target: ws://127.0.0.1:{port}/twilio
protocol: twilio
pipeline: echo
region: soak
timeouts: {{connect_s: 3, first_audio_s: 4, call_s: 20}}
turns:
  - prompt: "Hello, I would like to check the status of my order."
    reference: prompt
    end_silence_ms: 500
    max_reply_s: 5
metrics: [pesq_nb, stoi]
min_scores: {{pesq_nb: 3.0, stoi: 0.8}}
""",
    "codec": """version: voiceobs/v1
name: soak-codec
target: ws://127.0.0.1:{port}/twilio
protocol: twilio
pipeline: codec
region: soak
timeouts: {{connect_s: 3, first_audio_s: 4, call_s: 20}}
turns:
  - prompt: "Please check the line quality."
    reference: prompt
    end_silence_ms: 500
    max_reply_s: 4
metrics: [pesq_nb, stoi]
min_scores: {{stoi: 0.6}}
""",
    "agent": """version: voiceobs/v1
name: soak-agent
target: ws://127.0.0.1:{port}/twilio
protocol: twilio
pipeline: agent
region: soak
timeouts: {{connect_s: 3, first_audio_s: 4, call_s: 20}}
turns:
  - prompt: "What are your opening hours?"
    max_reply_s: 6
    expect:
      intent: hours
      keywords: [open, nine, five, monday, friday]
metrics: []
""",
}


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- /proc sampling ----------------------------------------------------------------------


def _status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _fds(pid: int) -> tuple[int, int]:
    """(open fds, of which sockets); a fd closed while we list it is skipped."""
    base = f"/proc/{pid}/fd"
    total = sockets = 0
    for name in os.listdir(base):
        try:
            target = os.readlink(f"{base}/{name}")
        except OSError:
            continue
        total += 1
        sockets += target.startswith("socket:")
    return total, sockets


def _children(pid: int) -> list[int]:
    """Direct children of pid, so a server that forks workers is not under-counted."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        # comm may hold spaces and parentheses: ppid is the 2nd field after the last ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            kids.append(int(entry))
    return kids


def proc_sample(pid: int, exclude: frozenset[int] = frozenset()) -> dict[str, int]:
    """RSS (kB), peak RSS (kB), fds, sockets and threads of one process and its children.

    ``exclude`` keeps the servers (children of the probe process) out of the
    probe's own figures.
    """
    pids = [pid, *(c for c in _children(pid) if c not in exclude)]
    out = {
        "rss_kb": 0,
        "hwm_kb": 0,
        "fds": 0,
        "sockets": 0,
        "threads": 0,
        "children": len(pids) - 1,
    }
    for p in pids:
        with contextlib.suppress(OSError):
            out["rss_kb"] += _status_kb(p, "VmRSS")
            out["hwm_kb"] += _status_kb(p, "VmHWM")
            out["threads"] += _status_kb(p, "Threads")
            fds, socks = _fds(p)
            out["fds"] += fds
            out["sockets"] += socks
    return out


def tcp_by_port(ports: dict[str, int]) -> dict[str, dict[str, int]]:
    """TCP connections with either end on each server port, by state, from /proc/net/tcp{,6}.

    ``open`` counts every state but LISTEN and TIME_WAIT: between cycles no
    call is in flight, so anything open there is a connection someone forgot
    to close (CLOSE_WAIT: the server side never closed after the peer did).
    """
    by_port = {p: name for name, p in ports.items()}
    counts = {name: {"open": 0, "close_wait": 0, "time_wait": 0} for name in ports}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as fh:
            next(fh)
            for line in fh:
                parts = line.split()
                local, remote, state = parts[1], parts[2], parts[3]
                for end in (local, remote):
                    name = by_port.get(int(end.rsplit(":", 1)[1], 16))
                    if name is None or state == _TCP_LISTEN:
                        continue
                    if state == _TCP_TIME_WAIT:
                        counts[name]["time_wait"] += 1
                    else:
                        counts[name]["open"] += 1
                        counts[name]["close_wait"] += state == _TCP_CLOSE_WAIT
    return counts


# -- the servers -------------------------------------------------------------------------


@dataclass
class Server:
    """One reference pipeline server we started."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path


def start_server(name: str, workdir: Path, token: str, env: dict[str, str]) -> Server:
    """Start ``voiceobs serve`` as a child; its output goes to a log file in workdir."""
    port = free_port()
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voiceobs.cli.main",
                "serve",
                "--pipeline",
                name,
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # By environment, not argv: a command line is visible to every user in `ps`.
            env={**env, "VOICEOBS_ADMIN_TOKEN": token},
        )
    return Server(name, port, proc, log_path)


async def wait_ready(server: Server, deadline_s: float = 240.0) -> None:
    """Poll /readyz until 200; a server that exits or never gets ready is an error."""
    end = time.monotonic() + deadline_s
    url = f"http://127.0.0.1:{server.port}/readyz"
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < end:
            if server.proc.poll() is not None:
                tail = server.log_path.read_text(errors="replace")[-800:]
                raise RuntimeError(f"{server.name} exited with {server.proc.returncode}: {tail}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.5)
    raise RuntimeError(f"{server.name} not ready within {deadline_s:.0f} s; see {server.log_path}")


async def set_fault(server: Server, token: str, fault: str) -> None:
    """POST /admin/fault; a fresh client each time so no pooled connection skews the counts."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        r = await client.post(
            f"http://127.0.0.1:{server.port}/admin/fault",
            json={"fault": fault},
            headers={"Authorization": f"Bearer {token}"},
        )
        r.raise_for_status()


async def active_calls(server: Server) -> float | None:
    """The server's own gauge of connected calls (0 between cycles unless a call leaked)."""
    with contextlib.suppress(httpx.HTTPError):
        async with httpx.AsyncClient(timeout=5.0) as client:
            text = (await client.get(f"http://127.0.0.1:{server.port}/metrics")).text
        for line in text.splitlines():
            if line.startswith("voiceobs_server_active_calls "):
                return float(line.split()[1])
    return None


def stop_servers(servers: list[Server]) -> dict[str, str]:
    """SIGTERM every child, wait up to 10 s, then SIGKILL; says how each one ended.

    uvicorn shuts down gracefully on SIGTERM and then re-raises the signal, so
    a clean stop reads as exit code -15; "killed" means it ignored SIGTERM.
    """
    t0 = time.monotonic()
    for s in servers:
        if s.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                s.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    codes: dict[str, str] = {}
    for s in servers:
        try:
            s.proc.wait(max(0.1, deadline - time.monotonic()))
            how = f"exit {s.proc.returncode} after SIGTERM in {time.monotonic() - t0:.1f} s"
        except subprocess.TimeoutExpired:
            s.proc.kill()
            s.proc.wait(5)
            how = f"killed (exit {s.proc.returncode}): ignored SIGTERM for 10 s"
        codes[s.name] = how
    return codes


# -- the fault schedule ------------------------------------------------------------------


@dataclass
class FaultSchedule:
    """Seeded: a few healthy cycles, then one fault on one server for a few cycles, repeat.

    Faults are drawn from a shuffled bag so every kind shows up before any
    repeats; even a short run exercises them all.
    """

    rng: random.Random
    bag: list[str] = field(default_factory=list)
    active: tuple[str, str] | None = None  # (server, fault text)
    left: int = 0

    def _draw(self) -> str:
        if not self.bag:
            self.bag = list(EXPECTED)
            self.rng.shuffle(self.bag)
        kind = self.bag.pop()
        if kind == "delay":
            return f"delay={self.rng.choice([300, 800, 1500])}"
        if kind == "drop":
            return f"drop={self.rng.choice([0, 0.5, 1])}"
        return kind

    def step(self) -> tuple[str, str] | bool | None:
        """Advance one cycle: a new (server, fault) to set, None to clear, False for no change."""
        if self.left > 0:
            self.left -= 1
            return False
        if self.active is not None:
            self.active = None
            self.left = self.rng.randint(1, 2) - 1
            return None
        self.active = (self.rng.choice(PIPELINES), self._draw())
        self.left = self.rng.randint(1, 3) - 1
        return self.active


def fault_kind(fault: str) -> str:
    return fault.partition("=")[0] if fault else "none"


# -- the soak ----------------------------------------------------------------------------


@dataclass
class Tally:
    """What the soak saw; dumped as JSON with ``--out``."""

    seed: int
    interval_s: float
    minutes: float
    db: str = ""
    cycles: int = 0
    sent: int = 0
    returned: int = 0
    saved: int = 0
    spooled: int = 0
    stored: int = 0
    missing_ids: list[str] = field(default_factory=list)
    late_cycles: int = 0
    #: "server/fault kind" -> failure class ("ok") -> count
    classes: dict[str, dict[str, int]] = field(default_factory=dict)
    #: "server/fault kind" -> ttfb_ms of turn 1 (to see a delay land)
    ttfb_ms: dict[str, list[float]] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    exit_codes: dict[str, str] = field(default_factory=dict)
    elapsed_s: float = 0.0


async def take_sample(label: str, cycle: int, servers: list[Server], t0: float) -> dict[str, Any]:
    """/proc first (the metrics scrape opens connections of its own), then active calls."""
    procs = {s.name: proc_sample(s.proc.pid) for s in servers}
    procs["probe"] = proc_sample(os.getpid(), frozenset(s.proc.pid for s in servers))
    # run_spec_async freezes the heap (gc.freeze) on every call: what is frozen is
    # never collected again, so a growing count here is memory the host cannot get back.
    procs["probe"]["gc_frozen"] = gc.get_freeze_count()
    procs["probe"]["gc_tracked"] = len(gc.get_objects())
    tcp = tcp_by_port({s.name: s.port for s in servers})
    active = {s.name: await active_calls(s) for s in servers}
    return {
        "label": label,
        "cycle": cycle,
        "t_s": round(time.monotonic() - t0, 1),
        "procs": procs,
        "tcp": tcp,
        "active_calls": active,
    }


async def soak(args: argparse.Namespace, workdir: Path) -> Tally:
    """Run the soak; always stops the servers it started."""
    from voiceobs.probe import load_spec
    from voiceobs.probe.runner import run_spec_async
    from voiceobs.recording import record
    from voiceobs.store import Store

    tally = Tally(seed=args.seed, interval_s=args.interval, minutes=args.minutes)
    tally.db = args.db or f"sqlite:///{workdir / 'soak.db'}"
    token = secrets.token_urlsafe(16)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    t0 = time.monotonic()
    servers = [start_server(name, workdir, token, env) for name in PIPELINES]
    store = None
    try:
        await asyncio.gather(*(wait_ready(s) for s in servers))
        by_name = {s.name: s for s in servers}
        specs = {}
        for s in servers:
            path = workdir / f"soak-{s.name}.yaml"
            path.write_text(_SPECS[s.name].format(port=s.port))
            specs[s.name] = load_spec(path)
        store = Store.open(tally.db, create=True)
        stored_before = store.count_runs()
        print(
            f"servers ready in {time.monotonic() - t0:.0f} s: "
            + ", ".join(f"{s.name} :{s.port} pid {s.proc.pid}" for s in servers)
            + f"; store {store.display_url}",
            flush=True,
        )

        schedule = FaultSchedule(random.Random(args.seed))
        faults: dict[str, str] = {name: "" for name in PIPELINES}
        run_ids: list[str] = []
        total = max(args.warmup + 1, round(args.minutes * 60 / args.interval))
        begun = time.monotonic()
        for cycle in range(total):
            slot = begun + cycle * args.interval
            await asyncio.sleep(max(0.0, slot - time.monotonic()))
            if time.monotonic() - slot > 1.0:
                tally.late_cycles += 1
            # Faults change only between cycles, so no call straddles a change.
            if cycle >= args.warmup:
                change = schedule.step()
                if change is not False:
                    for name, fault in faults.items():
                        if fault:
                            await set_fault(by_name[name], token, "")
                            faults[name] = ""
                    if change is not None:
                        assert isinstance(change, tuple)
                        name, fault = change
                        await set_fault(by_name[name], token, fault)
                        faults[name] = fault
                    tally.faults.append(
                        {
                            "cycle": cycle,
                            "server": change[0] if change else None,
                            "fault": change[1] if change else "",
                        }
                    )

            names = list(PIPELINES)
            tally.sent += sum(specs[n].total_calls for n in names)
            outcomes = await asyncio.gather(
                *(run_spec_async(specs[n]) for n in names), return_exceptions=True
            )
            flat = []
            for name, out in zip(names, outcomes, strict=True):
                key = f"{name}/{fault_kind(faults[name])}"
                if isinstance(out, BaseException):
                    print(
                        f"cycle {cycle}: {name} probe raised {type(out).__name__}: {out}",
                        flush=True,
                    )
                    bucket = tally.classes.setdefault(key, {})
                    bucket["raised"] = bucket.get("raised", 0) + 1
                    continue
                for r in out:
                    flat.append(r)
                    bucket = tally.classes.setdefault(key, {})
                    cls = r.failure_class or "ok"
                    bucket[cls] = bucket.get(cls, 0) + 1
                    if r.turns and r.turns[0].ttfb_ms is not None:
                        tally.ttfb_ms.setdefault(key, []).append(round(r.turns[0].ttfb_ms, 1))
            tally.returned += len(flat)
            report = (await asyncio.to_thread(record, flat, store=store)).saved
            assert report is not None
            saved, spooled = report.saved, report.spooled
            tally.saved += saved
            tally.spooled += spooled
            run_ids += [r.id for r in flat]
            tally.cycles = cycle + 1
            line = " ".join(
                f"{n}={(faults[n] or '-')}:{(r.failure_class or 'ok') if (r := _first(o)) else 'ERR'}"
                for n, o in zip(names, outcomes, strict=True)
            )
            print(f"[{time.monotonic() - t0:6.0f} s] cycle {cycle + 1}/{total} {line}", flush=True)

            is_base = cycle == args.warmup - 1
            is_periodic = (
                cycle >= args.warmup and (cycle - args.warmup + 1) % args.sample_every == 0
            )
            if is_base or is_periodic or cycle == total - 1:
                label = "start" if is_base else ("end" if cycle == total - 1 else "periodic")
                tally.samples.append(await take_sample(label, cycle + 1, servers, t0))

        # A connection still open at the end may be one nobody closed but the
        # garbage collector would: sample again after a collection to tell a
        # socket left to GC from one that is truly held.
        end = tally.samples[-1]
        if any(end["tcp"][n]["open"] for n in PIPELINES):
            gc.collect()
            await asyncio.sleep(2.0)
            tally.samples.append(await take_sample("end-after-gc", total, servers, t0))

        # Clear any fault left on, then compare what was sent with what is stored.
        for name, fault in faults.items():
            if fault:
                await set_fault(by_name[name], token, "")
        tally.stored = store.count_runs() - stored_before
        tally.missing_ids = [i for i in run_ids if store.get_run(i) is None]
    finally:
        if store is not None:
            store.close()
        tally.exit_codes = stop_servers(servers)
        tally.elapsed_s = round(time.monotonic() - t0, 1)
    return tally


def _first(out: Any) -> Any:
    return out[0] if isinstance(out, list) and out else None


# -- the report --------------------------------------------------------------------------


def _ratio(end: float, start: float) -> str:
    return f"{end / start:.3f}" if start else "n/a"


def report(tally: Tally) -> tuple[str, bool]:
    """The printed tables and whether the hard checks (nothing lost, faults as documented) pass."""
    lines: list[str] = []
    start = next((s for s in tally.samples if s["label"] == "start"), None)
    end = next((s for s in tally.samples if s["label"] == "end"), None)
    if start is None or end is None:
        return "no start/end sample (run too short)", False
    lines.append(
        f"baseline: warm-up sample after cycle {start['cycle']}; end sample after cycle "
        f"{end['cycle']} ({(end['t_s'] - start['t_s']) / 60:.1f} min later); "
        f"{len(tally.samples)} samples"
    )
    hdr = (
        f"{'process':<8} {'RSS start':>10} {'RSS end':>9} {'delta':>8} {'max':>9} {'end/start':>9}"
        f" {'fd start':>8} {'fd end':>6} {'end/start':>9} {'sock start':>10} {'sock end':>8}"
        f" {'thr s/e':>8}"
    )
    lines += ["", hdr, "-" * len(hdr)]
    for name in [*PIPELINES, "probe"]:
        a, b = start["procs"][name], end["procs"][name]
        mx = max(s["procs"][name]["rss_kb"] for s in tally.samples)
        lines.append(
            f"{name:<8} {a['rss_kb'] / 1024:>8.1f}MB {b['rss_kb'] / 1024:>7.1f}MB "
            f"{(b['rss_kb'] - a['rss_kb']) / 1024:>+6.1f}MB {mx / 1024:>7.1f}MB "
            f"{_ratio(b['rss_kb'], a['rss_kb']):>9} {a['fds']:>8} {b['fds']:>6} "
            f"{_ratio(b['fds'], a['fds']):>9} {a['sockets']:>10} {b['sockets']:>8} "
            f"{a['threads']:>3}/{b['threads']:<4}"
        )
    lines.append("")
    lines.append(
        "TCP on server ports between cycles (open = not LISTEN/TIME_WAIT), start -> end; "
        "server active-calls gauge at end"
    )
    for name in PIPELINES:
        a, b = start["tcp"][name], end["tcp"][name]
        lines.append(
            f"  {name:<6} open {a['open']} -> {b['open']}, close_wait {a['close_wait']} -> "
            f"{b['close_wait']}, time_wait {a['time_wait']} -> {b['time_wait']}; "
            f"active calls {end['active_calls'][name]}"
        )
    lost = tally.sent - tally.stored
    lines += [
        "",
        f"calls sent {tally.sent}, results returned {tally.returned}, saved {tally.saved}, "
        f"spooled {tally.spooled}, stored {tally.stored}, missing ids {len(tally.missing_ids)}: "
        f"lost = {lost}",
        f"cycles {tally.cycles}, late (> 1 s behind schedule) {tally.late_cycles}, "
        f"elapsed {tally.elapsed_s:.0f} s",
        "",
        "failure classes per fault (server/fault: class=count)  [expected]",
    ]
    ok = lost == 0 and not tally.missing_ids and tally.spooled == 0
    for key in sorted(tally.classes):
        counts = tally.classes[key]
        kind = key.split("/", 1)[1]
        want = "ok" if kind == "none" else (EXPECTED[kind] or "ok")
        good = set(counts) == {want}
        # Only faulted calls are a hard check; a healthy call failing under load is reported.
        if kind != "none" and not good:
            ok = False
        ttfb = tally.ttfb_ms.get(key, [])
        med = f", ttfb median {statistics.median(ttfb):.0f} ms" if ttfb else ""
        shown = " ".join(f"{c}={n}" for c, n in sorted(counts.items()))
        lines.append(f"  {key:<16} {shown:<40} [{want}]{'' if good else '  <-- unexpected'}{med}")
    unseen = [k for k in EXPECTED if not any(key.endswith("/" + k) for key in tally.classes)]
    if unseen:
        lines.append(f"  faults not exercised in this run: {', '.join(unseen)}")
    # Between cycles no call is in flight: a connection still open, a call the
    # server still counts, or a server killed at shutdown is a leak, not noise.
    after = next((s for s in tally.samples if s["label"] == "end-after-gc"), None)
    if after is not None:
        lines.append(
            "  after gc.collect() + 2 s: open "
            + ", ".join(f"{n} {after['tcp'][n]['open']}" for n in PIPELINES)
            + f"; probe sockets {after['procs']['probe']['sockets']}"
        )
    for name in PIPELINES:
        if after is not None and end["tcp"][name]["open"] and not after["tcp"][name]["open"]:
            lines.append(f"  note: a connection to {name} was closed only by the garbage collector")
            continue
        if end["tcp"][name]["open"] or end["active_calls"][name]:
            lines.append(f"  LEAK: {name} still has connections or active calls between cycles")
            ok = False
        if end["procs"][name]["fds"] > start["procs"][name]["fds"]:
            lines.append(f"  note: {name} holds more fds at the end than at the start")
    if any(v.startswith("killed") for v in tally.exit_codes.values()):
        ok = False
    lines.append("")
    lines.append("shutdown: " + "; ".join(f"{k} {v}" for k, v in tally.exit_codes.items()))
    lines.append(
        "VERDICT: "
        + (
            "PASS (nothing lost, faults as documented, no lingering calls, clean shutdown)"
            if ok
            else "FAIL"
        )
    )
    return "\n".join(lines), ok


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the soak in a scratch directory, print and save the report."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--minutes", type=float, default=30.0, help="how long to probe (default 30)")
    p.add_argument(
        "--interval", type=float, default=10.0, help="seconds between cycles (default 10)"
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the fault schedule (default 1)")
    p.add_argument("--db", default=None, help="store URL (default: a SQLite file in a temp dir)")
    p.add_argument("--out", type=Path, default=None, help="write the full tally as JSON here")
    p.add_argument("--warmup", type=int, default=2, help="healthy cycles before the baseline")
    p.add_argument("--sample-every", type=int, default=6, help="cycles between periodic samples")
    args = p.parse_args(argv)
    if args.minutes <= 0 or args.interval <= 0 or args.warmup < 1 or args.sample_every < 1:
        p.error("--minutes and --interval must be > 0, --warmup and --sample-every >= 1")

    with tempfile.TemporaryDirectory(prefix="voiceobs-soak-") as tmp:
        workdir = Path(tmp)
        # Our own data dir: the spool replayed by record() (and the TTS
        # cache) start empty, so stored == sent is not skewed by old runs.
        os.environ["VOICEOBS_DATA_DIR"] = str(workdir / "data")
        print(
            f"soak: {args.minutes:g} min, every {args.interval:g} s, seed {args.seed}, "
            f"workdir {workdir}",
            flush=True,
        )
        # SIGTERM (a CI runner, kill PID) unwinds like Ctrl-C, so the servers are stopped too.
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            tally = asyncio.run(soak(args, workdir))
        except KeyboardInterrupt:
            print("interrupted; servers stopped", file=sys.stderr)
            return 130
        text, ok = report(tally)
    print()
    print(text)
    if args.out is not None:
        args.out.write_text(json.dumps(tally.__dict__, indent=1, default=str))
        print(f"tally written to {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
