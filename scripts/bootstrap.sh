#!/usr/bin/env bash
# Creates .venv from the pinned requirements, .venv-localstack (LocalStack, the
# workflow tests' second interpreter, Python >= 3.12) from requirements/localstack.txt,
# installs the npm lint tools and, where the machine lacks it, Debian's headless
# Chromium for the report test.
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

# LocalStack needs Python >= 3.12: python3.13/python3.12 on PATH, else pyenv's.
# LOCALSTACK_PYTHON=/path/to/python3.x chooses one.
find_python312() {
  local candidate pyenv_root
  pyenv_root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
  for candidate in "${LOCALSTACK_PYTHON:-}" python3.13 python3.12 \
      "$pyenv_root"/versions/3.13*/bin/python3 "$pyenv_root"/versions/3.12*/bin/python3; do
    [ -n "$candidate" ] || continue
    candidate="$(command -v "$candidate" 2>/dev/null)" || continue
    # pyenv's shims exist for every version it knows, installed or not: ask it.
    if "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}
if [ ! -x .venv-localstack/bin/python ]; then
  if ! LS_PYTHON="$(find_python312)"; then
    echo "bootstrap: LocalStack needs Python >= 3.12 (with venv): none found as python3.13, python3.12 or under pyenv; install one or set LOCALSTACK_PYTHON" >&2
    exit 1
  fi
  "$LS_PYTHON" -m venv .venv-localstack
fi
retry quiet .venv-localstack/bin/python -m pip install --quiet --upgrade pip
retry quiet .venv-localstack/bin/python -m pip install --quiet --no-deps -r requirements/localstack.txt

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
