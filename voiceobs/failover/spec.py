"""The hooks file: which SLO alerts trigger which actions, and how hard to try.

A hooks file is YAML (``version: voiceobs/v1``)::

    version: voiceobs/v1
    external_url: http://dashboard.example:8501     # optional, for generatorURL
    defaults: {timeout: 5s, retries: 2, backoff: 1s, cooldown: 10m, give_up_after: 24h}
    hooks:
      - name: oncall
        match: {slo: "agent-*", labels: {region: eu}, severity: [page]}
        action: webhook
        url: https://hooks.example/voiceobs
        secret_env: VOICEOBS_WEBHOOK_SECRET

Delivery is at least once: a hook event that still fails after ``retries``
is tried again by later passes (the same backoff sequence, capped at
``backoff_max``) until it succeeds or ``give_up_after`` has passed since it
was first claimed.

Every mistake is reported as a ``SpecError`` naming the file, the line, the
hook and the field, because a hooks file is usually read for the first time
by cron at 3 a.m., when nobody is there to guess what went wrong.
"""

from __future__ import annotations

import fnmatch
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from voiceobs import safe_yaml
from voiceobs.durations import format_duration as _format
from voiceobs.durations import parse_seconds
from voiceobs.errors import SpecError

VERSION = "voiceobs/v1"
ACTIONS = ("webhook", "alertmanager", "command", "pipeline_mode", "python")
SEVERITIES = ("page", "ticket")

_COMMON = {
    "name", "action", "match", "timeout", "retries", "backoff", "backoff_max",
    "cooldown", "give_up_after", "send_resolved", "dry_run", "description",
}  # fmt: skip
_TUNABLES = (
    "timeout", "retries", "backoff", "backoff_max", "cooldown", "give_up_after", "send_resolved",
    "dry_run",
)  # fmt: skip
#: How long an undelivered hook event is retried, from its first claim, unless a hook says otherwise.
DEFAULT_GIVE_UP_AFTER = 86400.0
_DAY = 86400.0
# Seconds each duration field may take: (least, most, whether the least itself is allowed).
# A value outside is a typo (``timeout: 5h`` for 5s) or makes no sense, never a policy.
_DURATION_LIMITS: dict[str, tuple[float, float, bool]] = {
    "timeout": (0.0, 3600.0, False),
    "backoff": (0.0, _DAY, True),
    "backoff_max": (0.0, _DAY, True),
    "cooldown": (0.0, 30 * _DAY, True),
    "give_up_after": (0.0, 30 * _DAY, False),
    "expire_after": (0.0, 30 * _DAY, False),
}
MAX_RETRIES = 20
_PER_ACTION: dict[str, dict[str, bool]] = {
    # field -> required
    "webhook": {"url": True, "headers": False, "secret_env": False, "signature_header": False,
                "receiver": False},
    "alertmanager": {"url": True, "headers": False, "expire_after": False},
    "command": {"argv": True, "env": False, "cwd": False},
    "pipeline_mode": {"url": True, "mode": False, "resolved_mode": False, "token": False,
                      "token_env": False, "path": False},
    "python": {"entry_point": True},
}  # fmt: skip
_MATCH_KEYS = {"slo", "labels", "severity"}


@dataclass(frozen=True)
class Match:
    """Which alerts a hook is bound to: SLO name globs, label equality, severities."""

    slos: tuple[str, ...] = ("*",)
    labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    severities: tuple[str, ...] = ("page",)

    def matches(self, slo_name: str, labels: Mapping[str, Any], severity: str) -> bool:
        """True when an alert of this SLO, with these labels and severity, triggers the hook."""
        if severity not in self.severities:
            return False
        if not any(fnmatch.fnmatchcase(slo_name, pattern) for pattern in self.slos):
            return False
        return all(str(labels.get(key, "")) in wanted for key, wanted in self.labels.items())


@dataclass(frozen=True)
class Hook:
    """One bound action with its delivery policy (times in seconds)."""

    name: str
    action: str
    match: Match
    options: Mapping[str, Any]
    timeout: float = 5.0
    retries: int = 2
    backoff: float = 1.0
    backoff_max: float = 30.0
    cooldown: float = 0.0
    give_up_after: float = DEFAULT_GIVE_UP_AFTER
    send_resolved: bool = True
    dry_run: bool = False
    description: str = ""
    source: str = ""  # "file:line", for messages

    def option(self, key: str, default: Any = None) -> Any:
        """An action-specific field (``url``, ``argv``...)."""
        return self.options.get(key, default)


@dataclass(frozen=True)
class HooksFile:
    """A parsed hooks file."""

    hooks: tuple[Hook, ...]
    external_url: str = ""
    path: str = ""

    def get(self, name: str) -> Hook:
        """The hook called ``name``; a SpecError lists the names that exist."""
        for hook in self.hooks:
            if hook.name == name:
                return hook
        known = ", ".join(h.name for h in self.hooks) or "none"
        raise SpecError(f"no hook named {name!r} (hooks: {known})", path=self.path or None)

    def bound(self, slo_name: str, labels: Mapping[str, Any], severity: str) -> list[Hook]:
        """The hooks an alert of this SLO and severity triggers, in file order."""
        return [h for h in self.hooks if h.match.matches(slo_name, labels, severity)]


class _LineDict(dict[str, Any]):
    """A mapping that remembers the line of itself and of each key."""

    line: int = 0
    key_lines: dict[str, int]


def _line_dicts(value: Any, doc: safe_yaml.Document, path: tuple[Any, ...] = ()) -> Any:
    """Plain YAML data with every mapping turned into a ``_LineDict`` that knows its lines."""
    if isinstance(value, dict):
        out = _LineDict({str(k): _line_dicts(v, doc, (*path, k)) for k, v in value.items()})
        out.line = doc.line(path) or 0
        out.key_lines = {str(k): doc.line((*path, k)) or out.line for k in value}
        return out
    if isinstance(value, list):
        return [_line_dicts(v, doc, (*path, i)) for i, v in enumerate(value)]
    return value


def parse_duration(value: Any) -> float:
    """Seconds from ``500ms``, ``5s``, ``10m``, ``1h``, ``1d`` or a bare number of seconds.

    The one duration grammar (``voiceobs.durations``), zero allowed: a hooks
    file says ``cooldown: 0`` for "no cooldown".
    """
    return parse_seconds(value, allow_zero=True)


def format_duration(seconds: float) -> str:
    """Seconds as a hooks file would say them (``1d``, ``90s``, ``500ms``)."""
    return _format(timedelta(seconds=seconds))


def bounded_duration(key: str, value: Any) -> float:
    """``value`` parsed as a duration and checked against the range ``key`` allows."""
    seconds = parse_duration(value)
    least, most, least_ok = _DURATION_LIMITS[key]
    if seconds < least or (seconds == least and not least_ok):
        raise ValueError("must be greater than zero")
    if seconds > most:
        raise ValueError(
            f"must be at most {format_duration(most)} (got {format_duration(seconds)})"
        )
    return seconds


def load_hooks(path: str | Path) -> HooksFile:
    """Read and validate a hooks file; raises SpecError naming file, line, hook and field."""
    return parse_hooks(safe_yaml.read_text(path, "hooks file"), str(path))


def parse_hooks(text: str, path: str = "<hooks>") -> HooksFile:
    """Validate hooks YAML given as text (``path`` is only used in messages)."""
    parsed = safe_yaml.parse(text, path)
    doc = _line_dicts(parsed.data, parsed)
    if not isinstance(doc, _LineDict):
        raise SpecError("expected a mapping with `version` and `hooks`", path=path, line=1)

    def err(
        msg: str, where: _LineDict, key: str | None = None, hook: str | None = None
    ) -> SpecError:
        line = where.key_lines.get(key, where.line) if key else where.line
        name = f"hook {hook!r}: " if hook else ""
        return SpecError(f"{name}{msg}", path=path, line=line, field=key)

    unknown = set(doc) - {"version", "hooks", "defaults", "external_url"}
    if unknown:
        key = sorted(unknown)[0]
        raise err(
            "unknown top-level field; expected version, hooks, defaults, external_url", doc, key
        )
    if doc.get("version") != VERSION:
        raise err(f"must be {VERSION!r} (got {doc.get('version')!r})", doc, "version")
    defaults_node = doc.get("defaults") or _LineDict()
    if not isinstance(defaults_node, _LineDict):
        raise err("must be a mapping of delivery settings", doc, "defaults")
    for key in defaults_node:
        if key not in _TUNABLES:
            raise err(
                f"unknown default; expected one of {', '.join(_TUNABLES)}", defaults_node, key
            )
    defaults = _tunables(defaults_node, {}, err, None)
    hooks_node = doc.get("hooks")
    if not isinstance(hooks_node, list) or not hooks_node:
        raise err("must be a non-empty list of hooks", doc, "hooks" if "hooks" in doc else None)
    hooks: list[Hook] = []
    seen: dict[str, int] = {}
    for item in hooks_node:
        if not isinstance(item, _LineDict):
            raise err("each hook must be a mapping with name and action", doc, "hooks")
        hook = _parse_hook(item, defaults, err, path)
        if hook.name in seen:
            raise err(
                f"duplicate hook name (first on line {seen[hook.name]})", item, "name", hook.name
            )
        seen[hook.name] = item.line
        hooks.append(hook)
    external = doc.get("external_url") or ""
    if not isinstance(external, str):
        raise err("must be a URL string", doc, "external_url")
    return HooksFile(hooks=tuple(hooks), external_url=external.rstrip("/"), path=path)


_Err = Callable[..., SpecError]


def _tunables(node: _LineDict, base: dict[str, Any], err: _Err, hook: str | None) -> dict[str, Any]:
    out = dict(base)
    for key in ("timeout", "backoff", "backoff_max", "cooldown", "give_up_after"):
        if key in node:
            try:
                out[key] = bounded_duration(key, node[key])
            except ValueError as exc:
                raise err(str(exc), node, key, hook) from None
    if "retries" in node:
        value = node["retries"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
            raise err(f"must be a whole number from 0 to {MAX_RETRIES}", node, "retries", hook)
        out["retries"] = value
    for key in ("send_resolved", "dry_run"):
        if key in node:
            if not isinstance(node[key], bool):
                raise err("must be true or false", node, key, hook)
            out[key] = node[key]
    return out


def _str_list(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str | int) for v in value):
        return tuple(str(v) for v in value)
    return None


def _parse_hook(node: _LineDict, defaults: dict[str, Any], err: _Err, path: str) -> Hook:
    name = node.get("name")
    if not isinstance(name, str) or not name.strip():
        raise err(
            "every hook needs a `name` (a non-empty string)",
            node,
            "name" if "name" in node else None,
        )
    action = node.get("action")
    if action is None:
        raise err(f"missing `action`; expected one of {', '.join(ACTIONS)}", node, None, name)
    if action not in ACTIONS:
        raise err(
            f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}", node, "action", name
        )
    fields = _PER_ACTION[action]
    for key in node:
        if key not in _COMMON and key not in fields:
            allowed = ", ".join(sorted(set(fields) | _COMMON))
            raise err(f"unknown field for a {action} hook; allowed: {allowed}", node, key, name)
    for key, required in fields.items():
        if required and key not in node:
            raise err(f"missing required field `{key}` for a {action} hook", node, None, name)
    match = _parse_match(node, err, name)
    tun = _tunables(node, defaults, err, name)
    options = {k: node[k] for k in fields if k in node}
    _check_options(action, options, node, err, name)
    desc = node.get("description", "")
    return Hook(
        name=name,
        action=action,
        match=match,
        options=options,
        description=str(desc),
        source=f"{path}:{node.line}",
        **tun,
    )


def _parse_match(node: _LineDict, err: _Err, hook: str) -> Match:
    if "match" not in node:
        raise err("missing `match` (slo name or labels, and severity)", node, None, hook)
    m = node["match"]
    if not isinstance(m, _LineDict):
        raise err("must be a mapping with slo, labels and/or severity", node, "match", hook)
    for key in m:
        if key not in _MATCH_KEYS:
            raise err("unknown match field; expected slo, labels, severity", m, key, hook)
    if "slo" not in m and "labels" not in m:
        raise err(
            "needs `slo` (a name, glob or list) or `labels` (a selector)", node, "match", hook
        )
    slos: tuple[str, ...] = ("*",)
    if "slo" in m:
        got = _str_list(m["slo"])
        if got is None:
            raise err(
                "must be an SLO name, a glob like 'agent-*', or a list of them", m, "slo", hook
            )
        slos = got
    labels: dict[str, tuple[str, ...]] = {}
    if "labels" in m:
        sel = m["labels"]
        if not isinstance(sel, dict) or not sel:
            raise err("must be a mapping of label to value (or list of values)", m, "labels", hook)
        for key, value in sel.items():
            got = _str_list(value) if not isinstance(value, int | float) else (str(value),)
            if got is None:
                raise err(f"label {key!r} needs a value or a list of values", m, "labels", hook)
            labels[str(key)] = got
    severities: tuple[str, ...] = ("page",)
    if "severity" in m:
        got = _str_list(m["severity"])
        if got is None or any(s not in SEVERITIES for s in got):
            raise err("must be page, ticket, or a list of them", m, "severity", hook)
        severities = got
    return Match(slos=slos, labels=labels, severities=severities)


def _check_options(
    action: str, opts: dict[str, Any], node: _LineDict, err: _Err, hook: str
) -> None:
    if "url" in opts and not (
        isinstance(opts["url"], str) and re.match(r"^https?://", opts["url"])
    ):
        raise err("must be an http:// or https:// URL", node, "url", hook)
    for key in ("headers", "env"):
        if key in opts and not (
            isinstance(opts[key], dict)
            and all(
                isinstance(v, str | int | float) and not isinstance(v, bool)
                for v in opts[key].values()
            )
        ):
            raise err("must be a mapping of names to string values", node, key, hook)
    for key in ("secret_env", "token_env", "signature_header", "receiver", "token", "cwd", "path"):
        if key in opts and not (isinstance(opts[key], str) and opts[key]):
            raise err("must be a non-empty string", node, key, hook)
    if "expire_after" in opts:
        try:
            opts["expire_after"] = bounded_duration("expire_after", opts["expire_after"])
        except ValueError as exc:
            raise err(str(exc), node, "expire_after", hook) from None
    if action == "command":
        argv = opts["argv"]
        if not (
            isinstance(argv, list) and argv and all(isinstance(a, str | int | float) for a in argv)
        ):
            raise err(
                "must be a non-empty list: [program, arg, ...] (no shell is used)",
                node,
                "argv",
                hook,
            )
        opts["argv"] = [str(a) for a in argv]
    if action == "pipeline_mode":
        for key in ("mode", "resolved_mode"):
            if key in opts and opts[key] not in ("normal", "degraded"):
                raise err("must be normal or degraded", node, key, hook)
        if "token" not in opts and "token_env" not in opts:
            raise err("the admin endpoint needs `token` or `token_env`", node, None, hook)
    if action == "python":
        ep = opts["entry_point"]
        if not (isinstance(ep, str) and re.match(r"^[\w.]+:[\w.]+$", ep)):
            raise err("must look like package.module:function", node, "entry_point", hook)
        try:
            resolve_entry_point(ep)
        except (ImportError, AttributeError, TypeError) as exc:
            raise err(f"cannot load {ep}: {exc}", node, "entry_point", hook) from None


def resolve_entry_point(spec: str) -> Callable[..., Any]:
    """Import ``module:function`` (a dotted attribute path is allowed after the colon)."""
    module_name, _, attr = spec.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{spec} is not callable")
    return obj


__all__ = [
    "ACTIONS",
    "DEFAULT_GIVE_UP_AFTER",
    "SEVERITIES",
    "VERSION",
    "Hook",
    "HooksFile",
    "Match",
    "bounded_duration",
    "format_duration",
    "load_hooks",
    "parse_duration",
    "parse_hooks",
    "resolve_entry_point",
]
