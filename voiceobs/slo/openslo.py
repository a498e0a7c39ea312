"""Import OpenSLO v1 documents into native voiceobs SLOs, saying what could not be carried over.

OpenSLO describes *where* a metric lives (a Prometheus query, a Datadog
monitor) while voiceobs counts its own stored calls and turns, so the import
maps what identifies a voiceobs SLI and explains the rest instead of
guessing. Understood metric sources:

* ``metricSource.type: voiceobs`` with ``spec`` keys ``sli`` (availability),
  ``measure`` (a turn measure), ``probe``, ``target``, ``region``, ``labels``;
* ``type: prometheus`` whose query names a voiceobs metric
  (``voiceobs_probe_calls_total{status="ok"}`` for availability,
  ``voiceobs_turn_latency_seconds`` ... for a measure) with
  ``probe``/``target``/``region`` matchers.

``ratioMetric`` gives availability; ``thresholdMetric`` with an objective's
``op`` and ``value`` gives a latency or quality SLI. Each objective becomes
one SLO.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voiceobs import safe_yaml
from voiceobs.errors import SpecError
from voiceobs.measures import MEASURES, TURN_MEASURES
from voiceobs.slo.spec import (
    SLI,
    SLO,
    Selector,
    dump_slos,
    normalise_window,
    parse_objective,
    parse_slos,
)

_OPS = {"lte": "<=", "lt": "<", "gte": ">=", "gt": ">"}
_METRIC_TO_MEASURE = {m.histogram: name for name, m in MEASURES.items()}
_MATCHER = re.compile(r'(\w+)\s*=\s*"([^"]*)"')


@dataclass
class ImportResult:
    """The SLOs that were mapped, and one note per thing that was not."""

    slos: list[SLO] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_yaml(self) -> str:
        """Native spec YAML, with the notes as a comment block at the top."""
        head = "".join(f"# note: {n}\n" for n in self.notes)
        return head + dump_slos(self.slos)


class _Ctx:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, slo: str | None, fld: str, message: str) -> SpecError:
        where = f"SLO {slo!r} field {fld}" if slo else f"field {fld}"
        return SpecError(message, path=self.source, field=where)


def import_openslo(path: str | Path) -> ImportResult:
    """Read an OpenSLO file (one or many documents) into native SLOs."""
    return import_openslo_text(safe_yaml.read_text(path, "OpenSLO file"), source=str(path))


def _map(ctx: _Ctx, slo: str | None, value: Any, fld: str, *, required: bool = False) -> dict[str, Any]:
    """``value`` as a mapping; absent is empty unless ``required``; anything else is an error."""
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise ctx.fail(slo, fld, f"must be a mapping, got {type(value).__name__}")
    return value


def import_openslo_text(text: str, *, source: str = "<string>") -> ImportResult:
    """Import OpenSLO from text (what :func:`import_openslo` does after reading)."""
    ctx = _Ctx(source)
    docs = [d.data for d in safe_yaml.parse_all(text, source)]
    result = ImportResult()
    indicators: dict[str, dict[str, Any]] = {}
    for i, doc in enumerate(docs):
        if isinstance(doc, dict) and doc.get("kind") == "SLI":
            meta = _map(ctx, None, doc.get("metadata"), f"document[{i}].metadata")
            name = meta.get("name")
            if name:
                indicators[str(name)] = _map(ctx, str(name), doc.get("spec"), f"document[{i}].spec")
    found = False
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise ctx.fail(None, f"document[{i}]", "each document must be a mapping")
        kind = doc.get("kind")
        if kind == "SLI":
            continue
        if kind != "SLO":
            result.notes.append(f"document[{i}]: kind {kind!r} has no voiceobs equivalent; skipped")
            continue
        found = True
        api = doc.get("apiVersion")
        if api != "openslo/v1":
            raise ctx.fail(None, f"document[{i}].apiVersion", f"must be openslo/v1, got {api!r}")
        try:
            result.slos.extend(_import_slo(ctx, doc, indicators, result.notes))
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            # A shape no check above foresaw (a list where a mapping belongs, ...):
            # still one line naming the document, never a traceback.
            raise ctx.fail(None, f"document[{i}]", f"malformed OpenSLO SLO: {exc}") from None
    if not found:
        raise ctx.fail(None, "kind", "no document of kind SLO found")
    # Validate the result exactly as a native spec would be.
    if result.slos:
        parse_slos(dump_slos(result.slos), source=source)
    return result


def _import_slo(
    ctx: _Ctx, doc: dict[str, Any], indicators: dict[str, dict[str, Any]], notes: list[str]
) -> list[SLO]:
    meta = _map(ctx, None, doc.get("metadata"), "metadata")
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise ctx.fail(None, "metadata.name", "required")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        raise ctx.fail(name, "spec", "required: a mapping")
    description = str(spec.get("description") or meta.get("displayName") or "")

    method = spec.get("budgetingMethod", "Occurrences")
    if method != "Occurrences":
        notes.append(
            f"{name}: budgetingMethod {method} is not supported; imported as Occurrences "
            "(good events / all events)"
        )
    if spec.get("alertPolicies"):
        notes.append(
            f"{name}: alertPolicies are not imported; voiceobs raises the SRE Workbook "
            "multiwindow burn-rate alerts (page and ticket)"
        )
    window = _window(ctx, name, spec.get("timeWindow"), notes)

    if "indicator" in spec:
        wrapper = _map(ctx, name, spec["indicator"], "spec.indicator")
        indicator = _map(ctx, name, wrapper.get("spec"), "spec.indicator.spec")
    elif "indicatorRef" in spec:
        ref = str(spec["indicatorRef"])
        if ref not in indicators:
            raise ctx.fail(name, "spec.indicatorRef", f"no SLI document named {ref!r} in the file")
        indicator = indicators[ref]
    else:
        raise ctx.fail(name, "spec.indicator", "required: indicator or indicatorRef")

    objectives = spec.get("objectives")
    if not isinstance(objectives, list) or not objectives:
        raise ctx.fail(name, "spec.objectives", "required: a non-empty list")
    out = []
    for j, obj in enumerate(objectives):
        fld = f"spec.objectives[{j}]"
        if not isinstance(obj, dict):
            raise ctx.fail(name, fld, "must be a mapping with target")
        objective = _target(ctx, name, obj, fld)
        if obj.get("timeSliceTarget") is not None or obj.get("timeSliceWindow") is not None:
            notes.append(f"{name}: {fld} time slices are ignored (Occurrences budgeting)")
        sli, selector = _indicator(ctx, name, indicator, obj, fld)
        label = obj.get("displayName") or (str(j) if len(objectives) > 1 else "")
        slo_name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{name}-{label}" if label else name).strip("-")
        out.append(
            SLO(name=slo_name, description=description, sli=sli, objective=objective,
                window=window, selector=selector)
        )
    return out


def _target(ctx: _Ctx, name: str, obj: dict[str, Any], fld: str) -> float:
    """An objective's target: a ratio in (0, 1), or ``targetPercent`` in (0, 100).

    OpenSLO defines ``target`` as a ratio, so ``target: 2`` is a mistake to
    refuse, not 2 % (the native spec's reading of numbers above one).
    """
    if "target" in obj:
        value, scale, key, form = obj["target"], 1.0, "target", "a ratio such as 0.995"
    elif "targetPercent" in obj:
        value, scale, key, form = obj["targetPercent"], 100.0, "targetPercent", "a percentage such as 99.5"
    else:
        raise ctx.fail(name, f"{fld}.target", "required (e.g. 0.995)")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ctx.fail(name, f"{fld}.{key}", f"must be {form}, got {value!r}")
    if not 0 < value < scale:
        raise ctx.fail(
            name, f"{fld}.{key}", f"must be {form} strictly between 0 and {scale:g}, got {value!r}"
        )
    return parse_objective(value / scale)


def _window(ctx: _Ctx, name: str, data: Any, notes: list[str]) -> str:
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise ctx.fail(name, "spec.timeWindow", "required: a list with one {duration, isRolling}")
    if len(data) > 1:
        notes.append(f"{name}: only the first timeWindow is used")
    tw = data[0]
    duration = str(tw.get("duration", ""))
    rolling = tw.get("isRolling", "calendar" not in tw)
    if not rolling:
        if duration in ("1M", "1mo") or duration.lower() == "month":
            calendar = _map(ctx, name, tw.get("calendar"), "spec.timeWindow[0].calendar")
            if calendar.get("timeZone", "UTC") not in ("UTC", "Etc/UTC"):
                notes.append(f"{name}: calendar months are evaluated in UTC")
            return "calendar_month"
        raise ctx.fail(
            name, "spec.timeWindow[0].duration",
            f"calendar window {duration!r} cannot be mapped; voiceobs supports rolling 1h..90d "
            "and calendar months (1M)",
        )
    try:
        return normalise_window(duration)
    except ValueError as exc:
        raise ctx.fail(name, "spec.timeWindow[0].duration", str(exc)) from None


def _source(ctx: _Ctx, name: str, data: Any, fld: str) -> tuple[str | None, dict[str, Any]]:
    """(voiceobs meaning, selector values) of a metricSource."""
    if not isinstance(data, dict) or not isinstance(data.get("metricSource"), dict):
        raise ctx.fail(name, fld, "required: metricSource with type and spec")
    src = data["metricSource"]
    kind = str(src.get("type", "")).lower()
    spec = _map(ctx, name, src.get("spec"), f"{fld}.metricSource.spec")
    if kind == "voiceobs":
        meaning = spec.get("measure") or spec.get("sli")
        sel: dict[str, Any] = {
            k: spec[k] for k in ("probe", "target", "region", "labels", "status") if k in spec
        }
        return (str(meaning) if meaning else None), sel
    if kind == "prometheus":
        query = str(spec.get("query") or spec.get("promql") or "")
        metric = re.match(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", query)
        sel = {str(k): v for k, v in _MATCHER.findall(query)}
        if not metric:
            return None, sel
        base = re.sub(r"_(bucket|count|sum)$", "", metric.group(1))
        if base == "voiceobs_probe_calls_total":
            return "availability", sel
        return _METRIC_TO_MEASURE.get(base), sel
    raise ctx.fail(
        name, f"{fld}.metricSource.type",
        f"metric source {src.get('type')!r} cannot be mapped; use type voiceobs (or a "
        "prometheus query over voiceobs metrics)",
    )


def _selector(values: dict[str, Any]) -> Selector:
    labels = values.get("labels") or {}
    return Selector(
        probe=values.get("probe"), target=values.get("target"), region=values.get("region"),
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
    )


def _indicator(
    ctx: _Ctx, name: str, indicator: dict[str, Any], obj: dict[str, Any], fld: str
) -> tuple[SLI, Selector]:
    if "ratioMetric" in indicator:
        ratio = _map(ctx, name, indicator["ratioMetric"], "spec.indicator.spec.ratioMetric")
        if "good" not in ratio and "bad" not in ratio:
            raise ctx.fail(name, "spec.indicator.spec.ratioMetric.good", "required: good (or bad) and total")
        meaning, sel = _source(ctx, name, ratio.get("good") or ratio.get("bad"), "ratioMetric.good")
        if "total" in ratio:
            _source(ctx, name, ratio["total"], "ratioMetric.total")
        if meaning in (None, "availability") or sel.get("status") == "ok":
            sel.pop("status", None)
            return SLI(kind="availability"), _selector(sel)
        raise ctx.fail(
            name, "spec.indicator.spec.ratioMetric",
            f"a ratio of {meaning!r} cannot be mapped; ratios map to call availability only",
        )
    if "thresholdMetric" in indicator:
        measure, sel = _source(ctx, name, indicator["thresholdMetric"], "thresholdMetric")
        if measure not in TURN_MEASURES:
            raise ctx.fail(
                name, "spec.indicator.spec.thresholdMetric",
                f"cannot tell which voiceobs measure this is ({measure!r}); set "
                f"metricSource.spec.measure to one of {', '.join(TURN_MEASURES)}",
            )
        op = _OPS.get(str(obj.get("op", "")))
        if op is None:
            raise ctx.fail(name, f"{fld}.op", "required for a threshold metric: lt, lte, gt or gte")
        number = obj.get("value")
        if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
            raise ctx.fail(name, f"{fld}.value", "required for a threshold metric: a finite number")
        value = float(obj["value"])
        src = indicator["thresholdMetric"]["metricSource"]
        if str(src.get("type", "")).lower() == "prometheus" and measure.endswith("_ms"):
            value *= 1000.0  # the exported histogram is in seconds; the store keeps ms
        kind = "latency" if measure.endswith("_ms") and op == "<=" else "quality"
        return SLI(kind=kind, measure=measure, op=op, threshold=value), _selector(sel)
    raise ctx.fail(name, "spec.indicator.spec", "needs ratioMetric or thresholdMetric")


__all__ = ["ImportResult", "import_openslo", "import_openslo_text"]
