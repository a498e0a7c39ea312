"""The hooks file: a valid file parses; every mistake names file, line, hook and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.failover.helpers import write_hooks
from voiceobs.errors import SpecError
from voiceobs.failover import load_hooks, parse_hooks
from voiceobs.failover.spec import parse_duration  # the one grammar, zero allowed

VALID = """\
external_url: http://dash.example:8501/
defaults:
  timeout: 2s
  retries: 3
  cooldown: 10m
hooks:
  - name: oncall
    match: {slo: "agent-*", severity: [page, ticket]}
    action: webhook
    url: http://127.0.0.1:9/hook
    secret_env: HOOK_SECRET
    timeout: 500ms
  - name: am
    match: {labels: {region: eu}}
    action: alertmanager
    url: http://127.0.0.1:9093
  - name: script
    match: {slo: [a, b]}
    action: command
    argv: [/bin/echo, hello, 3]
    send_resolved: false
  - name: degrade
    match: {slo: agent-availability}
    action: pipeline_mode
    url: http://127.0.0.1:8765
    token_env: VOICEOBS_ADMIN_TOKEN
  - name: py
    match: {slo: "*"}
    action: python
    entry_point: json:dumps
"""


def test_valid_file_parses_with_defaults_and_overrides(tmp_path: Path) -> None:
    hooks = load_hooks(write_hooks(tmp_path / "hooks.yaml", VALID))
    assert [h.name for h in hooks.hooks] == ["oncall", "am", "script", "degrade", "py"]
    assert hooks.external_url == "http://dash.example:8501"
    oncall = hooks.get("oncall")
    assert oncall.timeout == 0.5 and oncall.retries == 3 and oncall.cooldown == 600
    assert hooks.get("am").timeout == 2.0
    assert hooks.get("script").option("argv") == ["/bin/echo", "hello", "3"]
    assert hooks.get("script").send_resolved is False
    # Binding: glob on the SLO name, label selector, severities (page by default).
    assert [h.name for h in hooks.bound("agent-latency", {}, "ticket")] == ["oncall"]
    assert [h.name for h in hooks.bound("x", {"region": "eu"}, "page")] == ["am", "py"]
    assert [h.name for h in hooks.bound("a", {"region": "us"}, "page")] == ["script", "py"]
    assert [h.name for h in hooks.bound("agent-availability", {}, "page")] == [
        "oncall",
        "degrade",
        "py",
    ]


def test_example_hooks_file_in_probes_is_valid() -> None:
    hooks = load_hooks(Path(__file__).parents[2] / "probes" / "hooks.yaml")
    assert {h.action for h in hooks.hooks} == {
        "webhook",
        "alertmanager",
        "command",
        "pipeline_mode",
        "python",
    }


@pytest.mark.parametrize(
    ("body", "line", "field", "words"),
    [
        (
            "hooks:\n  - name: x\n    match: {slo: a}\n    action: email\n",
            5,
            "action",
            ["hook 'x'", "unknown action 'email'", "webhook"],
        ),
        (
            "hooks:\n  - name: x\n    match: {slo: a}\n    action: webhook\n",
            3,
            None,
            ["hook 'x'", "missing required field `url`"],
        ),
        (
            "hooks:\n  - name: x\n    match: {slo: a}\n    action: webhook\n    url: http://h\n"
            "    retires: 3\n",
            7,
            "retires",
            ["hook 'x'", "unknown field"],
        ),
        (
            "hooks:\n  - name: x\n    match: {slo: a}\n    action: webhook\n    url: http://h\n"
            "    timeout: soon\n",
            7,
            "timeout",
            ["invalid duration", "1h30m"],
        ),
        (
            "hooks:\n  - name: x\n    match: {slo: a, severity: urgent}\n    action: webhook\n"
            "    url: http://h\n",
            4,
            "severity",
            ["page, ticket"],
        ),
        (
            "hooks:\n  - name: x\n    action: webhook\n    url: http://h\n",
            3,
            None,
            ["missing `match`"],
        ),
        (
            "hooks:\n  - name: x\n    match: {slo: a}\n    action: command\n    argv: rm -rf /\n",
            6,
            "argv",
            ["non-empty list", "no shell"],
        ),
        (
            "hooks:\n  - name: x\n    match: {slo: a}\n    action: pipeline_mode\n"
            "    url: http://h\n",
            3,
            None,
            ["`token` or `token_env`"],
        ),
        (
            "hooks:\n  - name: x\n    match: {slo: a}\n    action: python\n"
            "    entry_point: no_such_module_here:run\n",
            6,
            "entry_point",
            ["cannot load", "no_such_module_here"],
        ),
        (
            "hooks:\n  - name: x\n    match: {slo: a}\n    action: webhook\n    url: ftp://h\n",
            6,
            "url",
            ["http://"],
        ),
        (
            "hooks:\n  - name: x\n    match: {slo: a}\n    action: webhook\n    url: http://h\n"
            "  - name: x\n    match: {slo: b}\n    action: webhook\n    url: http://h\n",
            7,
            "name",
            ["duplicate hook name", "line 3"],
        ),
        (
            "hooks:\n  - name: x\n    match: {slo: a}\n    action: webhook\n    url: http://h\n"
            "    url: http://i\n",
            7,
            "url",
            ["duplicate key"],
        ),
    ],
)
def test_spec_errors_name_file_line_hook_and_field(
    tmp_path: Path, body: str, line: int, field: str | None, words: list[str]
) -> None:
    path = write_hooks(tmp_path / "bad.yaml", body)
    with pytest.raises(SpecError) as info:
        load_hooks(path)
    err = info.value
    assert err.path == str(path)
    assert err.line == line, str(err)
    assert err.field == field, str(err)
    message = str(err)
    assert message.startswith(f"{path}:{line}: ")
    for w in words:
        assert w in message, message
    assert "\n" not in message


def test_version_yaml_and_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="version: must be 'voiceobs/v1'"):
        parse_hooks("version: v2\nhooks: []\n", "h.yaml")
    with pytest.raises(SpecError, match=r"h\.yaml:3: not valid YAML"):
        parse_hooks("version: voiceobs/v1\nhooks: [\n  - : :\n", "h.yaml")
    with pytest.raises(SpecError, match="non-empty list of hooks"):
        parse_hooks("version: voiceobs/v1\nhooks: []\n", "h.yaml")
    with pytest.raises(SpecError, match="no such hooks file"):
        load_hooks(tmp_path / "missing.yaml")
    with pytest.raises(SpecError, match="no hook named 'nope'"):
        parse_hooks(
            "version: voiceobs/v1\nhooks:\n  - {name: a, match: {slo: x}, action: python,"
            " entry_point: 'json:dumps'}\n"
        ).get("nope")


def test_durations() -> None:
    assert parse_duration("500ms") == 0.5
    assert parse_duration("10m") == 600
    assert parse_duration(3) == 3.0
    assert parse_duration("1.5h") == 5400
    with pytest.raises(ValueError):
        parse_duration("-1s")
    with pytest.raises(ValueError):
        parse_duration(True)


NUMERIC_FIELDS = ("timeout", "retries", "backoff", "backoff_max", "cooldown", "give_up_after")
NONSENSE = (".nan", ".NaN", ".inf", "-.inf", "1.0e+308", "1e308", "1" + "0" * 400 + "s")


@pytest.mark.parametrize("value", NONSENSE)
@pytest.mark.parametrize("key", (*NUMERIC_FIELDS, "expire_after"))
def test_every_numeric_field_refuses_nan_infinity_and_absurd_values(
    tmp_path: Path, key: str, value: str
) -> None:
    # timeout: .nan used to pass, and every delivery then failed.
    body = (
        "hooks:\n  - name: x\n    match: {slo: a}\n    action: alertmanager\n    url: http://h\n"
        f"    {key}: {value}\n"
    )
    path = write_hooks(tmp_path / "bad.yaml", body)
    with pytest.raises(SpecError) as info:
        load_hooks(path)
    message = str(info.value)
    assert message.startswith(f"{path}:7: {key}: hook 'x': "), message
    assert "\n" not in message


@pytest.mark.parametrize("value", NONSENSE)
@pytest.mark.parametrize("key", NUMERIC_FIELDS)
def test_defaults_refuse_nan_infinity_and_absurd_values(
    tmp_path: Path, key: str, value: str
) -> None:
    body = (
        f"defaults:\n  {key}: {value}\n"
        "hooks:\n  - {name: x, match: {slo: a}, action: webhook, url: 'http://h'}\n"
    )
    path = write_hooks(tmp_path / "bad.yaml", body)
    with pytest.raises(SpecError, match=rf"^{path}:3: {key}: "):
        load_hooks(path)


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("timeout", "0s", "greater than zero"),
        ("timeout", "2h", "at most 1h"),
        ("give_up_after", "0", "greater than zero"),
        ("give_up_after", "90d", "at most 30d"),
        ("backoff", "2d", "at most 1d"),
        ("cooldown", "1000d", "at most 30d"),
        ("retries", "21", "0 to 20"),
        ("retries", "2.5", "0 to 20"),
    ],
)
def test_out_of_range_values_say_the_range(
    tmp_path: Path, key: str, value: str, words: str
) -> None:
    body = (
        "hooks:\n  - name: x\n    match: {slo: a}\n    action: webhook\n    url: http://h\n"
        f"    {key}: {value}\n"
    )
    with pytest.raises(SpecError, match=words):
        load_hooks(write_hooks(tmp_path / "bad.yaml", body))


def test_give_up_after_defaults_to_24h_and_is_set_per_hook_or_in_defaults(tmp_path: Path) -> None:
    hooks = load_hooks(
        write_hooks(
            tmp_path / "hooks.yaml",
            "defaults: {give_up_after: 6h}\nhooks:\n"
            "  - {name: a, match: {slo: x}, action: webhook, url: 'http://h'}\n"
            "  - {name: b, match: {slo: x}, action: webhook, url: 'http://h', give_up_after: 30m}\n",
        )
    )
    assert [h.give_up_after for h in hooks.hooks] == [6 * 3600, 1800]
    plain = parse_hooks(
        "version: voiceobs/v1\nhooks:\n  - {name: a, match: {slo: x}, action: webhook,"
        " url: 'http://h'}\n"
    )
    assert plain.hooks[0].give_up_after == 24 * 3600
