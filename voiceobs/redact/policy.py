"""The redaction policy: data (YAML) that says what happens to each attribute key and URL part.

Which keys a framework marks as personal, which are free text, which URL
parameters are credentials: these change with every framework a user
traces, so they are a file the user extends (setting ``redact_policy``)
rather than code. The shipped defaults are ``policy.yaml`` beside this
module; a user file is merged over them (its rules first, its settings
winning, its URL parameter names added).
"""

from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voiceobs import safe_yaml
from voiceobs.errors import SpecError

DEFAULT_POLICY_PATH = Path(__file__).with_name("policy.yaml")

ACTIONS = ("keep", "drop", "pseudonymise", "redact")
_KIND_RE = re.compile(r"[A-Z][A-Z0-9_]{1,15}")
_TOP_KEYS = frozenset({"version", "max_chars", "truncation_marker", "default", "attributes", "url"})
_RULE_KEYS = frozenset({"match", "action", "kind", "max_chars"})
_URL_KEYS = frozenset({"secret_params", "secret_param_parts", "pii_params"})


@dataclass(frozen=True)
class Rule:
    """One ``attributes`` entry: keys matching ``patterns`` get ``action``."""

    patterns: tuple[str, ...]
    action: str
    kind: str | None = None
    max_chars: int | None = None
    regex: re.Pattern[str] = field(default=re.compile(""), compare=False, repr=False)


def _norm_param(name: str) -> str:
    return re.sub(r"[-_\s]", "", name.lower())


@dataclass(frozen=True, eq=False)
class UrlRules:
    """Which URL parameters are credentials (by name) or personal data (by name)."""

    secret_params: frozenset[str]
    secret_param_parts: tuple[str, ...]
    pii_params: dict[str, str]

    def secret(self, name: str) -> bool:
        """True when a parameter called ``name`` holds a credential."""
        n = _norm_param(name)
        return n in self.secret_params or any(p in n for p in self.secret_param_parts)

    def pii_kind(self, name: str) -> str | None:
        """The kind of personal data a parameter called ``name`` holds, if its name says so."""
        return self.pii_params.get(_norm_param(name))


@dataclass(frozen=True, eq=False)
class Policy:
    """A loaded, validated policy; ``rule_for`` answers from a per-key memo."""

    rules: tuple[Rule, ...]
    default: str
    max_chars: int
    truncation_marker: str
    url: UrlRules
    sources: tuple[str, ...] = ()
    _memo: dict[str, Rule | None] = field(default_factory=dict, compare=False, repr=False)

    def rule_for(self, key: str, path: str | None = None) -> Rule | None:
        """The first rule matching ``key`` (or its dotted ``path`` in a JSON value), or None."""
        memo_key = key if path is None else f"{path}\x00{key}"
        try:
            return self._memo[memo_key]
        except KeyError:
            pass
        found = None
        for rule in self.rules:
            if rule.regex.match(key) or (path is not None and rule.regex.match(path)):
                found = rule
                break
        if len(self._memo) < 8192:
            self._memo[memo_key] = found
        return found

    def action_for(self, key: str, path: str | None = None) -> tuple[str, str | None, int]:
        """(action, kind, max_chars) for ``key``: its rule's, or the default's."""
        rule = self.rule_for(key, path)
        if rule is None:
            return self.default, None, self.max_chars
        return rule.action, rule.kind, rule.max_chars or self.max_chars


def _read(path: Path) -> tuple[dict[str, Any], safe_yaml.Document]:
    doc = safe_yaml.load(path, "redaction policy")
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise SpecError(
            "a redaction policy is a mapping (version, attributes, url, ...)",
            path=str(path),
            line=1,
        )
    return data, doc


class _Checker:
    """Validates one file's data, raising SpecError with file:line."""

    def __init__(self, path: Path, doc: safe_yaml.Document) -> None:
        self.path = str(path)
        self.doc = doc

    def fail(self, where: list[Any], message: str, field_name: str | None = None) -> None:
        raise SpecError(message, path=self.path, line=self.doc.line(tuple(where)), field=field_name)

    def names(self, value: Any, where: list[Any], what: str) -> list[str]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(
                where, f"{what} must be a string or a list of strings", ".".join(map(str, where))
            )
        return list(value)

    def count(self, value: Any, where: list[Any]) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 64:
            self.fail(
                where,
                "must be a whole number of characters, at least 64",
                ".".join(map(str, where)),
            )
        return int(value)

    def check(self, data: dict[str, Any]) -> dict[str, Any]:
        for key in data:
            if key not in _TOP_KEYS:
                self.fail(
                    [key], f"unknown setting {key!r}; use one of {', '.join(sorted(_TOP_KEYS))}"
                )
        if "version" in data and data["version"] != 1:
            self.fail(["version"], "only version 1 exists", "version")
        out: dict[str, Any] = {}
        if "max_chars" in data:
            out["max_chars"] = self.count(data["max_chars"], ["max_chars"])
        if "truncation_marker" in data:
            marker = data["truncation_marker"]
            if not isinstance(marker, str):
                self.fail(["truncation_marker"], "must be a string", "truncation_marker")
            try:
                marker.format(dropped=0)
            except (KeyError, IndexError, ValueError):
                self.fail(
                    ["truncation_marker"],
                    "may use only the field {dropped} (write {{ and }} for braces)",
                    "truncation_marker",
                )
            out["truncation_marker"] = marker
        if "default" in data:
            if data["default"] not in ("keep", "redact"):
                self.fail(["default"], "must be redact or keep", "default")
            out["default"] = data["default"]
        rules = data.get("attributes", [])
        if rules is None:
            rules = []
        if not isinstance(rules, list):
            self.fail(["attributes"], "must be a list of rules (match, action)", "attributes")
        out["rules"] = [self.rule(r, i) for i, r in enumerate(rules)]
        url = data.get("url", {}) or {}
        if not isinstance(url, dict):
            self.fail(
                ["url"], "must be a mapping (secret_params, secret_param_parts, pii_params)", "url"
            )
        for key in url:
            if key not in _URL_KEYS:
                self.fail(
                    ["url", key],
                    f"unknown setting {key!r}; use one of {', '.join(sorted(_URL_KEYS))}",
                )
        out["secret_params"] = self.names(
            url.get("secret_params", []), ["url", "secret_params"], "secret_params"
        )
        out["secret_param_parts"] = self.names(
            url.get("secret_param_parts", []), ["url", "secret_param_parts"], "secret_param_parts"
        )
        pii = url.get("pii_params", {}) or {}
        if not isinstance(pii, dict):
            self.fail(
                ["url", "pii_params"],
                "must map parameter names to kinds (email: EMAIL)",
                "url.pii_params",
            )
        for name, kind in pii.items():
            if not isinstance(kind, str) or not _KIND_RE.fullmatch(kind):
                self.fail(
                    ["url", "pii_params", name],
                    "a kind is an upper-case name such as EMAIL",
                    f"url.pii_params.{name}",
                )
        out["pii_params"] = {str(k): v for k, v in pii.items()}
        return out

    def rule(self, raw: Any, i: int) -> Rule:
        where: list[Any] = ["attributes", i]
        if not isinstance(raw, dict):
            self.fail(where, "a rule is a mapping with match and action", f"attributes[{i}]")
        for key in raw:
            if key not in _RULE_KEYS:
                self.fail(
                    [*where, key], f"unknown rule field {key!r}; use match, action, kind, max_chars"
                )
        if "match" not in raw or "action" not in raw:
            self.fail(where, "a rule needs both match and action", f"attributes[{i}]")
        patterns = self.names(raw["match"], [*where, "match"], "match")
        action = raw["action"]
        if action == "pseudonymize":  # either spelling
            action = "pseudonymise"
        if action not in ACTIONS:
            self.fail(
                [*where, "action"],
                f"unknown action {action!r}; use one of {', '.join(ACTIONS)}",
                "action",
            )
        kind = raw.get("kind")
        if action == "pseudonymise":
            kind = kind or "auto"
            if kind != "auto" and (not isinstance(kind, str) or not _KIND_RE.fullmatch(kind)):
                self.fail(
                    [*where, "kind"], "kind is auto or an upper-case name such as PHONE", "kind"
                )
        elif kind is not None:
            self.fail([*where, "kind"], "kind applies only to action: pseudonymise", "kind")
        max_chars = raw.get("max_chars")
        if max_chars is not None:
            max_chars = self.count(max_chars, [*where, "max_chars"])
        regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns), re.IGNORECASE)
        return Rule(tuple(patterns), action, kind, max_chars, regex)


def _build(layers: list[dict[str, Any]], sources: tuple[str, ...]) -> Policy:
    """Merge validated layers, later (user) ones over earlier (default) ones."""
    rules: list[Rule] = []
    merged: dict[str, Any] = {
        "max_chars": 8192,
        "truncation_marker": "…[{dropped} chars cut]",
        "default": "redact",
    }
    secret: set[str] = set()
    parts: list[str] = []
    pii: dict[str, str] = {}
    for layer in layers:
        rules[0:0] = layer["rules"]  # the later file's rules are tried first
        for key in ("max_chars", "truncation_marker", "default"):
            if key in layer:
                merged[key] = layer[key]
        secret |= {_norm_param(n) for n in layer["secret_params"]}
        parts += [
            _norm_param(n) for n in layer["secret_param_parts"] if _norm_param(n) not in parts
        ]
        pii.update({_norm_param(k): v for k, v in layer["pii_params"].items()})
    return Policy(
        rules=tuple(rules),
        default=merged["default"],
        max_chars=merged["max_chars"],
        truncation_marker=merged["truncation_marker"],
        url=UrlRules(frozenset(secret), tuple(parts), pii),
        sources=sources,
    )


def _load_layer(path: Path) -> dict[str, Any]:
    data, doc = _read(path)
    return _Checker(path, doc).check(data)


@functools.lru_cache(maxsize=1)
def _default_layer() -> dict[str, Any]:
    return _load_layer(DEFAULT_POLICY_PATH)


@functools.lru_cache(maxsize=16)
def _cached_policy(user: str | None, mtime_ns: int) -> Policy:
    layers = [_default_layer()]
    sources = [str(DEFAULT_POLICY_PATH)]
    if user is not None:
        layers.append(_load_layer(Path(user)))
        sources.append(user)
    return _build(layers, tuple(sources))


def load_policy(path: str | Path | None = None) -> Policy:
    """The default policy, with the user file at ``path`` merged over it when given.

    A malformed user file raises ``SpecError`` naming its file and line.
    """
    if path is None or str(path) == "":
        return _cached_policy(None, 0)
    p = Path(path).expanduser()
    try:
        mtime = p.stat().st_mtime_ns
    except OSError as exc:
        raise SpecError(
            f"cannot read redaction policy: {exc.strerror or exc}; fix the path or unset redact_policy",
            path=str(p),
        ) from exc
    return _cached_policy(str(p), mtime)


__all__ = ["ACTIONS", "DEFAULT_POLICY_PATH", "Policy", "Rule", "UrlRules", "load_policy"]
