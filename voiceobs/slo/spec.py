"""SLO specs: the YAML an SRE writes (``version: voiceobs/v1``) and its validated form.

A spec error names the file, the line, the SLO and the field, because the
person reading it is fixing a YAML file at a terminal or in a CI log.

What a missing measure means, decided once here for every SLI over turns:

* a turn of a failed call (``ok`` false) is always bad, whatever is NULL;
* a turn of a successful call whose measure is NULL was not asked for that
  metric (or it could not be computed, see ``quality_errors``): it is left
  out of good and total by default (``missing: exclude``), or counted bad
  with ``missing: bad`` for SLOs that require the metric on every turn.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from voiceobs import safe_yaml
from voiceobs.durations import format_duration, parse_duration
from voiceobs.errors import SpecError
from voiceobs.measures import TIME_MEASURES, TURN_MEASURES
from voiceobs.results import SOURCES
from voiceobs.safe_yaml import dotted
from voiceobs.store.sli import SliQuery

SPEC_VERSION = "voiceobs/v1"
CALENDAR_MONTH = "calendar_month"
SLI_KINDS = ("availability", "latency", "quality")
OPERATORS = ("<=", "<", ">=", ">")
MISSING = ("exclude", "bad")
MIN_WINDOW = timedelta(hours=1)
MAX_WINDOW = timedelta(days=90)
#: What a calendar month is scaled as when a period is needed before a date is known.
NOMINAL_MONTH = timedelta(days=30)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


@dataclass(frozen=True)
class Selector:
    """Which results an SLO is about; an unset field matches everything.

    ``source`` picks probe calls (``synthetic``) or real callers' calls
    (``production``), so one spec file can hold "production p95 latency"
    beside "synthetic availability"; ``framework``, ``service`` and
    ``deployment`` pick the bot that reported a production call.
    """

    probe: str | None = None
    target: str | None = None
    region: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    framework: str | None = None
    service: str | None = None
    deployment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The selector as written in a spec (unset fields left out)."""
        out: dict[str, Any] = {}
        for key in SELECTOR_FIELDS:
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.labels:
            out["labels"] = dict(self.labels)
        return out


#: The text fields of a selector, in the order a spec lists them.
SELECTOR_FIELDS: tuple[str, ...] = (
    "probe", "target", "region", "source", "framework", "service", "deployment",
)  # fmt: skip


@dataclass(frozen=True)
class SLI:
    """What counts as a good event.

    ``availability`` counts calls (probe runs); ``latency`` and ``quality``
    count turns whose ``measure`` satisfies ``op threshold``.
    """

    kind: str
    measure: str | None = None
    op: str | None = None
    threshold: float | None = None
    missing: str = "exclude"

    def describe(self) -> str:
        """A short human form, e.g. ``turn_latency_ms <= 800``."""
        if self.kind == "availability":
            return "successful calls / calls"
        return f"{self.measure} {self.op} {self.threshold:g}"

    def to_dict(self) -> dict[str, Any]:
        """The SLI as written in a spec."""
        if self.kind == "availability":
            return {"kind": "availability"}
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == "latency":
            if self.measure != "turn_latency_ms":
                out["measure"] = self.measure
            out["threshold_ms"] = self.threshold
        else:
            out.update(measure=self.measure, op=self.op, threshold=self.threshold)
        if self.missing != "exclude":
            out["missing"] = self.missing
        return out


@dataclass(frozen=True)
class Alerting:
    """Which burn-rate alerts this SLO raises (both by default)."""

    page: bool = True
    ticket: bool = True


@dataclass(frozen=True)
class SLO:
    """One service level objective, validated."""

    name: str
    sli: SLI
    objective: float
    window: str
    description: str = ""
    selector: Selector = field(default_factory=Selector)
    alerting: Alerting = field(default_factory=Alerting)
    source: str | None = None
    line: int | None = None

    @property
    def labels(self) -> dict[str, str]:
        """The selector's labels (what hooks and incidents are tagged with)."""
        return dict(self.selector.labels)

    @property
    def calendar(self) -> bool:
        """True for a calendar-month window, False for a rolling one."""
        return self.window == CALENDAR_MONTH

    @property
    def period(self) -> timedelta:
        """The window's length (a calendar month counts as 30 days for alert scaling)."""
        return NOMINAL_MONTH if self.calendar else parse_duration(self.window)

    @property
    def error_budget(self) -> float:
        """The fraction of events allowed to be bad."""
        return 1.0 - self.objective

    @property
    def key(self) -> str:
        """A hash of what the SLI counts (not its name or objective): the rollup key."""
        body = json.dumps(
            {"sli": self.sli.to_dict() | {"missing": self.sli.missing},
             "selector": self.selector.to_dict()},
            sort_keys=True,
        )
        return hashlib.sha256(body.encode()).hexdigest()[:32]

    def sli_query(self) -> SliQuery:
        """What the store counts for this SLO's SLI (its rollup is shared by equal SLIs)."""
        sel = self.selector
        return SliQuery(
            key=self.key,
            events="calls" if self.sli.kind == "availability" else "turns",
            probe=sel.probe,
            target=sel.target,
            region=sel.region,
            labels=dict(sel.labels),
            source=sel.source,
            framework=sel.framework,
            service=sel.service,
            deployment=sel.deployment,
            measure=self.sli.measure,
            op=self.sli.op,
            threshold=self.sli.threshold,
            missing="bad" if self.sli.missing == "bad" else "exclude",
        )

    def to_dict(self) -> dict[str, Any]:
        """The SLO in native spec form (what ``slo import`` writes)."""
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        if self.selector.to_dict():
            out["selector"] = self.selector.to_dict()
        out["sli"] = self.sli.to_dict()
        out["objective"] = f"{round(self.objective * 100, 6):g}%"
        out["window"] = self.window
        if self.alerting != Alerting():
            out["alerting"] = {"page": self.alerting.page, "ticket": self.alerting.ticket}
        return out


# -- loading ----------------------------------------------------------------------------------

Path_ = tuple[Any, ...]


class _Ctx:
    """Raises SpecErrors pointing at file, line, SLO and field."""

    def __init__(self, doc: safe_yaml.Document) -> None:
        self.source = doc.source
        self.doc = doc

    def fail(self, path: Path_, message: str, slo: str | None = None) -> SpecError:
        name = dotted(path)
        where = f"SLO {slo!r} field {name}" if slo else f"field {name}" if name else None
        return SpecError(message, path=self.source, line=self.doc.line(path), field=where)


def load_slos(path: str | Path) -> list[SLO]:
    """Read and validate an SLO spec file; raise SpecError naming file, line, SLO and field."""
    return parse_slos(safe_yaml.read_text(path, "SLO spec"), source=str(path))


def parse_slos(text: str, *, source: str = "<string>") -> list[SLO]:
    """Validate SLO spec text (what :func:`load_slos` does after reading the file)."""
    doc = safe_yaml.parse(text, source)
    data = doc.data
    ctx = _Ctx(doc)
    if not isinstance(data, dict):
        raise ctx.fail((), f"expected a mapping with version: {SPEC_VERSION} and slos: [...]")
    _no_unknown(ctx, data, (), {"version", "slos"}, None)
    if data.get("version") != SPEC_VERSION:
        raise ctx.fail(("version",), f"must be {SPEC_VERSION!r}, got {data.get('version')!r}")
    items = data.get("slos")
    if not isinstance(items, list) or not items:
        raise ctx.fail(("slos",), "must be a non-empty list of SLOs")
    slos: list[SLO] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        slo = _parse_slo(ctx, item, ("slos", i))
        if slo.name in seen:
            raise ctx.fail(("slos", i, "name"), "duplicate SLO name", slo.name)
        seen.add(slo.name)
        slos.append(slo)
    return slos


_SLO_KEYS = {"name", "description", "selector", "sli", "objective", "window", "alerting"}


def _parse_slo(ctx: _Ctx, item: Any, path: Path_) -> SLO:
    if not isinstance(item, dict):
        raise ctx.fail(path, "each SLO must be a mapping with name, sli, objective and window")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ctx.fail(
            (*path, "name"), "required: letters, digits, '-', '_' or '.', at most 200 characters"
        )
    _no_unknown(ctx, item, path, _SLO_KEYS, name)
    description = item.get("description", "")
    if not isinstance(description, str):
        raise ctx.fail((*path, "description"), "must be text", name)
    return SLO(
        name=name,
        description=description.strip(),
        selector=_parse_selector(ctx, item.get("selector"), (*path, "selector"), name),
        sli=_parse_sli(ctx, item.get("sli"), (*path, "sli"), name),
        objective=_parse_objective(ctx, item.get("objective"), (*path, "objective"), name),
        window=_parse_window(ctx, item.get("window"), (*path, "window"), name),
        alerting=_parse_alerting(ctx, item.get("alerting"), (*path, "alerting"), name),
        source=ctx.source,
        line=ctx.doc.line(path),
    )


def _no_unknown(ctx: _Ctx, data: dict[str, Any], path: Path_, allowed: set[str], slo: str | None) -> None:
    for key in data:
        if key not in allowed:
            raise ctx.fail(
                (*path, key), f"unknown field; expected one of {', '.join(sorted(allowed))}", slo
            )


def _parse_selector(ctx: _Ctx, data: Any, path: Path_, slo: str) -> Selector:
    if data is None:
        return Selector()
    if not isinstance(data, dict):
        raise ctx.fail(path, f"must be a mapping of {', '.join(SELECTOR_FIELDS)}, labels", slo)
    _no_unknown(ctx, data, path, {*SELECTOR_FIELDS, "labels"}, slo)
    values: dict[str, str | None] = {}
    for key in SELECTOR_FIELDS:
        value = data.get(key)
        if value is not None and not isinstance(value, str | int):
            raise ctx.fail((*path, key), "must be text", slo)
        values[key] = None if value is None else str(value)
    if values["source"] is not None and values["source"] not in SOURCES:
        raise ctx.fail((*path, "source"), f"must be one of {', '.join(SOURCES)}", slo)
    labels = data.get("labels") or {}
    if not isinstance(labels, dict) or not all(
        isinstance(v, str | int | float | bool) for v in labels.values()
    ):
        raise ctx.fail((*path, "labels"), "must map label names to text values", slo)
    return Selector(
        **values,
        labels={str(k): str(v) for k, v in labels.items()},
    )


def _number(ctx: _Ctx, value: Any, path: Path_, slo: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ctx.fail(path, f"must be a finite number, got {value!r}", slo)
    return float(value)


def _parse_sli(ctx: _Ctx, data: Any, path: Path_, slo: str) -> SLI:
    if not isinstance(data, dict) or "kind" not in data:
        raise ctx.fail(path, f"required: a mapping with kind ({', '.join(SLI_KINDS)})", slo)
    kind = data["kind"]
    if kind not in SLI_KINDS:
        raise ctx.fail((*path, "kind"), f"must be one of {', '.join(SLI_KINDS)}, not {kind!r}", slo)
    if kind == "availability":
        _no_unknown(ctx, data, path, {"kind"}, slo)
        return SLI(kind="availability")
    missing = data.get("missing", "exclude")
    if missing not in MISSING:
        raise ctx.fail((*path, "missing"), "must be exclude (default) or bad", slo)
    if kind == "latency":
        _no_unknown(ctx, data, path, {"kind", "threshold_ms", "measure", "missing"}, slo)
        measure = data.get("measure", "turn_latency_ms")
        if measure not in TIME_MEASURES:
            raise ctx.fail(
                (*path, "measure"), f"must be a millisecond measure: {', '.join(TIME_MEASURES)}", slo
            )
        if "threshold_ms" not in data:
            raise ctx.fail((*path, "threshold_ms"), "required for a latency SLI", slo)
        threshold = _number(ctx, data["threshold_ms"], (*path, "threshold_ms"), slo)
        if threshold <= 0:
            raise ctx.fail((*path, "threshold_ms"), "must be positive", slo)
        return SLI(kind="latency", measure=measure, op="<=", threshold=threshold, missing=missing)
    _no_unknown(ctx, data, path, {"kind", "measure", "op", "threshold", "missing"}, slo)
    measure = data.get("measure")
    if measure not in TURN_MEASURES:
        raise ctx.fail((*path, "measure"), f"must be one of {', '.join(TURN_MEASURES)}", slo)
    op = data.get("op")
    if op not in OPERATORS:
        raise ctx.fail((*path, "op"), f"must be one of {' '.join(OPERATORS)} (quote it)", slo)
    if "threshold" not in data:
        raise ctx.fail((*path, "threshold"), "required for a quality SLI", slo)
    threshold = _number(ctx, data["threshold"], (*path, "threshold"), slo)
    return SLI(kind="quality", measure=measure, op=op, threshold=threshold, missing=missing)


def parse_objective(value: Any) -> float:
    """``99.5%``, ``99.5`` and ``0.995`` all mean 0.995; raise ValueError otherwise."""
    if isinstance(value, str):
        text = value.strip()
        percent = text.endswith("%")
        try:
            number = float(text.rstrip("%").strip())
        except ValueError:
            raise ValueError(f"invalid objective {value!r}; write e.g. 99.5%") from None
        if percent or number > 1:
            number /= 100
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        if number > 1:
            number /= 100
    else:
        raise ValueError(f"invalid objective {value!r}; write e.g. 99.5%")
    if not 0 < number < 1:
        raise ValueError(
            f"objective {value!r} must be above 0% and below 100% (100% leaves no error budget)"
        )
    return number


def _parse_objective(ctx: _Ctx, value: Any, path: Path_, slo: str) -> float:
    if value is None:
        raise ctx.fail(path, "required, e.g. 99.5%", slo)
    try:
        return parse_objective(value)
    except ValueError as exc:
        raise ctx.fail(path, str(exc), slo) from None


def normalise_window(value: Any) -> str:
    """A rolling window of 1h..90d in canonical spelling, or ``calendar_month``."""
    text = str(value).strip().lower()
    if text in (CALENDAR_MONTH, "calendar-month", "month", "1mo"):
        return CALENDAR_MONTH
    delta = parse_duration(text)
    if not MIN_WINDOW <= delta <= MAX_WINDOW:
        raise ValueError(f"window {value!r} must be between 1h and 90d (or calendar_month)")
    return format_duration(delta)


def _parse_window(ctx: _Ctx, value: Any, path: Path_, slo: str) -> str:
    if value is None:
        raise ctx.fail(path, "required: a rolling window (1h..90d, e.g. 30d) or calendar_month", slo)
    try:
        return normalise_window(value)
    except ValueError as exc:
        raise ctx.fail(path, str(exc), slo) from None


def _parse_alerting(ctx: _Ctx, data: Any, path: Path_, slo: str) -> Alerting:
    if data is None:
        return Alerting()
    if not isinstance(data, dict):
        raise ctx.fail(path, "must be a mapping like {page: true, ticket: false}", slo)
    _no_unknown(ctx, data, path, {"page", "ticket"}, slo)
    for key in ("page", "ticket"):
        if key in data and not isinstance(data[key], bool):
            raise ctx.fail((*path, key), "must be true or false", slo)
    return Alerting(page=data.get("page", True), ticket=data.get("ticket", True))


def dump_slos(slos: list[SLO]) -> str:
    """Native spec YAML for ``slos`` (round-trips through :func:`parse_slos`)."""
    doc = {"version": SPEC_VERSION, "slos": [s.to_dict() for s in slos]}
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


__all__ = [
    "CALENDAR_MONTH",
    "MISSING",
    "OPERATORS",
    "SLI",
    "SLI_KINDS",
    "SLO",
    "SPEC_VERSION",
    "Alerting",
    "Selector",
    "dump_slos",
    "load_slos",
    "normalise_window",
    "parse_objective",
    "parse_slos",
]
