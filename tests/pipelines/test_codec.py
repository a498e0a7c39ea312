"""The codec pipeline's configuration: what it accepts and refuses."""

from __future__ import annotations

import pytest

from voiceobs.errors import ConfigError
from voiceobs.pipelines.codec import CodecConfig


def test_codec_config_validation() -> None:
    cfg = CodecConfig.load('{"codec": "alaw", "loss": "gilbert", "snr_db": 20}')
    assert cfg.codec == "alaw" and cfg.snr_db == 20
    with pytest.raises(ConfigError, match="unknown codec setting"):
        CodecConfig.load('{"codek": "alaw"}')
    with pytest.raises(ConfigError):
        CodecConfig.load('{"loss_rate": 2}')
