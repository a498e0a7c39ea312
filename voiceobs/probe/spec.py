"""Probe specs: versioned YAML (``version: voiceobs/v1``) validated by pydantic models.

A spec is edited by hand and run by cron, so a mistake must be found before any
call is placed and reported where a person can fix it: every error names the
file, the line (taken from the YAML node marks, not guessed) and the field.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from voiceobs import safe_yaml
from voiceobs.audio.tts import Voice, parse_voice
from voiceobs.errors import AudioError, SpecError
from voiceobs.measures import QUALITY_METRICS
from voiceobs.safe_yaml import dotted

SPEC_VERSION = "voiceobs/v1"

#: Metrics a spec may ask for (the quality module computes them).
KNOWN_METRICS = QUALITY_METRICS


class _Model(BaseModel):
    # Unknown keys are typos far more often than intent: refuse them.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Timeouts(_Model):
    """Deadlines, in seconds: a probe never waits without one."""

    connect_s: float = Field(5.0, gt=0, le=120)
    first_audio_s: float = Field(5.0, gt=0, le=120)
    call_s: float = Field(60.0, gt=0, le=3600)


class Expect(_Model):
    """What a correct reply contains; any subset may be given."""

    text: str | None = None
    intent: str | None = None
    keywords: list[str] = Field(default_factory=list)
    max_wer: float | None = Field(None, ge=0)


#: Keys a Twilio caller can press (DTMF digits as Media Streams delivers them).
DTMF_DIGITS = "0123456789*#ABCD"


class Caller(_Model):
    """A hard caller: conditions applied to the prompt before it is sent (all optional).

    ``snr_db`` mixes generated noise (``noise``, seeded) at that ratio to the
    prompt's speech; ``level_db`` makes the caller quieter or louder;
    ``words_per_minute`` speaks text prompts faster or slower; ``codec`` and
    ``loss``/``loss_rate`` run the prompt through the codec pipeline's line
    impairments (G.711 and seeded packet loss) on its way out.
    """

    snr_db: float | None = Field(None, ge=-20, le=80)
    noise: Literal["white", "pink", "brown"] = "pink"
    seed: int = Field(0, ge=0, le=2**31 - 1)
    level_db: float = Field(0.0, ge=-40, le=20)
    words_per_minute: int | None = Field(None, ge=60, le=500)
    codec: Literal["none", "mulaw", "alaw"] = "none"
    loss: Literal["none", "random", "gilbert"] = "none"
    loss_rate: float = Field(0.0, ge=0, le=1)

    @property
    def clean(self) -> bool:
        """True when nothing is applied to the prompt."""
        return self == Caller()

    def describe(self) -> dict[str, float | int | str]:
        """What a result carries: only the settings that change the caller (JSON-safe)."""
        data = self.model_dump(exclude_defaults=True)
        if self.snr_db is not None:
            data.setdefault("noise", self.noise)
        return data


class BargeIn(_Model):
    """The caller speaks over the bot's reply, ``after_ms`` after its first speech arrived."""

    after_ms: int = Field(800, ge=0, le=60_000)
    prompt: str | None = None
    wav: str | None = None
    #: What the bot's reply to the interruption must contain (it is a turn of its own).
    expect: Expect = Field(default_factory=Expect)
    #: The interrupted reply must have stopped this long after the interruption began.
    deadline_ms: int = Field(2000, ge=100, le=60_000)

    @model_validator(mode="after")
    def _one_source(self) -> BargeIn:
        if (self.prompt is None) == (self.wav is None):
            raise ValueError("barge_in needs exactly one of `prompt` (what the caller says over the bot) or `wav`")
        if self.prompt is not None and not self.prompt.strip():
            raise ValueError("barge_in `prompt` is empty; give the words the caller interrupts with")
        return self


class Greeting(_Model):
    """A bot that speaks first: how soon it greets and what it says."""

    expect: Expect = Field(default_factory=Expect)
    #: Longest the greeting may take to start (``greeting_ms``) before the call fails.
    max_ms: int | None = Field(None, ge=1, le=120_000)
    end_silence_ms: int = Field(800, ge=100, le=10_000)
    max_reply_s: float = Field(15.0, gt=0, le=600)


class DeadAir(_Model):
    """Silences inside a reply: which ones count, and how long one may last."""

    threshold_ms: int = Field(500, ge=20, le=60_000)
    #: A reply silent for longer than this mid-way fails its turn as ``dead_air``.
    max_ms: int | None = Field(None, ge=20, le=60_000)


class Turn(_Model):
    """One exchange: what the caller says (or keys) and what it expects back."""

    prompt: str | None = None
    wav: str | None = None
    #: Keypad digits sent as Twilio ``dtmf`` messages instead of speech (``"1"``, ``"42#"``).
    dtmf: str | None = None
    #: Milliseconds between two digits.
    dtmf_gap_ms: int = Field(200, ge=0, le=10_000)
    barge_in: BargeIn | None = None
    #: This turn's caller condition (replaces the spec's ``caller:`` for this turn).
    caller: Caller | None = None
    expect: Expect = Field(default_factory=Expect)
    reference: Literal["prompt", "golden", "none"] = "none"
    golden: str | None = None
    #: The reply has ended once this long passes with no audio above the silence threshold.
    end_silence_ms: int = Field(800, ge=100, le=10_000)
    #: Longest a reply may last before the probe moves on (the reply is not cut short,
    #: the probe just stops listening for this turn).
    max_reply_s: float = Field(15.0, gt=0, le=600)
    #: Silence sent after the reply before the next turn starts.
    pause_ms: int = Field(200, ge=0, le=10_000)

    @model_validator(mode="after")
    def _one_source(self) -> Turn:
        given = [name for name in ("prompt", "wav", "dtmf") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of `prompt` (text to speak), `wav` (a file) or `dtmf` (keypad digits)"
            )
        if self.prompt is not None and not self.prompt.strip():
            raise ValueError("`prompt` is empty; give the words the caller says")
        if self.prompt is not None:
            from voiceobs.probe.pauses import split_pauses

            try:
                split_pauses(self.prompt)
            except ValueError as exc:
                raise ValueError(f"prompt: {exc}") from None
        if self.dtmf is not None:
            bad = sorted({c for c in self.dtmf if c not in DTMF_DIGITS})
            if not self.dtmf or bad:
                raise ValueError(
                    f"dtmf {self.dtmf!r}: use keypad digits only ({DTMF_DIGITS}), e.g. dtmf: \"42#\""
                )
            if self.barge_in is not None:
                raise ValueError("a dtmf turn cannot barge in; give the interruption its own spoken turn")
            if self.reference == "prompt":
                raise ValueError("a dtmf turn has no audio to loop back; use `reference: none`")
        if self.reference == "golden" and not self.golden:
            raise ValueError("`reference: golden` needs `golden: path/to/reply.wav`")
        return self


class ProbeSpec(_Model):
    """A probe: whom to call, how, what to say, what to expect and what to measure."""

    version: Literal["voiceobs/v1"]
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    target: str
    protocol: Literal["twilio", "pcm"] = "twilio"
    pipeline: str = ""
    region: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    turns: list[Turn] = Field(min_length=1)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    metrics: list[str] = Field(default_factory=list)
    #: Per-metric floor; a score below it fails the call as ``quality_error``.
    min_scores: dict[str, float] = Field(default_factory=dict)
    concurrency: int = Field(1, ge=1, le=10_000)
    #: Calls placed in one run (defaults to ``concurrency``).
    calls: int | None = Field(None, ge=1, le=100_000)
    #: A level (dBFS) below which a received frame counts as silence.
    silence_threshold_dbfs: float = Field(-45.0, ge=-120, le=0)
    #: Extra start-message parameters (Twilio customParameters / PCM start fields),
    #: e.g. per-call fault injection on the reference server.
    parameters: dict[str, str] = Field(default_factory=dict)
    #: Who speaks the prompts: an espeak-ng voice name (``en-us``) or ``engine[:name]``
    #: (``hibari``, ``hibari:heart``, ``espeak:en-gb``); see :mod:`voiceobs.audio.tts`.
    voice: str = "en-us"
    #: Speaking rate; when not given, the engine's own default (150 for espeak-ng).
    words_per_minute: int = Field(150, ge=60, le=500)
    store_audio: bool = False
    #: A bot that speaks first: the probe listens before the first turn.
    greeting: Greeting | None = None
    dead_air: DeadAir = Field(default_factory=DeadAir)
    #: Every turn's caller condition unless a turn gives its own (a persona).
    caller: Caller | None = None
    #: Run the whole spec once per value of a caller setting, e.g. ``snr_db: [20, 10, 5]``.
    sweep: dict[str, list[float]] = Field(default_factory=dict)

    #: Where the spec came from (set by the loader; not a YAML field).
    source: str = Field("", exclude=True)

    @field_validator("target")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        # Everything a URL parser would refuse at call time is a spec error now,
        # so a typo is a line number, not a stored internal_error.
        if not value.startswith(("ws://", "wss://")):
            raise ValueError(f"target must be a ws:// or wss:// URL, got {value!r}")
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"target {value!r} is not a valid URL: {exc}") from None
        if not parts.hostname:
            raise ValueError(f"target {value!r} names no host")
        if port == 0:
            raise ValueError(f"target {value!r}: port 0 cannot be called")
        if any(c.isspace() for c in value):
            raise ValueError(f"target {value!r} contains whitespace")
        return value

    @field_validator("voice")
    @classmethod
    def _known_voice(cls, value: str) -> str:
        try:
            parse_voice(value)
        except AudioError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _voice_rate(self) -> ProbeSpec:
        try:
            self.prompt_voice  # noqa: B018 - parsed for its errors
        except AudioError as exc:
            raise ValueError(f"words_per_minute: {exc}") from None
        return self

    @property
    def prompt_voice(self) -> Voice:
        """The voice the prompts are rendered with (the engine's rate unless the spec sets one)."""
        rate = self.words_per_minute if "words_per_minute" in self.model_fields_set else None
        return parse_voice(self.voice, rate)

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, value: list[str]) -> list[str]:
        for m in value:
            if m not in KNOWN_METRICS:
                raise ValueError(f"unknown metric {m!r}; choose from {', '.join(KNOWN_METRICS)}")
        return value

    @field_validator("min_scores")
    @classmethod
    def _floors(cls, value: dict[str, float]) -> dict[str, float]:
        for m in value:
            if m not in KNOWN_METRICS:
                raise ValueError(f"unknown metric {m!r}; choose from {', '.join(KNOWN_METRICS)}")
        return value

    @field_validator("sweep")
    @classmethod
    def _sweep(cls, value: dict[str, list[float]]) -> dict[str, list[float]]:
        numeric = ("snr_db", "level_db", "words_per_minute", "loss_rate")
        if len(value) > 1:
            raise ValueError("sweep one caller setting at a time, e.g. `sweep: {snr_db: [20, 10, 5]}`")
        for name, points in value.items():
            if name not in numeric:
                raise ValueError(f"cannot sweep {name!r}; sweep one of {', '.join(numeric)}")
            if not points:
                raise ValueError(f"sweep {name}: give at least one value")
            if len(points) > 100:
                raise ValueError(f"sweep {name}: at most 100 values, got {len(points)}")
            for p in points:
                try:
                    Caller.model_validate({name: p})
                except ValidationError as exc:
                    msg = str(exc.errors()[0]["msg"])
                    raise ValueError(f"sweep {name}: {p!r}: {msg}") from None
        return value

    @model_validator(mode="after")
    def _dynamics(self) -> ProbeSpec:
        if self.protocol != "twilio" and any(t.dtmf is not None for t in self.turns):
            raise ValueError("dtmf turns need `protocol: twilio` (Media Streams `dtmf` messages)")
        return self

    def sweep_points(self) -> list[ProbeSpec]:
        """The spec once per sweep value (each with its caller condition set), or itself alone."""
        if not self.sweep:
            return [self]
        [(name, points)] = self.sweep.items()
        base = self.caller or Caller()
        out = []
        for p in points:
            value = int(p) if name == "words_per_minute" else float(p)
            caller = base.model_copy(update={name: value})
            turns = [
                t if t.caller is None else t.model_copy(update={"caller": t.caller.model_copy(update={name: value})})
                for t in self.turns
            ]
            out.append(self.model_copy(update={"caller": caller, "turns": turns, "sweep": {}}))
        return out

    def caller_for(self, turn: Turn) -> Caller | None:
        """The condition a turn's prompt is sent under (the turn's own, else the spec's)."""
        caller = turn.caller if turn.caller is not None else self.caller
        return None if caller is None or caller.clean else caller

    @property
    def total_calls(self) -> int:
        """How many calls one run places."""
        return self.calls or self.concurrency

    def with_concurrency(self, concurrency: int | None) -> ProbeSpec:
        """The spec as run with ``--concurrency N``: a load probe, not a parallelism cap alone.

        Without ``calls:`` a spec places as many calls as it runs in parallel,
        so N sets both and the run places N concurrent calls; with ``calls:``
        the spec's count stands and N only caps how many run at once.
        """
        if concurrency is None or concurrency == self.concurrency:
            return self
        if not 1 <= concurrency <= 10_000:
            raise SpecError(
                f"concurrency must be within 1..10000, got {concurrency}",
                path=self.source or None,
                field="concurrency",
            )
        return self.model_copy(update={"concurrency": concurrency})

    @property
    def sample_rate(self) -> int:
        """The rate the caller's audio is sent at on this protocol."""
        return 8000 if self.protocol == "twilio" else 16000

    def digest(self) -> str:
        """A stable hash of the spec, so a lock or cache is per spec content and name."""
        data = self.model_dump_json()
        return hashlib.sha256(data.encode()).hexdigest()[:16]


# -- loading -----------------------------------------------------------------------------


def _field_name(loc: tuple[Any, ...]) -> str:
    return dotted(loc) or "(document)"


def parse_spec(text: str, source: str = "<spec>") -> ProbeSpec:
    """Validate a spec from YAML text; errors carry ``source:line: field:``."""
    doc = safe_yaml.parse(text, source)
    data = doc.data
    if not isinstance(data, dict):
        raise SpecError("a probe spec must be a YAML mapping with `version: voiceobs/v1`", path=source, line=1)
    version = data.get("version")
    if version != SPEC_VERSION:
        raise SpecError(
            f"unsupported version {version!r}; this voiceobs reads `version: {SPEC_VERSION}`",
            path=source,
            line=doc.line(("version",)) or 1,
            field="version",
        )
    try:
        spec = ProbeSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        # model_validator errors have an empty loc suffix; the message names the field.
        msg = str(err["msg"]).removeprefix("Value error, ")
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise SpecError(
            msg + more, path=source, line=doc.line(loc), field=_field_name(loc)
        ) from None
    return spec.model_copy(update={"source": source})


def load_spec(path: str | Path) -> ProbeSpec:
    """Read and validate a spec file; relative WAV paths resolve against its folder."""
    return parse_spec(safe_yaml.read_text(path, "probe spec"), str(path))


__all__ = [
    "DTMF_DIGITS",
    "KNOWN_METRICS",
    "SPEC_VERSION",
    "BargeIn",
    "Caller",
    "DeadAir",
    "Expect",
    "Greeting",
    "ProbeSpec",
    "Timeouts",
    "Turn",
    "load_spec",
    "parse_spec",
]
