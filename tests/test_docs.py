"""The README matches the code: its two commands, its CLI reference, the files it names."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_opens_with_the_two_commands() -> None:
    first_block = README.split("```")[1]
    commands = [ln.split("#")[0].strip() for ln in first_block.splitlines()[1:] if ln.strip()]
    assert commands == ["make demo", "make test"]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M), "CI must run the README's test command"


def test_cli_reference_is_generated_from_the_code() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cli_reference.py"), "--check"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_files_the_readme_names_exist() -> None:
    named = set(re.findall(r"`((?:probes|dashboards|benchmarks|docs|voiceobs|tests)/[\w./-]+)`", README))
    named |= set(re.findall(r"\]\(((?:docs)/[\w./-]+)\)", README))
    assert named, "the README names project files"
    missing = sorted(n for n in named if not (ROOT / n).exists())
    assert missing == []


def test_the_architecture_doc_lists_the_import_order_the_test_enforces() -> None:
    from tests.test_architecture import ORDER

    doc = (ROOT / "docs" / "architecture.md").read_text()
    assert "docs/architecture.md" in README
    listing = doc[doc.index("`_version`") : doc.index("`cli`.") + len("`cli`")]
    listed = [
        "voiceobs" if root else f"voiceobs.{name}"
        for name, root in re.findall(r"`(\w+)`|(the root package)", listing)
    ]
    assert listed == list(ORDER)


def test_the_architecture_doc_defines_every_measure() -> None:
    from voiceobs.measures import TURN_MEASURES

    doc = (ROOT / "docs" / "architecture.md").read_text()
    missing = [m for m in TURN_MEASURES if f"`{m}`" not in doc]
    assert missing == []


def test_the_readme_dynamics_example_is_a_valid_spec() -> None:
    from voiceobs.probe.spec import parse_spec

    start = README.index("version: voiceobs/v1\nname: support-bot-dynamics")
    spec = parse_spec(README[start : README.index("```", start)], "README.md")
    assert spec.greeting is not None and spec.turns[1].barge_in is not None and spec.turns[2].dtmf
    assert [p.caller.snr_db for p in spec.sweep_points() if p.caller] == [20.0, 10.0, 5.0]
