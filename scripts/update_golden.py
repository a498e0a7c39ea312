"""Regenerate the golden files the tests compare against, after a deliberate output change.

Run ``.venv/bin/python scripts/update_golden.py`` and review the diff: a
golden file is a promise about output, so it changes only by hand, never as a
side effect of running the tests.
"""

from __future__ import annotations

from pathlib import Path

from voiceobs.slo import generate_rules, load_slos

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "tests" / "slo" / "golden"


def main() -> None:
    """Write every golden file from the current code and say which changed."""
    out = RULES / "rules_expected.yaml"
    new = generate_rules(load_slos(RULES / "rules_input.yaml")).to_yaml()
    old = out.read_text(encoding="utf-8") if out.exists() else ""
    out.write_text(new, encoding="utf-8")
    print(f"{out.relative_to(ROOT)}: {'changed' if new != old else 'unchanged'}")


if __name__ == "__main__":
    main()
