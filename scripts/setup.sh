#!/usr/bin/env bash
# Sets up everything voiceobs needs on a Debian machine, safe to run again:
# Debian packages (espeak-ng, sox, Prometheus tools, Chromium), a project-local
# virtualenv in .venv, and the package with its dev extras.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(espeak-ng sox libsndfile1 prometheus prometheus-pushgateway
              prometheus-alertmanager chromium chromium-driver)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    # A removed package keeps its config files and `dpkg -s` still succeeds: ask for the status.
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    # The Prometheus packages would start their services (on :9090, :9091, :9093)
    # as they install. voiceobs only needs the binaries (its tests start private
    # instances on free loopback ports), so deny service starts for this install
    # with a policy-rc.d, and never touch services that were already running.
    policy=/usr/sbin/policy-rc.d
    guard=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# voiceobs setup: no service starts while it installs packages\nexit 101\n' \
            | $SUDO tee "$policy" >/dev/null
        $SUDO chmod 755 "$policy"
        guard=1
    fi
    trap '[ -z "$guard" ] || $SUDO rm -f "$policy"' EXIT
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if [ -n "$guard" ]; then
        $SUDO rm -f "$policy"
        guard=""
    fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$PY" -m venv .venv
fi
# Reinstall only when the declared dependencies changed.
stamp=.venv/.voiceobs-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing Python packages into .venv (first time takes a few minutes)"
    .venv/bin/python -m pip install -q --upgrade pip wheel
    .venv/bin/python -m pip install -q -e '.[dev]'
    echo "$want" > "$stamp"
fi
