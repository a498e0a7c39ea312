"""Shared click parameter types."""

from __future__ import annotations

import click
import pytest

from voiceobs.cli.params import ByteSize


@pytest.mark.parametrize(
    ("text", "size"),
    [("1048576", 1048576), ("512KiB", 512 << 10), ("16MiB", 16 << 20), ("1GiB", 1 << 30), ("2 MB", 2_000_000), ("10k", 10_000)],
)
def test_byte_sizes(text: str, size: int) -> None:
    assert ByteSize().convert(text, None, None) == size


@pytest.mark.parametrize("text", ["", "MiB", "1.5MiB", "-1", "12XB", "0"])
def test_bad_byte_sizes_say_how_to_write_one(text: str) -> None:
    with pytest.raises(click.BadParameter):
        ByteSize().convert(text, None, None)
