#!/usr/bin/env bash
# Creates .venv with Python 3.11 and installs the pinned dependencies (constraints.txt).
# Re-installs only when pyproject.toml or constraints.txt change.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

python_311() {
  for candidate in "${PYTHON_BIN:-}" python3.11 python3; do
    if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      echo "$candidate"
      return 0
    fi
  done
  echo "bootstrap: Python 3.11 is needed; install it (e.g. with pyenv) or set PYTHON_BIN" >&2
  return 1
}

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv" >&2
  "$(python_311)" -m venv .venv
fi

wanted="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat .venv/.installed 2>/dev/null || true)" != "$wanted" ]; then
  echo "bootstrap: installing Python dependencies into .venv (first run takes a minute)…" >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -c constraints.txt -e ".[dev]"
  echo "$wanted" > .venv/.installed
  echo "bootstrap: dependencies installed" >&2
fi
