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
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian packages start services we do not want running in the background.
for svc in prometheus prometheus-pushgateway prometheus-alertmanager; do
    pkill -x "$svc" 2>/dev/null || true
done

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
