"""``voiceobs serve --voice``: a voice that cannot be used is refused before the server starts."""

from __future__ import annotations

import pytest
from tests.cli.test_db_cli import assert_one_line_error, voiceobs


@pytest.mark.parametrize(
    ("voice", "needle"),
    [
        ("hibari:emma", "not in the package"),
        ("festival:kal", "unknown speech engine 'festival'"),
        ("xx-nope", "espeak-ng has no voice 'xx-nope'"),
    ],
)
def test_a_bad_voice_is_a_one_line_usage_error(voice: str, needle: str) -> None:
    proc = voiceobs("serve", "--pipeline", "agent", "--port", "0", "--voice", voice)
    assert proc.returncode == 2
    assert_one_line_error(proc, f"--voice {voice}:", needle)


def test_the_voice_can_come_from_the_environment() -> None:
    proc = voiceobs(
        "serve", "--pipeline", "agent", "--port", "0", env={"VOICEOBS_AGENT_VOICE": "hibari:emma"}
    )
    assert_one_line_error(proc, "--voice hibari:emma:", "not in the package")
