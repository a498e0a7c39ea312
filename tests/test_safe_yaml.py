"""The one YAML loader: limits, line numbers and one-line errors, for every file voiceobs reads."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

from voiceobs import safe_yaml
from voiceobs.cli.main import main
from voiceobs.errors import SpecError

GOLDEN_SLOS = Path(__file__).resolve().parent / "slo" / "golden" / "rules_input.yaml"

# 545 bytes that expand to 9^9 (387 million) strings when constructed naively.
BILLION_LAUGHS = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{c}: &{c} [{','.join(['*' + p] * 9)}]"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)


def test_billion_laughs_is_refused_at_once() -> None:
    started = time.process_time()
    with pytest.raises(SpecError, match="expand it to more than") as info:
        safe_yaml.parse(BILLION_LAUGHS, "bomb.yaml")
    assert info.value.path == "bomb.yaml" and info.value.line is not None
    # Refused while composing, long before anything is built: CPU time, not wall time.
    assert time.process_time() - started < 1.0


@pytest.mark.parametrize("text", ["&a [*a]", "a: &a {b: *a}", "x: &x\n  - y: [*x]"])
def test_a_recursive_alias_is_refused_not_a_recursion_error(text: str) -> None:
    with pytest.raises(SpecError, match="refers to a node that contains it"):
        safe_yaml.parse(text, "loop.yaml")


def test_deep_nesting_is_refused_in_text_and_through_aliases() -> None:
    with pytest.raises(SpecError, match="levels deep"):
        safe_yaml.parse("x: " + "[" * 200 + "]" * 200)
    # Each level is shallow, but aliases stack them: 8 levels of depth 10 each.
    lines = ["l0: &l0 " + "[" * 10 + "1" + "]" * 10]
    for i in range(1, 8):
        lines.append(f"l{i}: &l{i} " + "[" * 10 + f"*l{i - 1}" + "]" * 10)
    with pytest.raises(SpecError, match="levels deep"):
        safe_yaml.parse("\n".join(lines))


def test_ordinary_anchors_and_merge_keys_still_work() -> None:
    doc = safe_yaml.parse("base: &b {timeout: 5s}\nhook:\n  <<: *b\n  name: x\nlist: [*b, *b]\n")
    assert doc.data["hook"] == {"timeout": "5s", "name": "x"}
    assert doc.data["list"] == [{"timeout": "5s"}, {"timeout": "5s"}]


def test_duplicate_keys_name_both_lines() -> None:
    with pytest.raises(SpecError) as info:
        safe_yaml.parse("name: a\ntarget: ws://x\nname: b\n", "dup.yaml")
    assert info.value.line == 3
    assert "duplicate key 'name' (first on line 1)" in str(info.value)


def test_line_of_every_key_and_item_and_nearest_parent_for_missing_ones() -> None:
    doc = safe_yaml.parse("version: 1\nturns:\n  - prompt: hi\n  - wav: a.wav\n    expect: {}\n")
    assert doc.line(("version",)) == 1
    assert doc.line(("turns",)) == 2
    assert doc.line(("turns", 0, "prompt")) == 3
    assert doc.line(("turns", 1, "expect")) == 5
    assert doc.line(("turns", 1, "expect", "missing")) == 5
    assert doc.error("bad", ("turns", 1, "wav")).field == "turns[1].wav"


def test_multi_document_streams() -> None:
    docs = safe_yaml.parse_all("---\na: 1\n---\n---\nb: 2\n")
    assert [d.data for d in docs] == [{"a": 1}, {"b": 2}]
    assert docs[1].line(("b",)) == 5
    with pytest.raises(SpecError, match="several YAML documents"):
        safe_yaml.parse("a: 1\n---\nb: 2\n", "one.yaml")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"name: caf\xe9\n", "not UTF-8"),
        (b"a: \x07bell\n", "not valid YAML"),
        (b"a: [1, 2\n", "not valid YAML"),
        (b"when: 2024-13-45\n", "not valid YAML"),
        (b"x: !!python/object/apply:os.system [true]\n", "not valid YAML"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(content)
    with pytest.raises(SpecError) as info:
        safe_yaml.load(path, "probe spec")
    assert words in str(info.value)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(str(path))


def test_missing_directory_and_oversized_files(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such SLO spec"):
        safe_yaml.load(tmp_path / "nope.yaml", "SLO spec")
    with pytest.raises(SpecError, match="is a directory"):
        safe_yaml.load(tmp_path, "SLO spec")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * safe_yaml.MAX_BYTES + b"\n")
    with pytest.raises(SpecError, match="more than the"):
        safe_yaml.load(big)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["probe", "run"], "probe.yaml"),
        (["slo", "status", "--slos"], "slos.yaml"),
        (["gate", "--slos"], "slos.yaml"),
        (["slo", "import"], "openslo.yaml"),
        (["slo", "rules", "--slos"], "slos.yaml"),
        (["evaluate", "--slos", str(GOLDEN_SLOS), "--hooks"], "hooks.yaml"),
        (["watch", "--slos", str(GOLDEN_SLOS), "--hooks"], "hooks.yaml"),
    ],
)
def test_every_command_refuses_a_bomb_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], name: str
) -> None:
    path = tmp_path / name
    path.write_text(BILLION_LAUGHS)
    before = _peak_rss_mib()
    with pytest.raises(SystemExit) as info:
        main([*argv, str(path)])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "expand it to more than" in err
    assert len(err.splitlines()) == 1
    # Memory stayed put (the bomb is 10^9 nodes; a naive loader needs gigabytes).
    assert _peak_rss_mib() - before < 200


def test_recursive_alias_at_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "slos.yaml"
    path.write_text("version: voiceobs/v1\nslos: &s [*s]\n")
    with pytest.raises(SystemExit) as info:
        main(["slo", "status", "--slos", str(path)])
    assert info.value.code == 2
    assert "refers to a node that contains it" in capsys.readouterr().err


def test_the_redaction_policy_refuses_a_bomb(tmp_path: Path) -> None:
    from voiceobs.redact import load_policy

    path = tmp_path / "policy.yaml"
    path.write_text(BILLION_LAUGHS)
    with pytest.raises(SpecError, match="expand it to more than"):
        load_policy(path)
