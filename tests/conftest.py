"""Shared fixtures: every test builds its own store (SQLite file or a fresh PostgreSQL schema)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import create_engine, text

from tests.helpers import ServerProcess, free_port, make_spec
from voiceobs.audio.tts import render_speech
from voiceobs.probe.spec import ProbeSpec
from voiceobs.store import Store

PG_URL = os.environ.get("VOICEOBS_TEST_PG_URL", "")


@pytest.fixture(autouse=True)
def _isolated_data_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep every test's default store, spool and config away from the user's real ones."""
    base = tmp_path_factory.mktemp("voiceobs-home")
    monkeypatch.setenv("VOICEOBS_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("VOICEOBS_CONFIG", str(base / "config.toml"))
    monkeypatch.delenv("VOICEOBS_DB_URL", raising=False)
    # Renders are deterministic: share one cache across tests to save espeak-ng time.
    monkeypatch.setenv(
        "VOICEOBS_TTS_CACHE", str(Path(tmp_path_factory.getbasetemp()) / "tts-cache")
    )


@pytest.fixture(autouse=True)
def _keep_main_module() -> Iterator[None]:
    """Restore ``__main__`` after each test.

    Streamlit's AppTest runs the dashboard script as ``__main__``; a later test
    that spawns processes would then have every child re-run the dashboard
    instead of importing its worker.
    """
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a fresh SQLite file store (not yet migrated)."""
    return f"sqlite:///{tmp_path / 'store.db'}"


def _pg_schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL schema; skipped when no server is configured."""
    if not PG_URL:
        pytest.skip("VOICEOBS_TEST_PG_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs on SQLite and on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def empty_url(sqlite_url: str) -> str:
    """URL of a migrated, empty SQLite store."""
    Store.open(sqlite_url, create=True).close()
    return sqlite_url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated, empty store on each backend."""
    s = Store.open(db_url, create=True)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="session")
def echo_server() -> Iterator[ServerProcess]:
    """The echo pipeline in its own process, shared by every test that calls it."""
    server = ServerProcess("echo")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def spec_for() -> Callable[..., ProbeSpec]:
    """Build a one-turn loopback spec: ``spec_for(url, parameters={...})``."""
    return make_spec


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory on a read-only file system (root ignores permission bits, not EROFS)."""
    where = tmp_path / "ro"
    where.mkdir()
    if os.geteuid() == 0:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(where)],
            capture_output=True, check=False,
        )  # fmt: skip
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.decode().strip()}")
        try:
            yield where
        finally:
            subprocess.run(["umount", str(where)], check=False)
    else:
        where.chmod(0o555)
        try:
            yield where
        finally:
            where.chmod(0o755)


@pytest.fixture
def pushgateway() -> Iterator[str]:
    """A real Prometheus Pushgateway on a free loopback port."""
    port = free_port()
    proc = subprocess.Popen(
        ["/usr/bin/prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("pushgateway did not start within 15 s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


# -- real speech (espeak-ng renders), shared by the quality tests and the quality CLI's ----------

SPEECH_PROMPTS = {
    "greeting": "Hello, thank you for calling. How can I help you today?",
    "account": "Please say your account number, then press the pound key.",
    "short": "Yes, that is right.",
}


@pytest.fixture(scope="session")
def tts_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("quality-tts")


@pytest.fixture(scope="session")
def speech(tts_cache: Path) -> dict[str, np.ndarray]:
    """Each prompt at 16 kHz, float64, rendered once per test session."""
    return {
        name: render_speech(text, 16000, cache_dir=tts_cache).astype(np.float64)
        for name, text in SPEECH_PROMPTS.items()
    }


@pytest.fixture(scope="session")
def render(tts_cache: Path) -> Callable[[str, int], np.ndarray]:
    def _render(name: str, rate: int) -> np.ndarray:
        return render_speech(SPEECH_PROMPTS[name], rate, cache_dir=tts_cache).astype(np.float64)

    return _render
