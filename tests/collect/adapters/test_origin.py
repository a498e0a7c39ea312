"""The sender of a conversation: service, deployment, region and low-cardinality labels from its resource."""

from __future__ import annotations

from tests.collect.otel import Tracing
from voiceobs.collect.adapters.origin import Origin, conversation_origin, origin_of


def test_a_resource_names_the_service_deployment_region_and_labels() -> None:
    got = origin_of(
        {
            "service.name": "support-bot",
            "service.version": "1.2.3",
            "service.instance.id": "f3b1-...",  # high cardinality: never a label
            "deployment.environment.name": "prod",
            "deployment.environment": "old-name",
            "cloud.region": "eu-west-1",
            "cloud.provider": "aws",
            "host.name": "bot-7",
            "voiceobs.label.team": "voice",
            "voiceobs.label.": "ignored",
        }
    )
    assert got == Origin(
        service="support-bot",
        deployment="prod",
        region="eu-west-1",
        host="bot-7",
        labels={"version": "1.2.3", "cloud": "aws", "team": "voice"},
    )
    assert origin_of({"deployment.environment": "staging"}, "fallback").deployment == "staging"
    assert origin_of({}, "fallback").service == "fallback"


def test_a_conversation_is_reported_as_the_service_that_sent_most_of_it() -> None:
    bot, sidecar = Tracing({"service.name": "bot"}), Tracing({"service.name": "sidecar"})
    for i in range(3):
        with bot.span(bot.tracer("x"), f"b{i}", 0, 1):
            pass
    with sidecar.span(sidecar.tracer("x"), "s", 0, 1):
        pass
    spans = sidecar.spans() + bot.spans()
    assert conversation_origin(spans).service == "bot"
    assert conversation_origin([]) == Origin()
