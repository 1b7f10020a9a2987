#!/usr/bin/env bash
# Regenerate requirements.lock: the exact versions of a clean install of the project's runtime
# dependencies (no dev tools), for the Dockerfile. Run after changing `dependencies` in
# pyproject.toml, with the Python the image uses (3.11); commit the result.
# tests/deploy/test_lock.py fails when the lock no longer satisfies pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --upgrade pip
# From a copy of what the image copies, so no build/ or egg-info lands in the working tree.
mkdir "$work/src"
cp -r pyproject.toml README.md domain projections api "$work/src/"
"$work/venv/bin/pip" install --quiet "$work/src"
{
  echo "# Runtime dependencies of parindex, pinned: a \`pip freeze\` of a clean install of the"
  echo "# project (Python $("$work/venv/bin/python" -c 'import platform; print(platform.python_version())')). The Dockerfile installs exactly these."
  echo "# Regenerate with scripts/lock-requirements.sh after changing pyproject.toml."
  "$work/venv/bin/pip" freeze --exclude parindex
} > requirements.lock
echo "requirements.lock: $(grep -vc '^#' requirements.lock) packages"
