"""Redaction over written and spoken PII, the numbers that must survive, and pseudonyms."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from voiceobs.errors import ConfigError
from voiceobs.redact import KEY_ENV, Redactor, redact_text


@pytest.fixture
def plain() -> Redactor:
    return Redactor(use_env=False)


@pytest.fixture
def keyed() -> Redactor:
    return Redactor(b"test-key-1", use_env=False)


# (text, what must be gone, expected output with bare placeholders)
POSITIVES: list[tuple[str, str, str | None]] = [
    # phone, written
    ("call me at 415-555-1212 please", "555", "call me at [PHONE] please"),
    ("my number is (415) 555-0100.", "555", "my number is [PHONE]."),
    ("reach me on +44 20 7946 0958", "7946", "reach me on [PHONE]"),
    ("number 4155551212", "4155551212", "number [PHONE]"),
    # phone, spoken
    (
        "my number is four one five five five five one two one two",
        "four one five",
        "my number is [PHONE]",
    ),
    ("it's four one five, five five five, twelve twelve", "five five five", "it's [PHONE]"),
    ("four one five double five five one two one two", "double", "[PHONE]"),
    (
        "oh, four one five five five five one two one two",
        "one two one two",
        "oh, [PHONE]",
    ),
    (
        "plus four four two oh seven nine four six oh nine five eight",
        "nine four six",
        "[PHONE]",
    ),
    ("call four one five 555 1212 now", "1212", "call [PHONE] now"),
    # card
    ("card 4111 1111 1111 1111 exp 12 25", "4111", "card [CARD] exp 12 25"),
    ("card 4111-1111-1111-1111", "1111", "card [CARD]"),
    ("amex 3782 822463 10005 thanks", "822463", "amex [CARD] thanks"),
    (
        "four one one one one one one one one one one one one one one one",
        "four one",
        "[CARD]",
    ),
    # ssn
    ("my ssn is 123-45-6789", "6789", "my ssn is [SSN]"),
    ("SSN: 123456789", "123456789", "SSN: [SSN]"),
    (
        "social security number one two three four five six seven eight nine",
        "seven eight",
        "social security number [SSN]",
    ),
    # email
    ("email John.Smith@Gmail.com now", "Smith", "email [EMAIL] now"),
    ("it's john dot smith at gmail dot com", "smith", "it's [EMAIL]"),
    ("jane underscore doe at example dot co dot uk, thanks", "doe", "[EMAIL], thanks"),
    ("write to john.smith at gmail.com", "smith", "write to [EMAIL]"),
    # iban
    ("IBAN GB82 WEST 1234 5698 7654 32 thanks", "WEST", "IBAN [IBAN] thanks"),
    ("pay DE89370400440532013000", "DE89", "pay [IBAN]"),
    # ip
    ("client 203.0.113.7 connected", "203.0", "client [IP] connected"),
    ("peer 2001:db8::8a2e:370:7334 left", "2001", "peer [IP] left"),
    ("from 10.1.2.3", "10.1", "from [IP]"),
    # date of birth
    ("I was born on March 3rd 1985", "1985", "I was born on [DOB]"),
    ("DOB 03/04/1985", "1985", "DOB [DOB]"),
    ("date of birth: 1985-03-04", "1985", "date of birth: [DOB]"),
    ("my date of birth is the third of march nineteen eighty five", "march", None),
    ("born in 1985", "1985", "born in [DOB]"),
    ("birthday is July 4, 1990.", "July", "birthday is [DOB]."),
    ("born on twenty first of june two thousand and one", "june", "born on [DOB]"),
    # long digit strings
    # An account cue makes the run an account number (it was [DIGITS] before accounts had a kind).
    ("account double five seven three oh nine one two", "nine one two", "account [ACCOUNT]"),
    ("order 9876 5432 1", "5432", "order [DIGITS]"),
    ("reference one two three four five six seven", "six seven", "reference [DIGITS]"),
]


@pytest.mark.parametrize(("text", "gone", "expected"), POSITIVES)
def test_pii_is_removed(plain: Redactor, text: str, gone: str, expected: str | None) -> None:
    out = plain.redact_text(text)
    assert gone.lower() not in out.lower(), out
    if expected is not None:
        assert out == expected


NEGATIVES = [
    "2 tickets for flight 370",
    "press one to continue",
    "room 12 on floor 3",
    "three hundred dollars",
    "the meeting is at 5:30",
    "in 2019 we moved",
    "nineteen eighty five was a good year",
    "I'd like two tickets at eight for five people",
    "the time is five o'clock",
    "version 1.45.2 build 42",
    "run 4f3a9b2c1d0e4f5a6b7c8d9e0f1a2b3c",
    "ws://127.0.0.1:8765/stream",
    "listening on [::1]:9000 and 0.0.0.0:8000",
    "started 2024-01-15 at 10:30:00",
    "twenty twenty four",
    "turn latency 412.5 ms, pesq 3.9, stoi 0.93",
    "meet me at the lobby",
    "the appointment is on March 3rd 1985",
    "one two three",
    "a dot at the end",
    "",
    "ok",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_ordinary_text_survives(plain: Redactor, keyed: Redactor, text: str) -> None:
    assert plain.redact_text(text) == text
    assert keyed.redact_text(text) == text


def test_unchanged_text_is_the_same_object(plain: Redactor) -> None:
    text = "the asr stage finished"
    assert plain.redact_text(text) is text


@pytest.mark.parametrize(
    ("kind", "forms"),
    [
        (
            "PHONE",
            [
                "415-555-1212",
                "(415) 555 1212",
                "+1 415 555 1212",
                "four one five five five five one two one two",
                "four one five, five five five, twelve twelve",
                "four one five double five five one two one two",
            ],
        ),
        ("EMAIL", ["john.smith@gmail.com", "John Dot Smith at Gmail dot com"]),
        (
            "CARD",
            [
                "4111 1111 1111 1111",
                "4111111111111111",
                "four one one one one one one one one one one one one one one one",
            ],
        ),
        ("DOB", ["born on March 4th 1985", "DOB 03/04/1985", "born on the fourth of march 1985"]),
        ("SSN", ["ssn 123-45-6789", "my social is one two three four five six seven eight nine"]),
        ("IBAN", ["GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432"]),
    ],
)
def test_pseudonym_is_stable_across_written_and_spoken_forms(
    keyed: Redactor, kind: str, forms: list[str]
) -> None:
    tags = set()
    for form in forms:
        found = re.findall(rf"\[{kind}:([0-9a-f]{{8}})\]", keyed.redact_text(form))
        assert len(found) == 1, (form, keyed.redact_text(form))
        tags.add(found[0])
    assert len(tags) == 1, tags


def test_pseudonym_depends_on_key_and_value() -> None:
    a = Redactor(b"key-a", use_env=False)
    b = Redactor(b"key-b", use_env=False)
    phone = "call 415-555-1212"
    assert a.redact_text(phone) != b.redact_text(phone)
    assert a.redact_text(phone) == a.redact_text(phone)
    assert a.redact_text(phone) != a.redact_text("call 415-555-1213")
    # Kinds are part of the HMAC: the same digits as a phone and as a plain run differ.
    assert a.pseudonym("PHONE", "123") != a.pseudonym("DIGITS", "123")


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "from-env")
    assert Redactor().keyed
    assert Redactor(b"from-env", use_env=False).redact_text("415-555-1212") == redact_text(
        "415-555-1212"
    )
    monkeypatch.delenv(KEY_ENV)
    assert not Redactor().keyed
    assert redact_text("415-555-1212") == "[PHONE]"
    assert redact_text("415-555-1212", key=b"k").startswith("[PHONE:")


def test_redaction_is_idempotent(keyed: Redactor, plain: Redactor) -> None:
    for text, _, _ in POSITIVES:
        once = keyed.redact_text(text)
        assert keyed.redact_text(once) == once
        bare = plain.redact_text(text)
        assert plain.redact_text(bare) == bare


def test_region_changes_national_numbers_and_dates() -> None:
    gb = Redactor(region="gb", use_env=False)
    assert gb.redact_text("ring 020 7946 0958") == "ring [PHONE]"
    us = Redactor(b"k", use_env=False)
    uk = Redactor(b"k", region="GB", use_env=False)
    # 03/04 is March 4 in the US and 3 April in Britain: the same day written each way agrees.
    assert us.redact_text("DOB 03/04/1985") == uk.redact_text("DOB 04/03/1985")


def test_unknown_region_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="phone region"):
        Redactor(region="XX", use_env=False)


def test_redact_value_handles_every_attribute_type(plain: Redactor) -> None:
    assert plain.redact_value(412.5) == 412.5
    assert plain.redact_value(4155551212) == 4155551212  # numbers are measurements
    assert plain.redact_value(True) is True
    assert plain.redact_value(b"\x00\x01") == b"\x00\x01"
    assert plain.redact_value(("ok", "call 415-555-1212")) == ("ok", "call [PHONE]")
    assert plain.redact_value(["a@b.example.com"]) == ["[EMAIL]"]
    unchanged = ("asr", "tts")
    assert plain.redact_value(unchanged) is unchanged
    assert plain.redact_mapping(
        {"voice.transcript": "john dot smith at gmail dot com", "voice.output_chars": 31}
    ) == {"voice.transcript": "[EMAIL]", "voice.output_chars": 31}
    assert plain.redact_value({"nested": {"ip": "203.0.113.9"}}) == {"nested": {"ip": "[IP]"}}


def test_several_findings_in_one_transcript(keyed: Redactor) -> None:
    text = (
        "Hi, I'm calling about my card 4111 1111 1111 1111. My number is four one five "
        "five five five one two one two and my email is jane dot doe at example dot com. "
        "I was born on July 4th 1990. I need 2 tickets for flight 370."
    )
    out = keyed.redact_text(text)
    assert re.search(r"card \[CARD:[0-9a-f]{8}\]\.", out)
    assert re.search(r"number is \[PHONE:[0-9a-f]{8}\] and", out)
    assert re.search(r"email is \[EMAIL:[0-9a-f]{8}\]\.", out)
    assert re.search(r"born on \[DOB:[0-9a-f]{8}\]\.", out)
    assert out.endswith("I need 2 tickets for flight 370.")


def test_memo_gives_the_same_answer_as_a_fresh_redactor() -> None:
    texts = [
        "call me on 415 555 0134",
        "ws://127.0.0.1:8080/twilio",
        "flight 370 leaves at 10:45",
        "email john dot smith at gmail dot com",
    ]
    memo = Redactor(b"k", use_env=False)
    cold = Redactor(b"k", use_env=False, memo_size=0)
    for _ in range(3):  # the second and third passes are answered from the memo
        assert [memo.redact_text(t) for t in texts] == [cold.redact_text(t) for t in texts]
    unchanged = "ws://127.0.0.1:8080/twilio"
    assert memo.redact_text(unchanged) is unchanged  # unchanged text stays the same object
    assert memo.redact_text(texts[0]) != texts[0]


def test_memo_is_bounded() -> None:
    memo = Redactor(use_env=False, memo_size=8)
    for i in range(100):
        memo.redact_text(f"order 12345{i:03d} shipped")
    assert len(memo._seen) <= 8


# -- settings, pseudonyms across processes ------------------------------------------


def test_key_from_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text('redact_key = "from-file"\n', encoding="utf-8")
    monkeypatch.setenv("VOICEOBS_CONFIG", str(config))
    monkeypatch.delenv(KEY_ENV, raising=False)
    from_file = Redactor()
    assert from_file.keyed
    assert from_file.redact_text("415-555-1212") == Redactor(
        b"from-file", use_env=False
    ).redact_text("415-555-1212")
    monkeypatch.setenv(KEY_ENV, "from-env")  # the environment wins over the file
    assert Redactor().redact_text("415-555-1212") == Redactor(
        b"from-env", use_env=False
    ).redact_text("415-555-1212")


def test_pseudonym_is_hmac_sha256_of_kind_and_value() -> None:
    # Fixed by definition, so every process, run and release agrees for the same key.
    expected = hmac.new(b"k", b"PHONE:+14155551212", hashlib.sha256).hexdigest()[:8]
    assert (
        Redactor(b"k", use_env=False).redact_text("call 415-555-1212") == f"call [PHONE:{expected}]"
    )


def test_pseudonyms_are_the_same_in_another_process(tmp_path: Path) -> None:
    texts = [
        "call 415-555-1212",
        "my email is john dot smith at gmail dot com",
        "my name is Priya Patel and my pin is four four two one",
        "IBAN GB82 WEST 1234 5698 7654 32",
    ]
    script = (
        "import json, sys\n"
        "from voiceobs.redact import Redactor\n"
        "r = Redactor()\n"
        "print(json.dumps([r.redact_text(t) for t in json.loads(sys.argv[1])]))\n"
    )
    root = str(Path(__file__).resolve().parents[2])  # this checkout, not an installed copy
    env = {**os.environ, KEY_ENV: "shared-key", "PYTHONHASHSEED": "random", "PYTHONPATH": root}
    runs = [
        subprocess.run(
            [sys.executable, "-c", script, json.dumps(texts)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        for _ in range(2)
    ]
    here = [Redactor(b"shared-key", use_env=False).redact_text(t) for t in texts]
    assert json.loads(runs[0]) == json.loads(runs[1]) == here
    assert all(re.search(r"\[[A-Z]+:[0-9a-f]{8}\]", t) for t in here)


# -- attributes: by key and by value -------------------------------------------------


def test_attributes_are_redacted_by_key_and_by_value(keyed: Redactor) -> None:
    transcript = keyed.redact_text("my number is four one five five five five one two one two")
    out = keyed.redact_attributes(
        {
            "sip.phoneNumber": "+14155551212",
            "lk.pii.participant_identity": "sip_+14155551212",
            "lk.pii.room_name": "call-jane-doe",
            "password": "hunter2",
            "http.request.header.authorization": "Bearer abc.def.ghi",
            "voice.transcript": "my number is four one five five five five one two one two",
            "voice.ttfb_ms": 412.5,
            "gen_ai.usage.input_tokens": 1200,
            "voice.stage": "asr",
        }
    )
    phone = re.search(r"\[PHONE:[0-9a-f]{8}\]", transcript)
    assert phone is not None
    # The SIP number and the identity carry the same pseudonym as the number said aloud.
    assert out["sip.phoneNumber"] == phone.group(0)
    assert out["lk.pii.participant_identity"] == phone.group(0)
    assert re.fullmatch(r"\[PII:[0-9a-f]{8}\]", out["lk.pii.room_name"])
    assert "password" not in out and "http.request.header.authorization" not in out
    assert out["voice.transcript"] == transcript
    assert out["voice.ttfb_ms"] == 412.5 and out["gen_ai.usage.input_tokens"] == 1200
    assert out["voice.stage"] == "asr"


def test_unkeyed_pseudonymised_attributes_become_bare_placeholders(plain: Redactor) -> None:
    out = plain.redact_attributes({"sip.phoneNumber": "+14155551212", "email": "a@b.example.com"})
    assert out == {"sip.phoneNumber": "[PHONE]", "email": "[EMAIL]"}


def test_json_chat_messages_are_redacted_field_by_field(plain: Redactor) -> None:
    chat = [
        {"role": "system", "content": "You are an airline assistant."},
        {"role": "user", "content": "my name is Priya Patel, call me on 415 555 1212"},
        {"role": "tool", "content": {"phone": "+14155551212", "seats": 2}},
    ]
    raw = json.dumps(chat)
    out = plain.redact_attributes({"lk.pii.chat_ctx": raw, "llm.messages": raw})
    for key in ("lk.pii.chat_ctx", "llm.messages"):
        doc = json.loads(out[key])  # still valid JSON
        assert doc[0] == chat[0]
        assert doc[1] == {"role": "user", "content": "my name is [NAME], call me on [PHONE]"}
        assert doc[2] == {"role": "tool", "content": {"phone": "[PHONE]", "seats": 2}}
    untouched = json.dumps({"role": "assistant", "content": "Sure, two seats."})
    assert plain.redact_value(untouched) is untouched


def test_text_that_only_looks_like_json_is_redacted_as_text(plain: Redactor) -> None:
    assert plain.redact_value("[call 415-555-1212]") == "[call [PHONE]]"
    assert plain.redact_value("{not json: jane@example.com}") == "{not json: [EMAIL]}"


def test_long_values_are_cut_with_a_marker_and_never_half_visible(plain: Redactor) -> None:
    limit = plain.policy.max_chars
    filler = "word " * ((limit - 20) // 5)
    value = filler + "mail jane.doe@example.com and call 415-555-1212 " + "tail " * 2000
    out = plain.redact_value(value)
    assert len(out) <= limit
    assert re.search(r"…\[\d+ chars cut\]$", out)
    assert "jane" not in out and "example.com" not in out and "555" not in out
    assert plain.redact_value(out) == out  # cutting again changes nothing
    dropped = int(re.search(r"\[(\d+) chars cut\]", out).group(1))  # type: ignore[union-attr]
    assert dropped > 0


def test_long_json_stays_redacted_when_cut(plain: Redactor) -> None:
    doc = json.dumps(
        [{"role": "user", "content": f"turn {i}: call 415-555-{1000 + i}"} for i in range(600)]
    )
    out = plain.redact_value(doc)
    assert len(out) <= plain.policy.max_chars
    assert "555" not in out and out.endswith("chars cut]")


def test_redact_mapping_is_redact_attributes(plain: Redactor) -> None:
    attrs = {"password": "x", "note": "jane@example.com"}
    assert plain.redact_mapping(attrs) == plain.redact_attributes(attrs) == {"note": "[EMAIL]"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4111-1111-1111-1111", "[CARD]"),
        ("4111111111111111", "[CARD]"),
        ("DE89370400440532013000", "[IBAN]"),
        ("+14155551212", "[PHONE]"),
        ("4f3a9b2c1d0e4f5a6b7c8d9e01234567", None),
        ("123e4567-e89b-12d3-a456-426614174000", None),
    ],
)
def test_one_word_values(plain: Redactor, value: str, expected: str | None) -> None:
    """Ids are skipped quickly; a card, IBAN or phone that is the whole value is not."""
    assert plain.redact_value(value) == (value if expected is None else expected)


_SALAD_TEXT = (
    "my name is|this is|calling|speaking with|Mr.|spelled|J|O|H|N|pin|code|password|is|account|"
    "number|order|one|two|oh|double|triple|five|twenty|hundred|at|dot|com|underscore|born|March|"
    "1985|03/04/1985|415-555-1212|+44|(0)20|7946|4111|1111|GB82|WEST|123-45-6789|AB123456C|"
    "203.0.113.7|::1|2001:db8::1|127.0.0.1:8765|https://x.example.com/?token=abc&email=a%40b.com|"
    "Baker|Street|221B|St|Apt|SW1A|1AA|zip|94103|IL|[PHONE]|[NAME:abcdef12]|:|=|&|%|#|@|.|,|-|/|(|)|"
    "é|中|api_key=x|Bearer|eyJabc.eyJdef.ghi|the|a|I|and|ms|500|$|12.50|one-way|x204|\n"
)
_SALAD = _SALAD_TEXT.split("|")


def test_word_salad_never_raises_and_only_replaces_stretches() -> None:
    """Monitoring never breaks what it watches: any text gives an answer, quickly."""
    from tests.redact.corpus.score import removed_regions

    rng = random.Random(17)
    redactors = [Redactor(use_env=False), Redactor(b"k", use_env=False, region="GB")]
    for _ in range(1500):
        text = rng.choice([" ", ", ", ""]).join(
            rng.choice(_SALAD) for _ in range(rng.randint(1, 25))
        )
        for r in redactors:
            out = r.redact_text(text)
            assert removed_regions(text, out) is not None, (text, out)
            r.redact_url(text)
            r.redact_attributes({"sip.phoneNumber": text, "lk.pii.chat_ctx": text, "x": text})


def test_a_cut_value_keeps_its_marker_when_redacted_again(plain: Redactor) -> None:
    huge = "a " * 600_000 + "call 415-555-1212"  # over a million characters: a 7-digit count
    once = plain.redact_value(huge)
    assert re.search(r"…\[\d{7} chars cut\]$", once)
    assert plain.redact_value(once) == once


def test_a_text_marked_as_redacted_output_is_kept_and_a_new_one_is_still_redacted() -> None:
    red = Redactor(use_env=False)
    said = red.redact_text("call me on four one five, five five five, one two one two")
    tail = "my card is 4111 1111 1111 1111"
    red.mark_redacted([said, "ok"])
    assert red.redact_text(said) is said
    # A marked text is answered by lookup, without a pass: marking raw text (which only the
    # collector's door output ever is) would keep it, which shows no pass ran.
    raw = "call 415 555 0134 now"
    red.mark_redacted([raw])
    assert red.redact_text(raw) == raw and Redactor(use_env=False).redact_text(raw) != raw
    # A text made anew from redacted pieces (a transcript joined from two spans) is not a
    # marked output: it gets the full pass, and a number split across the pieces is found.
    joined = red.redact_text("my number is four one five " + "five five five one two one two")
    assert "five five five" not in joined and "[PHONE" in joined
    assert "4111" not in red.redact_text(tail)


def test_marks_are_bounded_by_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    import voiceobs.redact.redactor as module

    monkeypatch.setattr(module, "_REDACTED_MAX", 3)
    red = Redactor(use_env=False)
    red.mark_redacted([f"text number {i}" for i in range(3)])  # fills one generation
    red.mark_redacted(["text number 3"])
    assert len(red._redacted) + len(red._redacted_old) == 4
    red.mark_redacted([f"text number {i}" for i in range(4, 7)])  # the first generation goes
    assert "text number 0" not in red._redacted and "text number 0" not in red._redacted_old
    assert "text number 6" in red._redacted_old
