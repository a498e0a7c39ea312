"""SLO results as a CI system reads them: JUnit XML (one test case per SLO) and Markdown.

CI servers already know how to show failed JUnit test cases and a job
summary in Markdown; the gate speaks both so a breached SLO reads like a
failed test next to the deploy that caused it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class GatePolicy:
    """How the gate treats an SLO with no events in its window.

    A gate that passes when nothing was measured lets a broken probe, a
    wrong selector or an empty store wave every deploy through, so no data
    fails by default. ``allow_no_data`` opts out, except for SLOs in ``fed``:
    those a probe run of this very gate should have fed, whose silence means
    the probe or the selector is broken.
    """

    allow_no_data: bool = False
    fed: frozenset[str] = frozenset()

    def no_data_fails(self, result: SloResult) -> bool:
        """Whether this SLO's empty window fails the gate."""
        return not self.allow_no_data or result.slo.name in self.fed


def verdict(result: SloResult, policy: GatePolicy | None = None) -> str:
    """``holds``, ``breached``, ``burning`` (page alert), ``no data`` (fails) or ``skipped``."""
    policy = policy or GatePolicy()
    if result.no_data:
        return "no data" if policy.no_data_fails(result) else "skipped"
    if result.breached:
        return "breached"
    if result.alert_state == "page":
        return "burning"
    return "holds"


#: Verdicts that fail the gate.
FAILING = ("breached", "burning", "no data")


def reason(result: SloResult, policy: GatePolicy | None = None) -> str:
    """One sentence on why an SLO fails (or was skipped by) the gate."""
    policy = policy or GatePolicy()
    if result.no_data:
        where = _selector_text(result)
        if result.slo.name in policy.fed:
            return (
                f"no events in the last {result.window} although this gate's probes should "
                f"feed it: check that the SLO's selector ({where}) matches what the probe spec "
                "records (its name, target, region, labels) and that the probe calls completed"
            )
        tail = (
            "skipped (--allow-no-data)"
            if policy.allow_no_data
            else "a gate that passes on nothing hides a broken probe or selector; "
            "pass --allow-no-data to skip such SLOs"
        )
        return f"no events in the last {result.window} for {where}; did the probes run? {tail}"
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


def _selector_text(result: SloResult) -> str:
    sel = result.slo.selector.to_dict()
    if not sel:
        return "every stored call (no selector)"
    return ", ".join(f"{k}: {v}" for k, v in sel.items())


def junit_xml(results: Sequence[SloResult], policy: GatePolicy | None = None) -> str:
    """A JUnit document with one test case per SLO (no data fails unless allowed, then skipped)."""
    verdicts = [verdict(r, policy) for r in results]
    failures = sum(v in FAILING for v in verdicts)
    skipped = sum(v == "skipped" for v in verdicts)
    suites = ET.Element("testsuites", name="voiceobs gate", tests=str(len(results)),
                        failures=str(failures))
    suite = ET.SubElement(
        suites, "testsuite", name="voiceobs.slo", tests=str(len(results)),
        failures=str(failures), errors="0", skipped=str(skipped),
    )
    for r, state in zip(results, verdicts, strict=True):
        case = ET.SubElement(suite, "testcase", classname="voiceobs.slo", name=r.slo.name, time="0")
        detail = (
            f"standing {r.standing}: SLI {pct(r.sli)} (objective {pct(r.slo.objective)}, "
            f"{r.good}/{r.total} good over {r.window}); budget remaining {pct(r.budget_remaining)}; "
            f"alert {r.alert_state} (burn {burn_text(r)})"
        )
        if state in FAILING:
            failure = ET.SubElement(case, "failure", message=reason(r, policy), type=state)
            failure.text = detail
        elif state == "skipped":
            ET.SubElement(case, "skipped", message=reason(r, policy))
        ET.SubElement(case, "system-out").text = detail
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def markdown(results: Sequence[SloResult], policy: GatePolicy | None = None) -> str:
    """A job-summary table: the failing SLOs first, each with its numbers and why."""
    icon = {"holds": "✅", "skipped": "⚪", "no data": "⛔", "breached": "❌", "burning": "🔥"}
    order = {"breached": 0, "burning": 1, "no data": 2, "skipped": 3, "holds": 4}
    rows = sorted(results, key=lambda r: (order[verdict(r, policy)], r.slo.name))
    failed = [r for r in rows if verdict(r, policy) in FAILING]
    title = "SLO gate: failed" if failed else "SLO gate: passed"
    lines = [
        f"### {title}",
        "",
        "| | SLO | Standing | SLI | Objective | Budget left | Alert | Burn rates | Window |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        state = verdict(r, policy)
        lines.append(
            f"| {icon[state]} | `{r.slo.name}` | {r.standing.replace('_', ' ')} | {pct(r.sli)} | "
            f"{pct(r.slo.objective)} | {pct(r.budget_remaining, 1)} | {r.alert_state} | "
            f"{burn_text(r)} | {r.window} |"
        )
    lines.append("")
    lines.append(
        "_Standing_ is where each SLO stands over its whole window (met, at risk, breached); "
        "_Alert_ is how fast its budget burns right now (ok, ticket, page)."
    )
    for r in rows:
        if verdict(r, policy) in (*FAILING, "skipped"):
            lines.append("")
            lines.append(f"- **{r.slo.name}** ({verdict(r, policy)}): {reason(r, policy)}")
    return "\n".join(lines) + "\n"


__all__ = ["FAILING", "GatePolicy", "burn_text", "junit_xml", "markdown", "pct", "reason", "verdict"]
