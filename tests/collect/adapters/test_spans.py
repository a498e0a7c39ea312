"""Reading span attributes: odd values give None, never an exception; the tree follows parents."""

from __future__ import annotations

import math

import pytest

from tests.collect.otel import Tracing
from voiceobs.collect.adapters.spans import (
    SpanTree,
    containing,
    duration_ms,
    failed,
    flag,
    integer,
    json_object,
    number,
    seconds_to_ms,
    text,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3.0), (0.25, 0.25), ("1.5", 1.5), (" 2 ", 2.0), (True, None), (None, None), ("[REDACTED]", None),
     (math.nan, None), (math.inf, None), ("nan", None), ([1], None)],
)  # fmt: skip
def test_number(value: object, expected: float | None) -> None:
    assert number(value) == expected


def test_integer_flag_text_and_units() -> None:
    assert (integer(3.0), integer("4"), integer(2.5), integer(False)) == (3, 4, None, None)
    assert (flag(True), flag("false"), flag("yes"), flag(1)) == (True, False, None, None)
    assert (text(" hi "), text(""), text(5)) == (" hi ", None, None)
    assert seconds_to_ms(0.433) == pytest.approx(433.0) and seconds_to_ms("x") is None
    assert json_object('{"ttft": 0.3}') == {"ttft": 0.3}
    assert (
        json_object("[1, 2]") == {} and json_object("{not json") == {} and json_object(None) == {}
    )


def test_the_tree_follows_parents_and_times() -> None:
    t = Tracing({"service.name": "bot"})
    tr = t.tracer("x")
    with t.span(tr, "root", 0, 100) as root:
        with (
            t.span(tr, "turn", 10, 50, root) as turn,
            t.span(tr, "stt", 12, 20, turn, error="boom"),
        ):
            pass
        with t.span(tr, "turn", 60, 90, root):
            pass
    spans = t.spans()
    tree = SpanTree(reversed(spans))
    (r,) = tree.named("root")
    first, second = tree.named("turn")
    (stt,) = tree.named("stt")
    assert [s.record.name for s in tree.descendants(r)] == ["turn", "stt", "turn"]
    assert tree.children(first) == [stt]
    assert tree.ancestor_in(stt, {r.record.span_id}) == r.record.span_id
    assert tree.ancestor_in(r, {first.record.span_id}) is None
    assert containing(stt, [first, second]) is first
    assert duration_ms(stt) == pytest.approx(8.0)
    assert failed(stt) and not failed(first)
