#!/usr/bin/env bash
# Idempotent set-up of the development environment in .venv.
#
#   - creates .venv with python3.11 (falls back to python3 >= 3.11) if it is missing;
#   - runs `pip install -r requirements.txt` only when requirements.txt (or the
#     [project] table of pyproject.toml) changed since the last successful install.
#
# Quiet on success; on failure prints pip's log and exits non-zero.
# Environment: VENV (default <repo>/.venv), PYTHON (interpreter used to create it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
REQUIREMENTS="${REQUIREMENTS:-requirements.txt}"
STAMP="$VENV/.requirements.sha256"
LOG="$VENV/bootstrap.log"

die() { echo "bootstrap: ERROR: $*" >&2; exit 1; }

pick_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3; do
        [[ -n "$candidate" ]] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if [[ ! -x "$VENV/bin/python" ]]; then
    py="$(pick_python)" || die "no Python >= 3.11 found (tried \$PYTHON, python3.11, python3)"
    echo "bootstrap: creating $VENV with $("$py" --version 2>&1)"
    "$py" -m venv "$VENV" || die "could not create the virtualenv at $VENV"
fi

# The browser of the e2e browser test (tests/e2e/test_browser.py): Debian's chromium, installed
# only when it is missing and we are root with apt-get; otherwise that test skips itself.
# TEMPORALFLOW_NO_BROWSER=1 leaves it out.
ensure_browser() {
    [[ "${TEMPORALFLOW_NO_BROWSER:-0}" == "1" ]] && return 0
    command -v chromium >/dev/null 2>&1 && return 0
    [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1 || return 0
    echo "bootstrap: installing chromium (apt-get) for the browser test ..."
    mkdir -p "$VENV"
    exec 8>"$VENV/.browser.lock"
    flock 8
    command -v chromium >/dev/null 2>&1 && return 0
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } \
            >"$VENV/browser-install.log" 2>&1; then
        echo "bootstrap: WARNING: chromium could not be installed (log: $VENV/browser-install.log);" \
             "the browser test will skip" >&2
    fi
}
ensure_browser

# What the install depends on: requirements.txt and the package's own metadata
# (dependencies/extras), not pyproject's tool configuration.
wanted="$(
    {
        cat "$ROOT/$REQUIREMENTS"
        sed -n '/^\[build-system\]/,/^\[tool\./p' "$ROOT/pyproject.toml"
    } | sha256sum | cut -d' ' -f1
)"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$wanted" ]]; then
    exit 0
fi

# Serialise concurrent bootstraps of the same venv.
exec 9>"$VENV/.bootstrap.lock"
flock 9
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$wanted" ]]; then
    exit 0
fi

echo "bootstrap: installing $REQUIREMENTS into $VENV ..."
cd "$ROOT"
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q \
        -r "$REQUIREMENTS" >"$LOG" 2>&1; then
    cat "$LOG" >&2
    die "pip install -r $REQUIREMENTS failed (log above, also in $LOG)"
fi
"$VENV/bin/python" -c 'import django, pytest, temporalflow' >>"$LOG" 2>&1 \
    || { cat "$LOG" >&2; die "the environment was installed but does not import"; }
echo "$wanted" >"$STAMP"
echo "bootstrap: done"
