"""The recording path: every source of calls records its results the same way.

::

    RunResults ─► redact (redact_run) ─► store, or the spool when it is down ─► Prometheus

Probe runs (``voiceobs probe run``, ``gate --run-probes``, the demo) and
production traffic hand their ``RunResult``s to :func:`record`, so a result
is redacted before anything stores, spools, pushes or prints it, whatever
produced it, and the store-down policy (``voiceobs.store.spool``) is the same
for all. This module only composes the stages; each lives in its own package.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from voiceobs.errors import ResultsLost, StoreError
from voiceobs.probe.lock import spec_lock
from voiceobs.probe.runner import Progress, run_spec_async
from voiceobs.probe.spec import ProbeSpec, load_spec
from voiceobs.probe.workers import resolve_workers, run_spec_workers
from voiceobs.redact import Redactor, default_redactor, redact_run
from voiceobs.results import RunResult
from voiceobs.store import Store
from voiceobs.store.joins import join_calls
from voiceobs.store.spool import SaveReport, Spool, save_or_spool

log = logging.getLogger(__name__)


@dataclass
class Recorded:
    """What recording did: the redacted results, where they went, and whether they were pushed."""

    results: list[RunResult] = field(default_factory=list)
    saved: SaveReport | None = None
    pushed: bool | None = None


def record(
    results: Sequence[RunResult],
    *,
    store: Store | None = None,
    db_url: str | None = None,
    save: bool = True,
    pushgateway: str | None = None,
    job: str | None = None,
    redactor: Redactor | None = None,
    spool: Spool | None = None,
    replace: bool = False,
) -> Recorded:
    """Redact, then save (or spool), then push ``results``.

    ``replace`` rewrites stored calls of the same ids (production calls that
    grew as late spans arrived) instead of keeping their first version.

    Raises ``ResultsLost`` (with the redacted results that neither the store
    nor the spool took) after pushing, so the caller can print them; a store
    that is merely down is not an error here, the spool takes the results.
    """
    # One redactor for the batch: the shared one is looked up from the settings, which a
    # collector recording hundreds of calls a second must not re-read per call.
    red = redactor or (default_redactor() if results else None)
    clean = [redact_run(r, red) for r in results]
    out = Recorded(results=clean)
    if save and clean:
        out.saved = save_or_spool(
            clean, store, db_url=db_url, spool=spool, on_saved=_join, replace=replace
        )
    if pushgateway and clean:
        from voiceobs.metrics import push_results

        name = job or f"voiceobs_probe_{clean[0].probe_name}"
        out.pushed = push_results(clean, pushgateway, job=name)
    if out.saved is not None and out.saved.lost:
        reasons = "; ".join(dict.fromkeys(out.saved.errors))
        raise ResultsLost(
            f"{len(out.saved.lost)} result(s) could not be stored or spooled ({reasons})",
            out.saved.lost,
        )
    return out


def _join(store: Store, runs: Sequence[RunResult]) -> None:
    """Join stored calls with the other side's record of each, if that has arrived."""
    try:
        join_calls(store, [r.id for r in runs])
    except StoreError as exc:  # a join can be made later; the results are safe
        log.warning("cannot join %d call(s) with their other side: %s", len(runs), exc)


def lost_as_json(exc: ResultsLost) -> str:
    """The lost results as JSON lines (spans left out), for a caller to print."""
    lines = []
    for run in exc.lost:
        data = run.to_json()
        data.pop("spans", None)
        lines.append(json.dumps(data, default=str))
    return "\n".join(lines)


def run_spec(
    spec_or_path: ProbeSpec | str | Path,
    *,
    store: Store | None = None,
    db_url: str | None = None,
    concurrency: int | None = None,
    pushgateway: str | None = None,
    progress: Progress | None = None,
    save: bool = True,
    workers: int | str | None = None,
) -> list[RunResult]:
    """Run a probe spec once and record it: one redacted ``RunResult`` per call.

    The public entry point for the CLI, the CI gate and scripts. Raises
    ``SpecError`` for a bad spec, ``RunLocked`` when another run of the same
    spec is in progress and ``ResultsLost`` when a result could be neither
    stored nor spooled; call failures are results, not exceptions.

    ``workers`` spreads the calls over that many processes (a count or
    ``auto``, see ``voiceobs.probe.workers.resolve_workers``); their results
    are merged and recorded here, once, like a single process's.
    """
    spec = spec_or_path if isinstance(spec_or_path, ProbeSpec) else load_spec(spec_or_path)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("run_spec() cannot run inside an event loop; use run_spec_async()")
    spec = spec.with_concurrency(concurrency)
    count = resolve_workers(spec, workers)
    with spec_lock(spec.name, spec.source):
        if count > 1:
            raw = run_spec_workers(spec, count, progress=progress)
        else:
            raw = asyncio.run(run_spec_async(spec, progress=progress))
        recorded = record(
            raw,
            store=store,
            db_url=db_url,
            save=save,
            pushgateway=pushgateway,
            job=f"voiceobs_probe_{spec.name}",
        )
    return recorded.results


__all__ = ["Recorded", "lost_as_json", "record", "run_spec"]
