"""``voiceobs quality REF DEG``: score a degraded recording against its reference.

For checking a codec, a pipeline or a recorded call by hand, and for
scripts (``--json``). The delay between the files is found and reported,
so a recording that starts late still scores correctly.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from voiceobs.errors import QualityError


def _fmt(value: float | None, reason: str | None) -> str:
    if value is None:
        return f"- ({reason})" if reason else "-"
    return f"{value:.3f}"


@click.command(name="quality")
@click.argument("reference", type=click.Path(path_type=Path))
@click.argument("degraded", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--metrics",
    "-m",
    default="all",
    show_default=True,
    help="Comma-separated: pesq_wb, pesq_nb, stoi, estoi, dnsmos (or all).",
)
@click.option("--downmix", is_flag=True, help="Average stereo files to mono instead of refusing.")
@click.option("--max-delay", default=2.0, show_default=True, help="Alignment search, seconds.")
def quality(
    reference: Path, degraded: Path, as_json: bool, metrics: str, downmix: bool, max_delay: float
) -> None:
    """Score DEGRADED against REFERENCE (PESQ, STOI, ESTOI, DNSMOS) and print the delay."""
    from voiceobs.audio.io import load_audio
    from voiceobs.audio.resample import resample
    from voiceobs.quality import score
    from voiceobs.quality.checks import check_rate
    from voiceobs.quality.scores import parse_metrics

    chosen = parse_metrics(metrics)
    ref, ref_rate = load_audio(reference, downmix=downmix)
    deg, deg_rate = load_audio(degraded, downmix=downmix)
    check_rate(ref_rate)
    check_rate(deg_rate)
    if deg_rate != ref_rate:
        # Different rates are a common export accident; bring DEG to REF's rate.
        deg = resample(deg, deg_rate, ref_rate).astype("float64")
    try:
        result = score(ref, deg, ref_rate, chosen, max_delay_s=max_delay)
    except QualityError as exc:
        raise QualityError(exc.reason, f"{degraded}: {exc}") from exc
    if as_json:
        payload = result.as_dict()
        payload.update(reference=str(reference), degraded=str(degraded), sample_rate=ref_rate)
        click.echo(json.dumps(payload, sort_keys=True))
        return
    fields = ("pesq_wb", "pesq_nb", "stoi", "estoi", "dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak")
    shown = [f for f in fields if f in chosen or (f.startswith("dnsmos") and "dnsmos" in chosen)]
    rows = [("path_delay_ms", _fmt(result.path_delay_ms, None))]
    rows += [(f, _fmt(getattr(result, f), result.errors.get(f))) for f in shown]
    for name, text in rows:
        click.echo(f"{name:<14} {text}")
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
