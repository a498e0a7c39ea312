"""The redaction policy file: defaults, a user file merged over them, and one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from voiceobs.errors import SpecError
from voiceobs.redact import Redactor, default_redactor, load_policy
from voiceobs.redact.policy import DEFAULT_POLICY_PATH


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_ship_with_the_package() -> None:
    policy = load_policy()
    assert DEFAULT_POLICY_PATH.is_file()
    assert policy.action_for("sip.phoneNumber") == ("pseudonymise", "PHONE", 8192)
    assert policy.action_for("lk.pii.participant_identity")[:2] == ("pseudonymise", "auto")
    assert policy.action_for("lk.pii.user_transcript")[0] == "redact"
    assert policy.action_for("lk.pii.something_new")[:2] == ("pseudonymise", "auto")
    assert policy.action_for("http.request.header.authorization")[0] == "drop"
    assert policy.action_for("SIP.PHONENUMBER")[0] == "pseudonymise"  # keys match in any case
    assert policy.action_for("voice.ttfb_ms") == ("redact", None, 8192)
    assert policy.url.secret("access_token") and policy.url.secret("X-Amz-Signature")
    assert policy.url.secret("myApiKey") and policy.url.secret("client-session-id")
    assert not policy.url.secret("page")
    assert policy.url.pii_kind("E-Mail") == "EMAIL"


def test_a_user_file_is_merged_over_the_defaults(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
max_chars: 100
truncation_marker: " <cut {dropped}>"
attributes:
  - match: "lk.pii.*"
    action: drop
  - match: [customer.account, "*.loyalty_id"]
    action: pseudonymise
    kind: ACCOUNT
  - match: voiceobs.run_id
    action: keep
url:
  secret_params: [magic]
  pii_params: {member: ACCOUNT}
""",
    )
    policy = load_policy(path)
    assert policy.sources == (str(DEFAULT_POLICY_PATH), str(path))
    assert policy.max_chars == 100 and policy.truncation_marker == " <cut {dropped}>"
    assert policy.action_for("lk.pii.user_transcript")[0] == "drop"  # user rules come first
    assert policy.action_for("x.loyalty_id")[:2] == ("pseudonymise", "ACCOUNT")
    assert policy.action_for("sip.phoneNumber")[:2] == ("pseudonymise", "PHONE")  # defaults stay
    assert policy.url.secret("magic") and policy.url.secret("token")
    assert policy.url.pii_kind("member") == "ACCOUNT" and policy.url.pii_kind("email") == "EMAIL"

    r = Redactor(use_env=False, policy=path)
    out = r.redact_attributes(
        {
            "lk.pii.user_transcript": "hi",
            "customer.account": "A-1234",
            "voiceobs.run_id": "call 415-555-1212",
            "note": "x " * 200,
        }
    )
    assert out["customer.account"] == "[ACCOUNT]"
    assert out["voiceobs.run_id"] == "call 415-555-1212"  # kept as the user said
    assert "lk.pii.user_transcript" not in out
    assert len(out["note"]) <= 100 and re.search(r" <cut \d+>$", out["note"])
    assert r.redact_url("https://x.example.com/?magic=abc&member=77") == (
        "https://x.example.com/?magic=[SECRET]&member=[ACCOUNT]"
    )


def test_policy_setting_comes_from_env_and_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, "attributes:\n  - match: voice.stage\n    action: drop\n")
    monkeypatch.setenv("VOICEOBS_REDACT_POLICY", str(path))
    assert "voice.stage" not in Redactor().redact_attributes({"voice.stage": "asr"})
    assert "voice.stage" not in default_redactor().redact_attributes({"voice.stage": "asr"})
    monkeypatch.delenv("VOICEOBS_REDACT_POLICY")
    config = tmp_path / "config.toml"
    config.write_text(f'redact_policy = "{path}"\n', encoding="utf-8")
    monkeypatch.setenv("VOICEOBS_CONFIG", str(config))
    assert "voice.stage" not in Redactor().redact_attributes({"voice.stage": "asr"})
    # use_env=False ignores settings: the shipped defaults only.
    assert Redactor(use_env=False).redact_attributes({"voice.stage": "asr"}) == {
        "voice.stage": "asr"
    }


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("attributes:\n  - match: a\n    action: dorp\n", 3, "unknown action 'dorp'"),
        ("attributes:\n  - match: a\n    action: pseudonymise\n    kind: phone\n", 4, "kind"),
        ("attributes:\n  - match: a\n    action: keep\n    kind: PHONE\n", 4, "only to action"),
        ("attributes:\n  - match: a\n", 2, "needs both match and action"),
        ("attributes:\n  - match: [a, 3]\n    action: drop\n", 2, "list of strings"),
        ("attributes:\n  - match: a\n    action: drop\n    colour: red\n", 4, "unknown rule field"),
        ("max_chars: 10\n", 1, "at least 64"),
        ("max_chars: lots\n", 1, "whole number"),
        ("truncation_marker: '{n} gone'\n", 1, "{dropped}"),
        ("default: drop\n", 1, "redact or keep"),
        ("version: 2\n", 1, "version 1"),
        ("colour: red\n", 1, "unknown setting 'colour'"),
        ("url:\n  pii_params: {email: mail}\n", 2, "upper-case"),
        ("url:\n  secret: [a]\n", 2, "unknown setting 'secret'"),
        ("attributes: [\n", 2, "not valid YAML"),
        ("- just\n- a list\n", 1, "is a mapping"),
    ],
)
def test_bad_policy_files_give_one_line_errors_with_file_and_line(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as err:
        load_policy(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: "), message
    assert words in message


def test_a_missing_policy_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read redaction policy"):
        load_policy(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match="cannot read redaction policy"):
        Redactor(use_env=False, policy=tmp_path / "nope.yaml")


def test_an_edited_policy_file_is_read_again(tmp_path: Path) -> None:
    path = _write(tmp_path, "attributes:\n  - match: a\n    action: drop\n")
    assert load_policy(path).action_for("a")[0] == "drop"
    path.write_text("attributes:\n  - match: a\n    action: keep\n", encoding="utf-8")
    import os

    os.utime(path, ns=(1, 10**18))  # a different mtime, whatever the clock's resolution
    assert load_policy(path).action_for("a")[0] == "keep"


def test_the_readme_example_policy_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Redaction", 1)[1]
    example = section.split("```yaml", 1)[1].split("```", 1)[0]
    policy = load_policy(_write(tmp_path, example))
    assert policy.max_chars == 4096
    assert policy.action_for("crm.customer_id")[:2] == ("pseudonymise", "ACCOUNT")
    assert policy.action_for("lk.pii.user_transcript")[0] == "drop"
    assert policy.url.secret("magic_link") and policy.url.pii_kind("member") == "ACCOUNT"
