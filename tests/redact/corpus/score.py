"""Load the labelled redaction corpus and score a redactor on it.

Shared by the corpus test (which fails below the targets) and the
redaction benchmark (which runs a baseline on the same corpus). A PII item
counts as caught only when every letter and digit of its span is gone from
the output; an ordinary utterance counts as kept only when it comes back
unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

CORPUS_DIR = Path(__file__).parent
GENERATED = CORPUS_DIR / "generated.jsonl"
TRICKY = CORPUS_DIR / "tricky.txt"

#: Recall and kept-rate targets (issue: recall >= 0.99, ordinary text kept >= 0.97).
RECALL_TARGET = 0.99
KEPT_TARGET = 0.97

_PLACEHOLDER_RE = re.compile(r"\[([A-Z][A-Z0-9_]{1,15})(?::[0-9a-f]{8})?\]")
_MARK_RE = re.compile(r"⟦([A-Z]+):(.*?)⟧")


@dataclass
class Record:
    """One utterance: its text, its PII spans (start, end, kind), where it came from."""

    id: str
    text: str
    pii: list[tuple[int, int, str]]
    form: str
    source: str


def parse_marked(line: str) -> tuple[str, list[tuple[int, int, str]]]:
    """Text and spans from hand-written markup: ``my pin is ⟦SECRET:4421⟧``."""
    text = ""
    spans = []
    pos = 0
    for m in _MARK_RE.finditer(line):
        text += line[pos : m.start()]
        start = len(text)
        text += m.group(2)
        spans.append((start, len(text), m.group(1)))
        pos = m.end()
    text += line[pos:]
    if "⟦" in text or "⟧" in text:
        raise ValueError(f"unbalanced markup in {line!r}")
    return text, spans


def load_corpus(generated: Path = GENERATED, tricky: Path = TRICKY) -> list[Record]:
    """Every record: the generated file (after its header line) and the hand-written one."""
    records = []
    with generated.open(encoding="utf-8") as fh:
        next(fh)  # header: generator, seed, versions
        for line in fh:
            r = json.loads(line)
            spans = [(int(s), int(e), str(k)) for s, e, k in r["pii"]]
            records.append(Record(r["id"], r["text"], spans, r["form"], "generated"))
    for n, raw in enumerate(tricky.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        form, _, body = line.partition("|")
        text, spans = parse_marked(body.strip())
        records.append(Record(f"tricky-{n:04d}", text, spans, form.strip(), "tricky"))
    return records


def removed_regions(text: str, out: str) -> list[tuple[int, int, str]] | None:
    """Regions of ``text`` replaced by each placeholder of ``out``, or None if ``out`` is not
    ``text`` with stretches replaced by placeholders."""
    pieces = _PLACEHOLDER_RE.split(out)
    literals = pieces[0::2]
    kinds = pieces[1::2]
    if not kinds:
        return [] if out == text else None
    pattern = "(.+?)".join(re.escape(p) for p in literals)
    m = re.fullmatch(pattern, text, re.DOTALL)
    if m is None:
        return None
    return [(m.start(i + 1), m.end(i + 1), kinds[i]) for i in range(len(kinds))]


@dataclass
class Report:
    """Recall per kind and form, overall recall, kept rate, and how much else went."""

    items: dict[str, list[int]] = field(default_factory=dict)  # kind -> [caught, total]
    forms: dict[str, list[int]] = field(default_factory=dict)  # form -> [caught, total]
    kind_right: int = 0
    negatives_kept: int = 0
    negatives: int = 0
    context_kept: int = 0
    context_total: int = 0
    misses: list[str] = field(default_factory=list)
    over: list[str] = field(default_factory=list)
    unaligned: list[str] = field(default_factory=list)

    @property
    def caught(self) -> int:
        return sum(c for c, _ in self.items.values())

    @property
    def total(self) -> int:
        return sum(t for _, t in self.items.values())

    @property
    def recall(self) -> float:
        return self.caught / self.total if self.total else 1.0

    @property
    def kept(self) -> float:
        return self.negatives_kept / self.negatives if self.negatives else 1.0

    def recall_of(self, kind: str) -> float:
        c, t = self.items[kind]
        return c / t if t else 1.0

    def table(self, name: str = "voiceobs") -> str:
        """The figures as printed by the test and the benchmark."""
        lines = [f"{name}: recall per kind (caught / labelled)"]
        for kind in sorted(self.items):
            c, t = self.items[kind]
            lines.append(f"  {kind:9s} {c / t:6.3f}  ({c}/{t})")
        for form in sorted(self.forms):
            c, t = self.forms[form]
            lines.append(f"  {form:9s} {c / t:6.3f}  ({c}/{t})  [{form} forms, all kinds]")
        lines.append(f"  overall   {self.recall:6.3f}  ({self.caught}/{self.total})")
        lines.append(f"  right kind among caught: {self.kind_right}/{self.caught}")
        lines.append(
            f"  ordinary text kept: {self.kept:.3f} ({self.negatives_kept}/{self.negatives} hard negatives unchanged)"
        )
        if self.context_total:
            lines.append(
                f"  non-PII letters and digits kept beside PII: {self.context_kept / self.context_total:.3f}"
            )
        return "\n".join(lines)


def score(records: Iterable[Record], redact: Callable[[str], str]) -> Report:
    """Run ``redact`` on every record and count what was caught and what was kept."""
    rep = Report()
    for rec in records:
        out = redact(rec.text)
        if not rec.pii:
            rep.negatives += 1
            if out == rec.text:
                rep.negatives_kept += 1
            else:
                rep.over.append(f"{rec.id}: {rec.text!r} -> {out!r}")
            continue
        regions = removed_regions(rec.text, out)
        if regions is None:
            rep.unaligned.append(f"{rec.id}: {rec.text!r} -> {out!r}")
            regions = [(0, len(rec.text), "?")] if out != rec.text else []
        removed = [False] * len(rec.text)
        for s, e, _ in regions:
            for i in range(s, e):
                removed[i] = True
        inside = [False] * len(rec.text)
        for s, e, kind in rec.pii:
            for i in range(s, e):
                inside[i] = True
            alnum = [i for i in range(s, e) if rec.text[i].isalnum()]
            caught = all(removed[i] for i in alnum)
            rep.items.setdefault(kind, [0, 0])
            rep.items[kind][1] += 1
            rep.forms.setdefault(rec.form, [0, 0])
            rep.forms[rec.form][1] += 1
            if caught:
                rep.items[kind][0] += 1
                rep.forms[rec.form][0] += 1
                if any(k == kind for rs, re_, k in regions if rs < e and s < re_):
                    rep.kind_right += 1
            else:
                rep.misses.append(f"{rec.id} {kind}: {rec.text[s:e]!r} in {rec.text!r} -> {out!r}")
        for i, ch in enumerate(rec.text):
            if ch.isalnum() and not inside[i]:
                rep.context_total += 1
                rep.context_kept += not removed[i]
    return rep


__all__ = [
    "KEPT_TARGET",
    "RECALL_TARGET",
    "Record",
    "Report",
    "load_corpus",
    "parse_marked",
    "removed_regions",
    "score",
]
