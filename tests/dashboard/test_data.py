"""The dashboard's query cache keys: ranges snapped so repeated renders share one answer."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "dashboards"))

from dashkit import data


@pytest.mark.parametrize(
    ("length", "step"),
    [
        (timedelta(hours=1), 30),
        (timedelta(hours=24), 30),
        (timedelta(days=7), 300),
        (timedelta(days=30), 900),
    ],
)
def test_the_range_end_is_snapped_to_a_step_that_grows_with_the_range(
    length: timedelta, step: int
) -> None:
    assert data.snap_step_s(length) == step
    first = data.now_snapped(length)
    assert first.timestamp() % step == 0  # on the step, no fraction left over
    assert first.microsecond == 0
    again = data.now_snapped(length)
    # Two renders a moment apart ask with the same range (the cache key), unless a step ended.
    assert again == first or again - first == timedelta(seconds=step)


def test_a_range_query_is_answered_from_the_cache_on_the_next_render(
    seeded_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voiceobs.store import analytics

    ran: list[object] = []
    real = analytics.counts
    monkeypatch.setattr(analytics, "counts", lambda store, f: ran.append(f) or real(store, f))
    data.counts.clear()
    length = timedelta(hours=24)
    for _ in range(3):
        until = data.now_snapped(length)
        data.counts(seeded_url, analytics.Filters(since=until - length, until=until))
    assert 1 <= len(ran) <= 2  # once, or twice when a 30 s step ended in between
