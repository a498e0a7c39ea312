"""Long audio: peak memory and wall time of `voiceobs quality` on long recordings.

Each run is a child process; its peak RSS comes from the kernel (``wait4``),
so the figure is the whole process, libraries included. Baselines, measured
in the same run on the same files: the reference packages called the plain
way on the whole recording (``pesq.pesq``, ``pystoi.stoi``, and with
``--speechmos`` ``speechmos.dnsmos.run``), and `voiceobs quality` on a
5-second pair (the fixed cost of the libraries). Prints one line per run
with the ratio of its peak RSS to the 5-second run's.

    .venv/bin/python benchmarks/quality/bench_long.py --minutes 5 30
    .venv/bin/python benchmarks/quality/bench_long.py --minutes 5 --speechmos

A baseline still running after ``--baseline-timeout`` seconds (300) is
killed and reported so; its peak RSS is then what it had reached.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

PROMPTS = [
    "Hello, thank you for calling. How can I help you today?",
    "Please say your account number, then press the pound key.",
    "Your appointment is confirmed for Tuesday at three in the afternoon.",
]

_BASELINES = {
    "pesq.pesq (wb, whole file)": (
        "import sys, soundfile as sf; from pesq import pesq; "
        "r, fs = sf.read(sys.argv[1]); d, _ = sf.read(sys.argv[2]); n = min(len(r), len(d)); "
        "print(pesq(fs, r[:n], d[:n], 'wb'))"
    ),
    "pystoi.stoi (whole file)": (
        "import sys, soundfile as sf; from pystoi import stoi; "
        "r, fs = sf.read(sys.argv[1]); d, _ = sf.read(sys.argv[2]); n = min(len(r), len(d)); "
        "print(stoi(r[:n], d[:n], fs))"
    ),
}
_SPEECHMOS = (
    "import sys, numpy as np, soundfile as sf; from speechmos import dnsmos; "
    "d, fs = sf.read(sys.argv[2], dtype='float32'); print(dnsmos.run(np.clip(d, -1, 1), fs))"
)


def _pair(seconds: float, rate: int, folder: Path) -> tuple[Path, Path]:
    """Speech with pauses, repeated to length; the degraded copy is 120 ms late with noise."""
    from voiceobs.audio.tts import render_speech

    gap = np.zeros(int(0.7 * rate))
    parts = [render_speech(p, rate, cache_dir=folder).astype(np.float64) for p in PROMPTS]
    unit = np.concatenate([x for p in parts for x in (p, gap)])
    n = int(seconds * rate)
    ref = np.tile(unit, n // unit.size + 1)[:n]
    rng = np.random.default_rng(0)
    late = np.concatenate([np.zeros(int(0.12 * rate)), ref + 0.01 * rng.standard_normal(n)])
    deg = late[:n]  # as long as the reference: a 30-minute pair is at the limit, not past it
    ref_path, deg_path = folder / f"ref_{seconds:g}.wav", folder / f"deg_{seconds:g}.wav"
    sf.write(ref_path, ref, rate, subtype="PCM_16")
    sf.write(deg_path, np.clip(deg, -1, 1), rate, subtype="PCM_16")
    return ref_path, deg_path


# Spawns the measured command from a small process: Linux records the high-water
# RSS of the image a process replaces on exec, so a child spawned straight
# from this (large) process would report at least this process's size.
_LAUNCHER = (
    "import json, os, subprocess, sys, threading; "
    "p = subprocess.Popen(sys.argv[3:], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT); "
    "t = threading.Timer(float(sys.argv[2]), p.kill) if float(sys.argv[2]) > 0 else None; "
    "t and t.start(); _, st, ru = os.wait4(p.pid, 0); t and t.cancel(); "
    "open(sys.argv[1], 'w').write(json.dumps([os.waitstatus_to_exitcode(st), ru.ru_maxrss]))"
)


def _measure(cmd: list[str], timeout_s: float = 0.0) -> tuple[str, float, float]:
    """(exit, peak RSS MB, wall s) of one command, killed after ``timeout_s`` (0: never)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        t0 = time.perf_counter()
        launcher = [sys.executable, "-c", _LAUNCHER, result.name, str(timeout_s)]
        subprocess.run([*launcher, *cmd], check=True)
        wall = time.perf_counter() - t0
        code, maxrss_kb = json.loads(Path(result.name).read_text())
    exit_text = f"signal {-code}" if code < 0 else str(code)
    if timeout_s and code == -9 and wall >= timeout_s:
        exit_text = f"killed at {timeout_s:g} s"
    return exit_text, maxrss_kb / 1024, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[5.0, 30.0])
    ap.add_argument("--rate", type=int, default=16000)
    ap.add_argument("--speechmos", action="store_true", help="also time speechmos (slow)")
    ap.add_argument("--no-dnsmos", action="store_true", help="skip voiceobs's DNSMOS runs")
    ap.add_argument(
        "--baseline-timeout", type=float, default=300.0, help="seconds before a baseline is killed"
    )
    args = ap.parse_args()
    py = sys.executable
    folder = Path(tempfile.mkdtemp(prefix="bench-long-"))
    rows: list[tuple[str, str, float, float, str]] = []

    def cli(ref: Path, deg: Path, metrics: str) -> list[str]:
        return [
            py,
            "-m",
            "voiceobs.cli.main",
            "quality",
            str(ref),
            str(deg),
            "--json",
            "-m",
            metrics,
        ]

    groups = ["pesq_wb,pesq_nb,stoi,estoi"] + ([] if args.no_dnsmos else ["dnsmos"])
    short_ref, short_deg = _pair(5, args.rate, folder)
    floor = {}
    for metrics in groups:
        code, peak, wall = _measure(cli(short_ref, short_deg, metrics))
        floor[metrics] = peak
        rows.append((f"voiceobs quality -m {metrics}", "5 s", peak, wall, code))
    for minutes in args.minutes:
        ref, deg = _pair(60 * minutes, args.rate, folder)
        label = f"{minutes:g} min"
        for metrics in groups:
            code, peak, wall = _measure(cli(ref, deg, metrics))
            rows.append((f"voiceobs quality -m {metrics}", label, peak, wall, code))
        for name, script in _BASELINES.items():
            code, peak, wall = _measure(
                [py, "-c", script, str(ref), str(deg)], args.baseline_timeout
            )
            rows.append((name, label, peak, wall, code))
        if args.speechmos:
            code, peak, wall = _measure(
                [py, "-c", _SPEECHMOS, str(ref), str(deg)], args.baseline_timeout
            )
            rows.append(("speechmos.dnsmos.run (whole file)", label, peak, wall, code))
    base = min(floor.values())
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; rate {args.rate} Hz"
    )
    print(f"{'run':<48} {'audio':>7} {'peak RSS MB':>12} {'x 5 s run':>10} {'wall s':>8}  exit")
    for name, label, peak, wall, code in rows:
        print(f"{name:<48} {label:>7} {peak:>12.0f} {peak / base:>10.2f} {wall:>8.1f}  {code}")


if __name__ == "__main__":
    main()
