#!/usr/bin/env bash
# Install everything the checks need on a bare Debian machine, then run lint, type checks and every test.
# Uses the active virtualenv, or makes .venv (Debian's system Python refuses `pip install`).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if ! command -v chromium >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
if [ -z "${VIRTUAL_ENV:-}" ]; then
  if ! python3 -m venv .venv 2>/dev/null; then
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv .venv
  fi
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi
python -m pip install -q --upgrade pip
python -m pip install -q -e . -r requirements-dev.txt
echo "== ruff check"; ruff check .
echo "== mypy"; mypy
echo "== pytest"; python -m pytest -q "$@"
