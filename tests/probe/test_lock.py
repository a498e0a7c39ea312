"""One run of a spec at a time, and a lock that cannot be taken is a one-line error."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from voiceobs.cli.main import main
from voiceobs.errors import ConfigError
from voiceobs.probe import RunLocked
from voiceobs.probe.lock import spec_lock
from voiceobs.probe.spec import ProbeSpec


def _hold_lock(name: str, ready: multiprocessing.synchronize.Event, release: multiprocessing.synchronize.Event) -> None:
    with spec_lock(name, "x.yaml"):
        ready.set()
        release.wait(10)


def test_lock_stops_an_overlapping_run(spec_for: Callable[..., ProbeSpec]) -> None:
    spec = spec_for("ws://127.0.0.1:9/twilio")
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(spec.name, ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        start = time.monotonic()
        with pytest.raises(RunLocked, match="still in progress") as info, spec_lock(spec.name, "x.yaml"):
            pass
        assert time.monotonic() - start < 1.0
        assert info.value.exit_code == 1
    finally:
        release.set()
        holder.join(10)
    # released when the holder exits: the next run takes it
    with spec_lock(spec.name, "x.yaml"):
        pass


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_a_read_only_data_dir_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o500)
    monkeypatch.setenv("VOICEOBS_DATA_DIR", str(data))
    with pytest.raises(ConfigError, match="cannot take the run lock"), spec_lock("p", "x.yaml"):
        pass


def test_a_data_dir_that_is_a_file_is_a_one_line_error_at_the_cli(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    spec_for: Callable[..., ProbeSpec],
) -> None:
    # Root ignores permissions, so make the lock directory impossible instead: a file.
    blocker = tmp_path / "data"
    blocker.write_text("not a directory")
    monkeypatch.setenv("VOICEOBS_DATA_DIR", str(blocker))
    spec = tmp_path / "p.yaml"
    spec.write_text(
        "version: voiceobs/v1\nname: p\ntarget: ws://127.0.0.1:9/twilio\nturns: [{prompt: hello there}]\n"
    )
    with pytest.raises(SystemExit) as info:
        main(["probe", "run", str(spec)])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "cannot take the run lock" in err and len(err.splitlines()) == 1
