"""Production traffic: the traces and call reports live voice bots already emit, as calls.

``voiceobs collect`` is a long-running receiver. Bots export OpenTelemetry
traces to it over OTLP/HTTP (Pipecat, LiveKit Agents, any OTLP source,
directly or through an OpenTelemetry Collector), and hosted platforms post
their end-of-call reports to its webhooks (Vapi, Retell). Everything is
redacted at the door, before it is queued, written or logged. Spans are
stored as they come (so a call's waterfall is there at once); an adapter
per framework turns each conversation's spans into a call with
``source = production``, which takes the same recording path as a probe's
results (``voiceobs.recording``) and is joined with the probe's record when
a probe placed it.
"""
