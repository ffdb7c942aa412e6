#!/usr/bin/env bash
# Creates .venv from the pinned requirements, installs the npm lint tools and,
# where the machine lacks it, Debian's headless Chromium for the report test.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# pip warns about every unreachable local mirror folder of this machine; keep the
# log readable without hiding real errors (pip's exit status is kept by pipefail).
quiet() { "$@" 2>&1 | { grep -v -e "^WARNING: Location" -e "^\s*$" || true; }; }
# A transient OSError from pip's cache or a registry hiccup should not fail a
# fresh machine's set-up: try each install up to three times.
retry() { local n; for n in 1 2 3; do "$@" && return 0; echo "bootstrap: retry $n: $*" >&2; sleep 2; done; return 1; }
retry quiet .venv/bin/python -m pip install --quiet --upgrade pip
retry quiet .venv/bin/python -m pip install --quiet -r requirements/dev.txt
quiet .venv/bin/python -m pip install --quiet --no-deps -e .

if command -v npm >/dev/null 2>&1; then
  npm ci --no-audit --no-fund --silent
else
  echo "bootstrap: npm not found; asl-validator tests will fail" >&2
fi

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing Debian chromium for the HTML report test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "bootstrap: chromium missing and cannot apt-get install it (not root)" >&2
  fi
fi
