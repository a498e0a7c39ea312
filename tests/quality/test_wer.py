"""WER normalisation: formatting is not an error, words are."""

from __future__ import annotations

import pytest

from voiceobs.errors import QualityError
from voiceobs.quality import wer
from voiceobs.quality.wer import normalize


@pytest.mark.parametrize(
    ("expected", "heard"),
    [
        ("It's 2 PM.", "its two pm"),
        ("Your balance is $1,250.", "your balance is one thousand two hundred fifty"),
        ("Call 911!", "call nine hundred eleven"),
        ("Rate: 3.5%", "rate three point five percent"),
        ("HELLO, World", "hello world"),
    ],
)
def test_formatting_differences_are_not_errors(expected: str, heard: str) -> None:
    assert wer(expected, heard) == 0.0


def test_word_errors_are_counted() -> None:
    assert wer("please say your account number", "please say account number") == pytest.approx(0.2)
    assert wer("yes", "no") == 1.0
    assert wer("two words", "") == 1.0
    assert normalize("Twenty-2 apples") == "twenty two apples"


def test_empty_expected_text_is_an_error() -> None:
    with pytest.raises(QualityError) as err:
        wer("  ...  ", "anything")
    assert err.value.reason == "no_reference"
