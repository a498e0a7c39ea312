"""Spoken numbers: digits, "oh", "double", "triple", grouped numbers, years and days."""

from __future__ import annotations

import pytest

from voiceobs.redact.numbers import day_value, run_digits, spoken_year, year_value


@pytest.mark.parametrize(
    ("said", "digits"),
    [
        ("four one five five five five one two one two", "4155551212"),
        ("four fifteen, five five five, twelve twelve", "4155551212"),
        ("double five triple seven oh", "557770"),
        ("one eight hundred five five five", "1800555"),
        ("forty two oh nine", "4209"),
        ("four one five um five five five", "415555"),
    ],
)
def test_run_digits(said: str, digits: str) -> None:
    assert run_digits(said)[0] == digits


def test_plus_is_an_international_prefix() -> None:
    assert run_digits("plus four four seven seven") == ("4477", True, True)


@pytest.mark.parametrize(
    ("said", "year"),
    [
        ("nineteen eighty five", 1985),
        ("two thousand and one", 2001),
        ("nineteen oh five", 1905),
        ("eighty five", 1985),
        ("twenty twenty four", 2024),
        ("nine", None),
    ],
)
def test_spoken_year(said: str, year: int | None) -> None:
    assert spoken_year(said) == year


def test_days_and_years() -> None:
    assert day_value("twenty first") == 21
    assert day_value("3rd") == 3
    assert year_value("'85") == 1985
    assert year_value("1990") == 1990
