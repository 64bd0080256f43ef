#!/usr/bin/env bash
# Installs the official Lightstreamer client libraries used by the interop tests:
#   interop/node:   npm ci  (lightstreamer-client-node 9.2.2, pinned by package-lock.json)
#   interop/python: a venv at interop/python/.venv with requirements.txt
#                   (lightstreamer-client-lib 2.2.3 and exact pins of its dependencies)
# Idempotent: each part is skipped when a stamp records that the same lock/requirements file
# was installed with the same interpreter. Safe to run concurrently (flock).
# Environment: PYTHON (default python3) picks the interpreter for the venv.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
node_dir="$here/node"
py_dir="$here/python"
venv="$py_dir/.venv"
python="${PYTHON:-python3}"

die() { printf 'interop/setup.sh: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH: $2"; }

need node "install Node.js (>= 18) to run the official Node client"
need npm "install npm (comes with Node.js)"
need "$python" "install Python 3 (>= 3.8) or set PYTHON"
need sha256sum "install coreutils"

# One installer at a time (several test binaries may call this at once).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$here/.setup.lock"
  flock 9
fi

stamp_of() { # stamp_of FILE TOOL-VERSION
  printf '%s %s\n' "$(sha256sum "$1" | cut -d' ' -f1)" "$2"
}

# ---- Node ----
node_stamp_file="$node_dir/node_modules/.tlcp-setup-stamp"
node_stamp="$(stamp_of "$node_dir/package-lock.json" "node-$(node --version)")"
if [[ -f "$node_stamp_file" && "$(cat "$node_stamp_file")" == "$node_stamp" ]]; then
  echo "node:   up to date"
else
  echo "node:   npm ci in $node_dir"
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
  printf '%s\n' "$node_stamp" >"$node_stamp_file"
fi

# ---- Python ----
py_version="$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 8) else 1)' \
  || die "Python >= 3.8 needed, $python is $py_version"
py_stamp_file="$venv/.tlcp-setup-stamp"
py_stamp="$(stamp_of "$py_dir/requirements.txt" "python-$py_version")"
if [[ -x "$venv/bin/python" && -f "$py_stamp_file" && "$(cat "$py_stamp_file")" == "$py_stamp" ]]; then
  echo "python: up to date"
else
  echo "python: venv $venv, pip install -r requirements.txt"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$py_dir/requirements.txt"
  printf '%s\n' "$py_stamp" >"$py_stamp_file"
fi

echo "node driver:   node $node_dir/driver.js ($(node --version); lightstreamer-client-node $(node -p 'require(process.argv[1]).version' "$node_dir/node_modules/lightstreamer-client-node/package.json"))"
echo "python driver: $venv/bin/python $py_dir/driver.py (Python $py_version; lightstreamer-client-lib $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("lightstreamer-client-lib"))'))"
