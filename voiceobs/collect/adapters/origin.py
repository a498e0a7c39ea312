"""Who sent a conversation: the service, deployment, region and labels of its OTel resource.

Every span adapter reads the sender the same way, so a bot is grouped by the
same names whichever framework it is built on. Only a few resource
attributes become labels (labels select SLOs, so they must be low in
cardinality: no instance ids); a bot adds its own with
``voiceobs.label.<name>`` resource attributes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from voiceobs.collect.model import IngestedSpan

#: Resource attributes that become labels, and the label each becomes.
LABEL_ATTRIBUTES: dict[str, str] = {
    "service.version": "version",
    "service.namespace": "namespace",
    "cloud.provider": "cloud",
    "k8s.cluster.name": "cluster",
    "k8s.namespace.name": "k8s_namespace",
}

#: Resource attributes a bot sets to add labels of its own (``voiceobs.label.team = voice``).
LABEL_PREFIX = "voiceobs.label."

#: Where the deployment is named: the current semantic convention first, then the older one.
DEPLOYMENT_ATTRIBUTES = ("deployment.environment.name", "deployment.environment")


@dataclass(frozen=True)
class Origin:
    """The sender of a conversation, as a call stores it."""

    service: str = ""
    deployment: str = ""
    region: str = ""
    host: str = ""
    labels: dict[str, str] = field(default_factory=dict)


def _str(value: Any) -> str:
    return (
        str(value).strip()
        if isinstance(value, (str, int, float)) and not isinstance(value, bool)
        else ""
    )


def origin_of(resource: Mapping[str, Any], fallback_service: str = "") -> Origin:
    """The origin one resource describes (``fallback_service``: the span's own service name)."""
    labels = {
        label: _str(resource[key])
        for key, label in LABEL_ATTRIBUTES.items()
        if _str(resource.get(key))
    }
    for key, value in resource.items():
        if key.startswith(LABEL_PREFIX) and _str(value) and len(key) > len(LABEL_PREFIX):
            labels[key[len(LABEL_PREFIX) :]] = _str(value)
    deployment = next(
        (_str(resource[k]) for k in DEPLOYMENT_ATTRIBUTES if _str(resource.get(k))), ""
    )
    return Origin(
        service=_str(resource.get("service.name")) or fallback_service,
        deployment=deployment,
        region=_str(resource.get("cloud.region")),
        host=_str(resource.get("host.name")),
        labels=labels,
    )


def conversation_origin(spans: Sequence[IngestedSpan]) -> Origin:
    """The origin most of a conversation's spans name (one process sends a call's spans).

    A span whose resource names no service falls back to the service name
    its record carries; a conversation from several services (a bot and its
    sidecar) is reported as the one that sent most of its spans.
    """
    if not spans:
        return Origin()
    votes: Counter[str] = Counter()
    first: dict[str, IngestedSpan] = {}
    for s in spans:
        name = _str(s.resource.get("service.name")) or s.record.service_name
        votes[name] += 1
        first.setdefault(name, s)
    name = max(votes, key=lambda n: (votes[n], bool(n), n))  # ties: deterministic
    chosen = first[name]
    return origin_of(chosen.resource, chosen.record.service_name)


__all__ = [
    "DEPLOYMENT_ATTRIBUTES",
    "LABEL_ATTRIBUTES",
    "LABEL_PREFIX",
    "Origin",
    "conversation_origin",
    "origin_of",
]
