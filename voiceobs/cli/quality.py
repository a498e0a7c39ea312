"""``voiceobs quality REF DEG``: score a degraded recording against its reference.

For checking a codec, a pipeline or a recorded call by hand, and for
scripts (``--json``). The delay between the files is found and reported,
so a recording that starts late still scores correctly. Every error names
the file at fault: the first argument is the reference (what was sent),
the second the degraded recording (what came back).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from voiceobs.cli.params import FiniteFloat

#: Widest --max-delay; equals ``voiceobs.quality.align.MAX_DELAY_S`` (kept here
#: so ``--help`` does not have to import torch).
MAX_DELAY_S = 60.0


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
@click.option(
    "--max-delay",
    type=FiniteFloat(0.0, MAX_DELAY_S),
    default=2.0,
    show_default=True,
    help=f"Alignment search, seconds (0 to {MAX_DELAY_S:g}).",
)
def quality(
    reference: Path, degraded: Path, as_json: bool, metrics: str, downmix: bool, max_delay: float
) -> None:
    """Score DEGRADED against REFERENCE (PESQ, STOI, ESTOI, DNSMOS) and print the delay.

    Files up to 30 minutes are scored (longer ones are refused before they are read).
    """
    from voiceobs.audio.io import load_audio
    from voiceobs.audio.resample import resample
    from voiceobs.quality import MAX_SECONDS, check_rate, parse_metrics, score

    chosen = parse_metrics(metrics)
    # compact: float32 where that is lossless, half the memory for a long recording.
    ref, ref_rate = load_audio(reference, downmix=downmix, max_seconds=MAX_SECONDS, compact=True)
    deg, deg_rate = load_audio(degraded, downmix=downmix, max_seconds=MAX_SECONDS, compact=True)
    check_rate(ref_rate, str(reference))
    check_rate(deg_rate, str(degraded))
    if deg_rate != ref_rate:
        # Different rates are a common export accident; bring DEG to REF's rate.
        deg = resample(deg, deg_rate, ref_rate)
    result = score(
        ref,
        deg,
        ref_rate,
        chosen,
        max_delay_s=max_delay,
        names=(str(reference), str(degraded)),
        workers=None,
    )
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


__all__ = ["quality"]
