"""The report adapter registry the webhook endpoints look adapters up in."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from voiceobs.collect import reports
from voiceobs.results import RunResult


class _Stub:
    name = "vapi"

    def parse(self, payload: Mapping[str, Any]) -> RunResult | None:
        return None


@pytest.fixture
def clean_registry() -> Iterator[None]:
    saved = dict(reports.ADAPTERS)
    reports.ADAPTERS.clear()
    try:
        yield
    finally:
        reports.ADAPTERS.clear()
        reports.ADAPTERS.update(saved)


def test_register_and_look_up_by_platform(clean_registry: None) -> None:
    stub = _Stub()
    reports.register(stub)
    assert reports.adapter_for("vapi") is stub
    assert reports.adapter_for("nobody") is None
    assert set(reports.PLATFORMS) == {"vapi", "retell"}
