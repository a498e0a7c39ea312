"""SLO results as a CI system reads them: JUnit XML (one test case per SLO) and Markdown.

CI servers already know how to show failed JUnit test cases and a job
summary in Markdown; the gate speaks both so a breached SLO reads like a
failed test next to the deploy that caused it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from voiceobs.slo.evaluate import SloResult


def pct(value: float | None, digits: int = 3) -> str:
    """``0.99512`` -> ``99.512%``; ``None`` -> ``-``."""
    return "-" if value is None else f"{round(value * 100, digits):g}%"


def burn_text(result: SloResult) -> str:
    """Burn rates per window, e.g. ``5m 0.0 · 1h 15.2``."""
    parts = []
    for window, rate in result.burn_rates.items():
        parts.append(f"{window} {'-' if rate is None else f'{rate:.2f}'}")
    return " · ".join(parts)


def verdict(result: SloResult, *, require_data: bool = False) -> str:
    """``holds``, ``breached``, ``burning`` (page alert), or ``no data``."""
    if result.no_data:
        return "breached" if require_data else "no data"
    if result.breached:
        return "breached"
    if result.alert_state == "page":
        return "burning"
    return "holds"


def reason(result: SloResult) -> str:
    """One sentence on why an SLO fails the gate."""
    if result.no_data:
        return f"no events in the last {result.window}; did the probes run?"
    parts = []
    if result.breached:
        parts.append(
            f"SLI {pct(result.sli)} is below the objective {pct(result.slo.objective)} over "
            f"{result.window} ({result.total - result.good} bad of {result.total})"
        )
    for f in result.firing:
        if f.severity == "page":
            parts.append(
                f"burning {f.long_burn:.1f}x over {f.long_window} and {f.short_burn:.1f}x over "
                f"{f.short_window} (page above {f.threshold:g}x)"
            )
    return "; ".join(parts)


def junit_xml(results: Sequence[SloResult], *, require_data: bool = False) -> str:
    """A JUnit document with one test case per SLO (no data is reported as skipped)."""
    failures = sum(verdict(r, require_data=require_data) in ("breached", "burning") for r in results)
    skipped = sum(verdict(r, require_data=require_data) == "no data" for r in results)
    suites = ET.Element("testsuites", name="voiceobs gate", tests=str(len(results)),
                        failures=str(failures))
    suite = ET.SubElement(
        suites, "testsuite", name="voiceobs.slo", tests=str(len(results)),
        failures=str(failures), errors="0", skipped=str(skipped),
    )
    for r in results:
        case = ET.SubElement(suite, "testcase", classname="voiceobs.slo", name=r.slo.name, time="0")
        state = verdict(r, require_data=require_data)
        detail = (
            f"SLI {pct(r.sli)} (objective {pct(r.slo.objective)}, {r.good}/{r.total} good over "
            f"{r.window}); budget remaining {pct(r.budget_remaining)}; alert {r.alert_state}; "
            f"burn {burn_text(r)}"
        )
        if state in ("breached", "burning"):
            failure = ET.SubElement(case, "failure", message=reason(r), type=state)
            failure.text = detail
        elif state == "no data":
            ET.SubElement(case, "skipped", message=reason(r))
        ET.SubElement(case, "system-out").text = detail
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def markdown(results: Sequence[SloResult], *, require_data: bool = False) -> str:
    """A job-summary table: the failing SLOs first, each with its numbers."""
    icon = {"holds": "✅", "no data": "⚪", "breached": "❌", "burning": "🔥"}
    order = {"breached": 0, "burning": 1, "no data": 2, "holds": 3}
    rows = sorted(results, key=lambda r: (order[verdict(r, require_data=require_data)], r.slo.name))
    failed = [r for r in rows if verdict(r, require_data=require_data) in ("breached", "burning")]
    title = "SLO gate: failed" if failed else "SLO gate: passed"
    lines = [
        f"### {title}",
        "",
        "| | SLO | SLI | Objective | Budget left | Alert | Burn rates | Window |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        state = verdict(r, require_data=require_data)
        lines.append(
            f"| {icon[state]} | `{r.slo.name}` | {pct(r.sli)} | {pct(r.slo.objective)} | "
            f"{pct(r.budget_remaining, 1)} | {r.alert_state} | {burn_text(r)} | {r.window} |"
        )
    for r in failed:
        lines.append("")
        lines.append(f"- **{r.slo.name}**: {reason(r)}")
    return "\n".join(lines) + "\n"


__all__ = ["burn_text", "junit_xml", "markdown", "pct", "reason", "verdict"]
