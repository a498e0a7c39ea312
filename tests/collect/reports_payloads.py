"""Webhook bodies shaped as the platforms' public docs show them.

Vapi: the ``end-of-call-report`` server message
(https://docs.vapi.ai/server-url/end-of-call-report; fields of the API's
``ServerMessageEndOfCallReport``, ``Call``, ``Artifact``,
``PerformanceMetrics`` and ``TurnLatency`` schemas). Retell: the
``call_analyzed`` event (https://docs.retellai.com/features/webhook-overview)
with the Get Call API's call object and its ``latency`` breakdown
(https://docs.retellai.com/reliability/check-actual-latency).
"""

from __future__ import annotations

import copy
from typing import Any

CUSTOMER = "+14155550123"
AGENT_NUMBER = "+12025550188"
VAPI_CALL_ID = "7d3c2f4e-9a51-4b8e-b0c1-2f6a1e9d4c10"
VAPI_TWILIO_SID = "CA" + "a1" * 16
RETELL_CALL_ID = "Jabr9TXYYJHfvl6Syypi88rdAHYHmcq6"
RETELL_TWILIO_SID = "CA" + "b2" * 16

_VAPI: dict[str, Any] = {
    "message": {
        "timestamp": 1777888875000,
        "type": "end-of-call-report",
        "endedReason": "customer-ended-call",
        "startedAt": "2026-05-04T10:00:00.000Z",
        "endedAt": "2026-05-04T10:01:12.500Z",
        "cost": 0.1234,
        "call": {
            "id": VAPI_CALL_ID,
            "orgId": "org_4f1a",
            "type": "inboundPhoneCall",
            "status": "ended",
            "assistantId": "asst_9c2b",
            "phoneNumberId": "pn_77",
            "phoneCallProvider": "twilio",
            "phoneCallProviderId": VAPI_TWILIO_SID,
            "phoneCallTransport": "pstn",
            "customer": {"number": CUSTOMER},
            "startedAt": "2026-05-04T10:00:00.000Z",
            "endedAt": "2026-05-04T10:01:12.500Z",
            "endedReason": "customer-ended-call",
        },
        "assistant": {"id": "asst_9c2b", "name": "Support Line"},
        "customer": {"number": CUSTOMER},
        "phoneNumber": {"number": AGENT_NUMBER},
        "artifact": {
            "messages": [
                {
                    "role": "system",
                    "message": "You are the support line.",
                    "time": 1777888800000,
                    "secondsFromStart": 0,
                },
                {
                    "role": "bot",
                    "message": "Thanks for calling, how can I help?",
                    "time": 1777888800900,
                    "endTime": 1777888802900,
                    "secondsFromStart": 0.9,
                    "duration": 2000,
                },
                {
                    "role": "user",
                    "message": "What are your hours? Call me back on 415 555 0123.",
                    "time": 1777888804000,
                    "endTime": 1777888807000,
                    "secondsFromStart": 4.0,
                    "duration": 3000,
                },
                {
                    "role": "bot",
                    "message": "We are open nine to five.",
                    "time": 1777888808100,
                    "endTime": 1777888810000,
                    "secondsFromStart": 8.1,
                    "duration": 1900,
                },
                {
                    "role": "user",
                    "message": "Great, thanks.",
                    "time": 1777888812000,
                    "endTime": 1777888813000,
                    "secondsFromStart": 12.0,
                    "duration": 1000,
                },
                {
                    "role": "bot",
                    "message": "You're welcome.",
                    "time": 1777888814000,
                    "endTime": 1777888815000,
                    "secondsFromStart": 14.0,
                    "duration": 1000,
                },
                {
                    "role": "bot",
                    "message": "Goodbye!",
                    "time": 1777888815200,
                    "endTime": 1777888816000,
                    "secondsFromStart": 15.2,
                    "duration": 800,
                },
            ],
            "transcript": "AI: Thanks for calling, how can I help?\nUser: What are your hours? ...",
            "recordingUrl": "https://storage.vapi.ai/7d3c2f4e-mono.wav",
            "performanceMetrics": {
                "turnLatencies": [
                    {
                        "modelLatency": 420,
                        "voiceLatency": 180,
                        "transcriberLatency": 210,
                        "endpointingLatency": 300,
                        "turnLatency": 1110,
                    },
                    {
                        "modelLatency": 390,
                        "voiceLatency": 170,
                        "transcriberLatency": 190,
                        "endpointingLatency": 280,
                        "turnLatency": 1030,
                    },
                ],
                "modelLatencyAverage": 405,
                "voiceLatencyAverage": 175,
                "transcriberLatencyAverage": 200,
                "endpointingLatencyAverage": 290,
                "turnLatencyAverage": 1070,
                "fromTransportLatencyAverage": 22,
                "toTransportLatencyAverage": 18,
                "numUserInterrupted": 0,
                "numAssistantInterrupted": 1,
            },
        },
        "analysis": {"summary": "The caller asked for opening hours.", "successEvaluation": "true"},
    }
}

_RETELL: dict[str, Any] = {
    "event": "call_analyzed",
    "call": {
        "call_type": "phone_call",
        "from_number": CUSTOMER,
        "to_number": AGENT_NUMBER,
        "direction": "inbound",
        "telephony_identifier": {"twilio_call_sid": RETELL_TWILIO_SID},
        "call_id": RETELL_CALL_ID,
        "agent_id": "oBeDLoLOeuAbiuaMFXRtDOLriTJ5tSxD",
        "agent_name": "Front Desk",
        "agent_version": 3,
        "call_status": "ended",
        "metadata": {},
        "retell_llm_dynamic_variables": {"customer_name": "John Doe"},
        "start_timestamp": 1777888800000,
        "end_timestamp": 1777888860000,
        "duration_ms": 60000,
        "transcript": "Agent: hi how are you doing?\nUser: Doing pretty well. How are you?\n...",
        "transcript_object": [
            {"role": "agent", "content": "hi how are you doing?", "words": []},
            {"role": "user", "content": "Doing pretty well. Book me for Tuesday.", "words": []},
            {"role": "agent", "content": "Booked for Tuesday at ten.", "words": []},
            {"role": "user", "content": "Thanks.", "words": []},
            {"role": "agent", "content": "Anytime.", "words": []},
            {"role": "user", "content": "Bye.", "words": []},
            {"role": "agent", "content": "Goodbye.", "words": []},
        ],
        "recording_url": "https://retellai.s3.us-west-2.amazonaws.com/Jabr9T/recording.wav",
        "public_log_url": "https://retellai.s3.us-west-2.amazonaws.com/Jabr9T/public_log.txt",
        "latency": {
            "e2e": {
                "p50": 800,
                "p90": 1200,
                "p95": 1400,
                "p99": 1450,
                "max": 1500,
                "min": 500,
                "num": 3,
                "values": [800, 1500, 500],
            },
            "asr": {
                "p50": 150,
                "p90": 190,
                "p95": 195,
                "p99": 199,
                "max": 200,
                "min": 100,
                "num": 3,
                "values": [150, 200, 100],
            },
            "llm": {
                "p50": 400,
                "p90": 700,
                "p95": 750,
                "p99": 790,
                "max": 800,
                "min": 300,
                "num": 4,
                "values": [400, 800, 300, 350],
            },
            "tts": {
                "p50": 120,
                "p90": 160,
                "p95": 165,
                "p99": 169,
                "max": 170,
                "min": 90,
                "num": 3,
                "values": [120, 170, 90],
            },
            "llm_websocket_network_rtt": {
                "p50": 40,
                "p90": 55,
                "max": 61,
                "min": 22,
                "num": 3,
                "values": [22, 40, 61],
            },
        },
        "disconnection_reason": "user_hangup",
        "call_analysis": {
            "call_summary": "The user booked an appointment for Tuesday.",
            "in_voicemail": False,
            "user_sentiment": "Positive",
            "call_successful": True,
            "custom_analysis_data": {},
        },
        "opt_out_sensitive_data_storage": False,
    },
}


def vapi_report(**message: Any) -> dict[str, Any]:
    """A Vapi end-of-call report; keyword arguments replace fields of ``message``."""
    body = copy.deepcopy(_VAPI)
    body["message"].update(message)
    return body


def retell_event(event: str = "call_analyzed", **call: Any) -> dict[str, Any]:
    """A Retell webhook event; keyword arguments replace fields of ``call``."""
    body = copy.deepcopy(_RETELL)
    body["event"] = event
    body["call"].update(call)
    return body


__all__ = [
    "CUSTOMER",
    "RETELL_CALL_ID",
    "RETELL_TWILIO_SID",
    "VAPI_CALL_ID",
    "VAPI_TWILIO_SID",
    "retell_event",
    "vapi_report",
]
