"""Racing evaluators (processes and threads) deliver each hook event exactly once."""

from __future__ import annotations

import multiprocessing as mp
import threading
from collections import Counter
from pathlib import Path
from queue import Queue
from typing import Any

import pytest

from tests.failover.helpers import firing, race_worker, retry_worker, write_hooks
from tests.helpers import receiver
from voiceobs.failover import load_hooks, process
from voiceobs.store import Store

ROUNDS = 4  # fire, resolve, fire again, resolve again


def _hooks(tmp_path: Path, url: str) -> Path:
    return write_hooks(
        tmp_path / "hooks.yaml",
        f"""\
hooks:
  - name: a
    match: {{slo: "*", severity: [page, ticket]}}
    action: webhook
    url: {url}/a
  - name: b
    match: {{slo: "agent-availability"}}
    action: webhook
    url: {url}/b
""",
    )


def _check(rx_bodies: list[Any], paths: list[str], delivered: list[tuple[str, str, int]]) -> None:
    # Two incidents (page + ticket) per firing round, two firing rounds.
    # Hook a: 4 incidents x (firing + resolved) = 8; hook b: 2 page incidents x 2 = 4.
    assert Counter(paths) == {"/a": 8, "/b": 4}
    assert Counter(b["status"] for b in rx_bodies) == {"firing": 6, "resolved": 6}
    # Every (hook, event, incident) was delivered by exactly one evaluator.
    assert len(delivered) == 12 and len(set(delivered)) == 12


@pytest.mark.slow
def test_racing_processes_deliver_once(db_url: str, tmp_path: Path) -> None:
    Store.open(db_url, create=True).close()
    ctx = mp.get_context("spawn")
    with receiver() as rx:
        hooks = _hooks(tmp_path, rx.url)
        barrier = ctx.Barrier(3)
        out = ctx.Queue()
        procs = [
            ctx.Process(target=race_worker, args=(db_url, str(hooks), barrier, out, ROUNDS))
            for _ in range(3)
        ]
        for p in procs:
            p.start()
        delivered = [x for _ in procs for x in out.get(timeout=120)]
        for p in procs:
            p.join(timeout=30)
            assert p.exitcode == 0
        _check(rx.bodies(), [r.path for r in rx.requests], [tuple(x) for x in delivered])
    store = Store.open(db_url)
    incidents = store.list_incidents()
    assert len(incidents) == 4 and all(i.state == "resolved" for i in incidents)
    attempts = store.deliveries()
    assert len(attempts) == 12 and all(a.outcome == "ok" for a in attempts)
    store.close()


def test_racing_threads_deliver_once(db_url: str, tmp_path: Path) -> None:
    Store.open(db_url, create=True).close()
    with receiver() as rx:
        hooks = _hooks(tmp_path, rx.url)
        barrier = threading.Barrier(4)
        out: Queue[list[tuple[str, str, int]]] = Queue()
        threads = [
            threading.Thread(target=race_worker, args=(db_url, str(hooks), barrier, out, ROUNDS))
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        delivered = [x for _ in threads for x in out.get(timeout=5)]
        _check(rx.bodies(), [r.path for r in rx.requests], delivered)


@pytest.mark.slow
def test_racing_processes_retry_a_pending_delivery_once(db_url: str, tmp_path: Path) -> None:
    store = Store.open(db_url, create=True)
    ctx = mp.get_context("spawn")
    with receiver(codes=[500]) as rx:
        hooks = write_hooks(
            tmp_path / "hooks.yaml",
            f"hooks:\n  - {{name: a, match: {{slo: '*'}}, action: webhook, url: '{rx.url}/a',"
            " retries: 0, backoff: 10ms}\n",
        )
        [failed] = process(store, [firing("agent-availability")], load_hooks(hooks)).deliveries
        assert failed.state == "pending"
        n = 4
        barrier = ctx.Barrier(n)
        out = ctx.Queue()
        procs = [
            ctx.Process(target=retry_worker, args=(db_url, str(hooks), barrier, out))
            for _ in range(n)
        ]
        for p in procs:
            p.start()
        delivered = [x for _ in procs for x in out.get(timeout=120)]
        for p in procs:
            p.join(timeout=30)
            assert p.exitcode == 0
        assert delivered == [("a", "firing", "ok")]  # one of the racers, once
        assert len(rx.requests) == 2
    [claim] = store.hook_claims()
    assert (claim.state, claim.attempts) == ("delivered", 2)
    assert [a.outcome for a in store.deliveries()] == ["failed", "ok"]
    store.close()
