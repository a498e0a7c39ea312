"""The SLO engine: specs, SLIs aggregated in SQL, error budgets and burn-rate alerts.

Public surface::

    slos = load_slos("probes/slos.yaml")          # SpecError names file, line, SLO, field
    results = evaluate(store, slos)               # list[SloResult], recorded in the store
    results[0].alert_state                        # "ok" | "ticket" | "page"

Windows and thresholds of the burn-rate alerts are data (``windows.yaml``),
scaled to each SLO's period the way the SRE Workbook scales them.
"""

from voiceobs.durations import format_duration, parse_duration
from voiceobs.slo.evaluate import (
    STANDINGS,
    STATES,
    Firing,
    SloResult,
    burn_rate,
    evaluate,
    standing_of,
)
from voiceobs.slo.openslo import ImportResult, import_openslo
from voiceobs.slo.report import GatePolicy, burn_text, junit_xml, markdown, pct, reason, verdict
from voiceobs.slo.rules import RulesOutput, generate_rules
from voiceobs.slo.spec import SLI, SLO, Alerting, Selector, dump_slos, load_slos, parse_slos
from voiceobs.slo.windows import AlertWindow, BurnPolicy, load_policy

__all__ = [
    "SLI",
    "SLO",
    "STANDINGS",
    "STATES",
    "AlertWindow",
    "Alerting",
    "BurnPolicy",
    "Firing",
    "GatePolicy",
    "ImportResult",
    "RulesOutput",
    "Selector",
    "SloResult",
    "burn_rate",
    "burn_text",
    "dump_slos",
    "evaluate",
    "format_duration",
    "generate_rules",
    "import_openslo",
    "junit_xml",
    "load_policy",
    "load_slos",
    "markdown",
    "parse_duration",
    "parse_slos",
    "pct",
    "reason",
    "standing_of",
    "verdict",
]
