"""US SSNs and UK National Insurance numbers."""

from __future__ import annotations

import pytest

from voiceobs.redact import Redactor


@pytest.fixture
def r() -> Redactor:
    return Redactor(b"k", use_env=False)


def test_nino_forms_share_a_pseudonym(r: Redactor) -> None:
    forms = ["AB 12 34 56 C", "AB123456C", "ab123456c", "A B one two three four five six C"]
    outs = {r.redact_text(f"my NI number is {f}") for f in forms}
    assert len(outs) == 1 and outs.pop().startswith("my NI number is [NINO:")


def test_numbers_the_ssa_never_issues_are_not_ssns(r: Redactor) -> None:
    assert "[SSN" in r.redact_text("ssn 123-45-6789")
    assert "[SSN" not in r.redact_text("ref 666-45-6789")
