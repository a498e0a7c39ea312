"""Cards (Luhn) and IBANs (mod 97, country length) in every form."""

from __future__ import annotations

import pytest

from voiceobs.redact import Redactor


@pytest.fixture
def r() -> Redactor:
    return Redactor(b"k", use_env=False)


def test_iban_forms_share_a_pseudonym(r: Redactor) -> None:
    forms = [
        "GB82 WEST 1234 5698 7654 32",
        "GB82WEST12345698765432",
        "gb82west12345698765432",
        "gb82 west 1234 5698 7654 32",
        "G B eight two W E S T one two three four five six nine eight seven six five four three two",
    ]
    outs = {r.redact_text(f"iban {f} thanks") for f in forms}
    assert len(outs) == 1 and outs.pop().startswith("iban [IBAN:")


def test_a_code_that_only_looks_like_an_iban_survives(r: Redactor) -> None:
    text = "ticket GB82 WEST 1234 5698 7654 33 thanks"  # bad check digits
    assert "[IBAN" not in r.redact_text(text)


def test_card_inside_a_longer_run_leaves_the_expiry(r: Redactor) -> None:
    out = r.redact_text("card 4111 1111 1111 1111 12 25")
    assert out.startswith("card [CARD:") and out.endswith(" 12 25")
