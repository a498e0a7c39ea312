"""Spelled characters keep the span of the word each came from."""

from __future__ import annotations

from voiceobs.redact.spelling import SPELLED_RUN_RE, read_spelled, span_of


def test_letters_digits_and_doubles() -> None:
    text = "it's S M I double T H, one two"
    m = SPELLED_RUN_RE.search(text)
    assert m is not None
    chars = read_spelled(text, m.start(), m.end())
    assert "".join(c for c, _, _ in chars) == "SMITTH12"
    start, end = span_of(chars, 3, 5)  # the two T's of "double T"
    assert text[start:end] == "double T"


def test_as_in_spelling_and_oh() -> None:
    text = "J as in juliet, oh, H for hotel"
    m = SPELLED_RUN_RE.search(text)
    assert m is not None
    assert "".join(c for c, _, _ in read_spelled(text, m.start(), m.end())) == "J0H"


def test_ordinary_words_are_not_a_run() -> None:
    assert SPELLED_RUN_RE.search("I need a ride to the airport") is None
