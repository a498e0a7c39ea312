"""Score how a call sounded: the one entry point the probe and the CLI use.

``score`` lines the degraded signal up with its reference, resamples to
what each metric was defined at (PESQ wide-band 16 kHz, narrow-band 8 kHz,
STOI 10 kHz, DNSMOS 16 kHz) and returns every score asked for. Problems
with the input as a whole (wrong rate, stereo, NaN samples, silence, too
short to align) raise :class:`~voiceobs.errors.QualityError`; a metric
that cannot be computed for otherwise good input (STOI on a clip with too
little speech, PESQ finding no utterance) is ``None`` with its reason in
``QualityScores.errors``. No score is ever NaN.

``score_batch`` scores many pairs at once: STOI/ESTOI as one torch batch,
PESQ in worker processes, and never raises for one bad pair (its reason is
recorded against every metric asked for).

Long audio is scored in bounded pieces, up to ``checks.MAX_SECONDS`` (30
minutes) per signal; longer input is ``too_long`` before any work starts.
PESQ scores pieces of at most 15 s cut at pauses, averaged by duration
(:mod:`voiceobs.quality.segments`); STOI/ESTOI stream their 384 ms segments
through in chunks, so their value is the one-pass value; DNSMOS runs its
9.01 s windows one at a time. Audio up to 15 s is scored exactly as one
call of each reference package would. Memory grows linearly with length
and stays under the figures in benchmarks/quality/RESULTS.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from voiceobs.errors import ConfigError, QualityError
from voiceobs.quality import checks
from voiceobs.quality.align import check_max_delay, find_delay, trim_to_overlap

#: Metric names ``score`` accepts; ``dnsmos`` fills ovrl, sig and bak.
METRICS: tuple[str, ...] = ("pesq_wb", "pesq_nb", "stoi", "estoi", "dnsmos")
_INTRUSIVE = frozenset({"pesq_wb", "pesq_nb", "stoi", "estoi"})
_DNSMOS_FIELDS = ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak")

#: Shortest input worth aligning and scoring: PESQ needs a quarter second.
MIN_SECONDS = 0.25


@dataclass
class QualityScores:
    """Scores for one reference/degraded pair; ``None`` where not asked or not computable.

    ``errors`` maps a metric field to the reason it is ``None`` (only for
    metrics that were asked for); ``warnings`` holds conditions that did
    not stop scoring but colour it (``clipped``).
    """

    pesq_wb: float | None = None
    pesq_nb: float | None = None
    stoi: float | None = None
    estoi: float | None = None
    dnsmos_ovrl: float | None = None
    dnsmos_sig: float | None = None
    dnsmos_bak: float | None = None
    path_delay_ms: float | None = None
    errors: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON and storage."""
        return asdict(self)

    def fail(self, metrics: Iterable[str], reason: str) -> None:
        """Record ``reason`` against every field that ``metrics`` would have filled."""
        for m in metrics:
            for f in _DNSMOS_FIELDS if m == "dnsmos" else (m,):
                setattr(self, f, None)
                self.errors[f] = reason


def parse_metrics(metrics: Iterable[str] | str | None) -> tuple[str, ...]:
    """Normalise a metric list (names, ``dnsmos_*`` fields, or ``all``); unknown names raise."""
    if metrics is None:
        return METRICS
    if isinstance(metrics, str):
        metrics = [m for m in metrics.replace(",", " ").split() if m]
    chosen: list[str] = []
    for name in metrics:
        key = name.strip().lower()
        if key == "all":
            return METRICS
        if key in _DNSMOS_FIELDS:
            key = "dnsmos"
        if key not in METRICS:
            raise ConfigError(f"unknown quality metric {name!r}; choose from {', '.join(METRICS)}")
        if key not in chosen:
            chosen.append(key)
    if not chosen:
        raise ConfigError(f"no quality metric asked for; choose from {', '.join(METRICS)}")
    return tuple(chosen)


@dataclass
class _Prepared:
    ref: np.ndarray | None
    deg: np.ndarray
    result: QualityScores


#: What messages call the two signals unless the caller names them (e.g. by file).
DEFAULT_NAMES = ("reference audio", "degraded audio")


def _checked_signal(audio: Any, rate: int, what: str) -> np.ndarray:
    x = checks.as_mono(audio, what)
    checks.check_duration(x.shape[0], rate, what)
    checks.check_length(x, rate, MIN_SECONDS, what)
    checks.check_speech(x, what)
    return x


def _prepare(
    reference: Any,
    degraded: Any,
    rate: int,
    metrics: tuple[str, ...],
    align: bool,
    max_delay_s: float,
    names: tuple[str, str] = DEFAULT_NAMES,
) -> _Prepared:
    """Validate and align one pair; raises ``QualityError`` for unusable input.

    Every message names the signal at fault by ``names`` (reference, degraded).
    """
    intrusive = any(m in _INTRUSIVE for m in metrics)
    ref_name, deg_name = names
    deg = _checked_signal(degraded, rate, deg_name)
    out = QualityScores()
    ref: np.ndarray | None = None
    if intrusive:
        ref = _checked_signal(reference, rate, ref_name)
        if checks.is_clipped(ref):
            out.warnings.append("clipped_reference")
        if align:
            est = find_delay(ref, deg, rate, max_delay_s)
            out.path_delay_ms = est.delay_ms
            ref, deg = trim_to_overlap(ref, deg, est.shift)
        else:
            n = min(ref.shape[0], deg.shape[0])
            ref, deg = ref[:n], deg[:n]
        checks.check_length(
            deg, rate, MIN_SECONDS, f"the aligned overlap of {ref_name} and {deg_name}"
        )
    if checks.is_clipped(deg):
        out.warnings.append("clipped")
    return _Prepared(ref, deg, out)


def _resampled(x: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """``x`` at ``new_rate``: itself when the rate matches, else float32.

    No float32 round trip when the rate matches (scores must equal the
    reference packages'); a resampled signal stays float32, which is what
    the resampler produces, at half the memory of float64 for long audio.
    """
    if rate == new_rate:
        return x
    from voiceobs.audio.resample import resample

    return resample(x, rate, new_rate)


def score(
    reference: Any,
    degraded: Any,
    sample_rate: int,
    metrics: Iterable[str] | str | None = METRICS,
    *,
    align: bool = True,
    max_delay_s: float = 2.0,
    device: str = "cpu",
    names: tuple[str, str] = DEFAULT_NAMES,
    workers: int | None = 1,
) -> QualityScores:
    """Score ``degraded`` against ``reference`` (numpy arrays or torch tensors, mono).

    ``reference`` may be ``None`` when only ``dnsmos`` is asked for. With
    ``align`` (the default) the delay is found within ±``max_delay_s``
    (0 to 60 s) and reported as ``path_delay_ms``. ``names`` are what error
    messages call the reference and the degraded signal (the CLI passes the
    file names, so a message blames the right file). ``workers`` spreads the
    PESQ pieces of a long pair over processes (``None``: one per CPU); the
    default keeps everything in this process.
    """
    rate = checks.check_rate(sample_rate)
    chosen = parse_metrics(metrics)
    max_delay_s = check_max_delay(max_delay_s)
    prepared = _prepare(reference, degraded, rate, chosen, align, max_delay_s, names)
    _score_prepared([prepared], rate, chosen, workers=workers, device=device)
    return prepared.result


def score_batch(
    pairs: Sequence[tuple[Any, Any]],
    sample_rate: int,
    metrics: Iterable[str] | str | None = METRICS,
    *,
    align: bool = True,
    max_delay_s: float = 2.0,
    workers: int | None = None,
    device: str = "cpu",
) -> list[QualityScores]:
    """Score many ``(reference, degraded)`` pairs at one rate, one result per pair.

    A pair with unusable input gets its reason against every metric instead
    of raising, so one broken call never costs the others their scores.
    """
    rate = checks.check_rate(sample_rate)
    chosen = parse_metrics(metrics)
    max_delay_s = check_max_delay(max_delay_s)
    results: list[QualityScores] = []
    good: list[_Prepared] = []
    for ref, deg in pairs:
        try:
            p = _prepare(ref, deg, rate, chosen, align, max_delay_s)
        except QualityError as exc:
            failed = QualityScores()
            failed.fail(chosen, exc.reason)
            results.append(failed)
            continue
        good.append(p)
        results.append(p.result)
    if good:
        _score_prepared(good, rate, chosen, workers=workers, device=device)
    return results


def _score_prepared(
    items: list[_Prepared], rate: int, metrics: tuple[str, ...], workers: int | None, device: str
) -> None:
    # One metric at a time, each in its own function, so the copies one makes
    # (resampled signals, PESQ pieces) are gone before the next starts.
    for mode, metric, pesq_rate in (("wb", "pesq_wb", 16000), ("nb", "pesq_nb", 8000)):
        if metric in metrics:
            _score_pesq(items, rate, metric, mode, pesq_rate, workers)
    want_s, want_e = "stoi" in metrics, "estoi" in metrics
    if want_s or want_e:
        _score_stoi(items, rate, want_s, want_e, device)
    if "dnsmos" in metrics:
        _score_dnsmos(items, rate, device)


def _score_pesq(
    items: list[_Prepared], rate: int, metric: str, mode: str, pesq_rate: int, workers: int | None
) -> None:
    from voiceobs.quality._pesq import pesq_many
    from voiceobs.quality.segments import combine, pesq_pieces

    jobs: list[tuple[np.ndarray, np.ndarray, int, str]] = []
    # Each owner's pieces are jobs[first : first + len(lengths)].
    owners: list[tuple[QualityScores, int, list[int]]] = []
    for it in items:
        assert it.ref is not None
        ref = _resampled(it.ref, rate, pesq_rate)
        deg = _resampled(it.deg, rate, pesq_rate)
        pieces = pesq_pieces(ref, pesq_rate)
        owners.append((it.result, len(jobs), [b - a for a, b in pieces]))
        jobs.extend((ref[a:b], deg[a:b], pesq_rate, mode) for a, b in pieces)
    outcomes = pesq_many(jobs, workers)
    for res, first, lengths in owners:
        value, reason = combine(outcomes[first : first + len(lengths)], lengths)
        setattr(res, metric, value)
        if reason:
            res.errors[metric] = reason


def _score_stoi(items: list[_Prepared], rate: int, want_s: bool, want_e: bool, device: str) -> None:
    from voiceobs.quality.stoi import stoi_estoi_batch

    refs = [it.ref for it in items if it.ref is not None]
    s_val, e_val = stoi_estoi_batch(
        refs, [it.deg for it in items], rate, device=device, stoi=want_s, estoi=want_e
    )
    for it, s, e in zip(items, s_val.tolist(), e_val.tolist(), strict=True):
        for metric, value, wanted in (("stoi", s, want_s), ("estoi", e, want_e)):
            if not wanted:
                continue
            if math.isfinite(value):
                setattr(it.result, metric, float(value))
            else:
                it.result.errors[metric] = "too_short"


def _score_dnsmos(items: list[_Prepared], rate: int, device: str) -> None:
    from voiceobs.quality.dnsmos import dnsmos

    for it in items:
        try:
            d = dnsmos(_resampled(it.deg, rate, 16000), 16000, device=device)
        except QualityError as exc:
            it.result.fail(["dnsmos"], exc.reason)
            continue
        it.result.dnsmos_ovrl, it.result.dnsmos_sig, it.result.dnsmos_bak = d.ovrl, d.sig, d.bak


__all__ = [
    "DEFAULT_NAMES",
    "METRICS",
    "MIN_SECONDS",
    "QualityScores",
    "parse_metrics",
    "score",
    "score_batch",
]
