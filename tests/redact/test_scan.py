"""The scan: claims never overlap, and cue positions are whole words."""

from __future__ import annotations

from voiceobs.redact.scan import Scan


def test_claims_never_overlap_and_protect_blocks() -> None:
    scan = Scan("call 415 555 1212 now", "US")
    assert scan.claim(5, 17, "PHONE", "x")
    assert not scan.claim(10, 20, "DIGITS", "y")
    scan.protect(18, 21)
    assert not scan.claim(18, 21, "NAME", "z")
    assert scan.findings() == [(5, 17, "PHONE", "x", None)]


def test_positions_are_whole_words_including_possessives() -> None:
    scan = Scan("My pin's 4421; spinning pins, pin", "US")
    assert "pin" in scan.words and "pin's" in scan.words
    assert scan.positions(frozenset({"pin"})) == [3, 30]


def test_features() -> None:
    scan = Scan("Call 415 now", "US")
    assert scan.digits == 3 and scan.lower == "call 415 now"
    assert scan.spelled() == []
    spelled = Scan("it's J O H N", "US").spelled()
    assert len(spelled) == 1
