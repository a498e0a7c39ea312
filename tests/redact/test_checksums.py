"""Check digits and issuing rules: Luhn, IBAN for every country, SSN and NI number rules."""

from __future__ import annotations

import random

import pytest

from voiceobs.redact.checksums import (
    IBAN_LENGTHS,
    iban_check_digits,
    iban_valid,
    luhn,
    nino_valid,
    ssn_valid,
)


def test_luhn() -> None:
    assert luhn("4111111111111111") and luhn("378282246310005")
    assert not luhn("4111111111111112")


@pytest.mark.parametrize("country", sorted(IBAN_LENGTHS))
def test_every_country_length_is_checked(country: str) -> None:
    rng = random.Random(country)
    bban = "".join(rng.choice("0123456789") for _ in range(IBAN_LENGTHS[country] - 4))
    iban = country + iban_check_digits(country, bban) + bban
    assert iban_valid(iban)
    assert not iban_valid(iban + "0")  # one character too many for this country
    assert not iban_valid(iban[:-1])


def test_known_ibans() -> None:
    assert iban_valid("GB82WEST12345698765432")
    assert iban_valid("DE89370400440532013000")
    assert not iban_valid("GB82WEST12345698765433")
    assert not iban_valid("XX82WEST12345698765432")


def test_ssn_and_nino_rules() -> None:
    assert ssn_valid("123", "45", "6789")
    assert not ssn_valid("666", "45", "6789") and not ssn_valid("900", "45", "6789")
    assert nino_valid("AB123456C")
    assert (
        not nino_valid("QQ123456C") and not nino_valid("GB123456A") and not nino_valid("AB123456E")
    )
