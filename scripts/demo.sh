#!/usr/bin/env bash
# `make demo`: the full voiceobs demo when available, otherwise create the store and show it.
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin/voiceobs
if $V --help | grep -q '^  demo '; then
    exec $V demo "$@"
fi
$V db upgrade
$V db status
