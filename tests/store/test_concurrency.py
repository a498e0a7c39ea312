"""Several processes writing one SQLite store at once lose nothing and never see 'locked'."""

from __future__ import annotations

import multiprocessing as mp
from datetime import timedelta

from tests.store.factories import T0, make_run
from voiceobs.results import utcnow
from voiceobs.store import Store

RUNS_PER_WRITER = 60


def _writer(url: str, writer: int, barrier: object) -> None:
    store = Store.open(url)
    barrier.wait()  # type: ignore[attr-defined]
    for i in range(RUNS_PER_WRITER):
        store.save_run(
            make_run(probe=f"writer-{writer}", started_at=T0 + timedelta(seconds=i), turns=3)
        )
    store.close()


def _incident_racer(url: str, barrier: object, out: object) -> None:
    store = Store.open(url)
    barrier.wait()  # type: ignore[attr-defined]
    incident, created = store.open_incident("latency", "page")
    won = store.claim_hook(incident.id, "failover", "firing")
    out.put((incident.id, created, won))  # type: ignore[attr-defined]
    store.close()


def _lease_racer(url: str, incident_id: int, barrier: object, out: object) -> None:
    store = Store.open(url)
    barrier.wait()  # type: ignore[attr-defined]
    lease = store.take_hook_lease(incident_id, "failover", "firing", by="racer", lease_seconds=60)
    out.put(lease.token if lease else None)  # type: ignore[attr-defined]
    store.close()


def test_two_processes_saving_runs_at_once_lose_nothing(sqlite_url: str) -> None:
    Store.open(sqlite_url, create=True).close()
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(sqlite_url, w, barrier)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store = Store.open(sqlite_url)
    assert store.count_runs() == 2 * RUNS_PER_WRITER
    assert len(store.query_turns(limit=None)) == 2 * RUNS_PER_WRITER * 3
    for w in range(2):
        assert len(store.list_runs(probe=f"writer-{w}", limit=1000)) == RUNS_PER_WRITER


def test_racing_evaluators_open_one_incident_and_one_claim(db_url: str) -> None:
    Store.open(db_url, create=True).close()
    ctx = mp.get_context("spawn")
    n = 4
    barrier = ctx.Barrier(n)
    out = ctx.Queue()
    procs = [ctx.Process(target=_incident_racer, args=(db_url, barrier, out)) for _ in range(n)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in range(n)]
    for p in procs:
        p.join(60)
    assert len({r[0] for r in results}) == 1, "every racer must see the same incident"
    assert sum(r[1] for r in results) == 1, "exactly one racer creates it"
    assert sum(r[2] for r in results) == 1, "exactly one racer may fire the hook"


def test_racing_evaluators_take_a_due_claim_once(db_url: str) -> None:
    """A delivery that failed earlier is due again; of the racers that find it, one delivers."""
    store = Store.open(db_url, create=True)
    incident, _ = store.open_incident("latency", "page")
    first = store.take_hook_lease(incident.id, "failover", "firing", lease_seconds=60)
    assert first is not None
    assert store.release_hook_lease(
        first.claim.id, first.token, attempts=1, next_attempt_at=utcnow(), error="HTTP 500"
    )
    ctx = mp.get_context("spawn")
    n = 4
    barrier = ctx.Barrier(n)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_lease_racer, args=(db_url, incident.id, barrier, out)) for _ in range(n)
    ]
    for p in procs:
        p.start()
    tokens = [out.get(timeout=120) for _ in range(n)]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    winners = [t for t in tokens if t is not None]
    assert len(winners) == 1, "exactly one racer may take the lease"
    [claim] = store.hook_claims(incident.id)
    assert (claim.state, claim.lease_token, claim.claimed_by) == ("delivering", winners[0], "racer")
    store.close()
