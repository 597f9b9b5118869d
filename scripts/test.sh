#!/usr/bin/env bash
# THE test command: lint, import contracts, then the whole pytest suite twice,
# on SQLite and on PostgreSQL.
#
#   scripts/test.sh                     # everything
#   scripts/test.sh tests/unit -x       # extra arguments go to both pytest runs
#
# Environment:
#   TEMPORALFLOW_TEST_DBS   databases to run on (default "sqlite postgresql")
#   TEMPORALFLOW_TEST_PG_URL  PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/temporalflow;
#                           pytest-django creates and drops test_<name>)
# Exits non-zero if any step fails (pytest's "no tests collected", exit 5, counts as a failure).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PG_URL="${TEMPORALFLOW_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/temporalflow}"
DBS="${TEMPORALFLOW_TEST_DBS:-sqlite postgresql}"

scripts/bootstrap.sh || { echo "test.sh: bootstrap failed" >&2; exit 1; }
export PATH="$ROOT/.venv/bin:$PATH"
export PYTHONDONTWRITEBYTECODE=1
unset DJANGO_SETTINGS_MODULE   # pyproject.toml sets project.settings

# One run at a time per checkout: both runs share var/test_db.sqlite3 and the
# PostgreSQL test database.
mkdir -p var
exec 8>var/.test.lock
if ! flock -n 8; then
    echo "test.sh: another scripts/test.sh is running in this checkout; waiting for it ..."
    flock 8
fi

ensure_postgres() {
    pg_ready() {
        if command -v pg_isready >/dev/null 2>&1; then
            pg_isready -q -h 127.0.0.1 -p 5432
        else
            python -c 'import psycopg, sys; psycopg.connect(sys.argv[1], connect_timeout=3).close()' \
                "$PG_URL" >/dev/null 2>&1
        fi
    }
    pg_ready && return 0
    echo "test.sh: PostgreSQL is not answering on 127.0.0.1:5432; starting it ..."
    local tries=10 version   # 5 s if nothing could be started, 30 s after a successful start
    if command -v pg_ctlcluster >/dev/null 2>&1 && [[ -d /etc/postgresql ]]; then
        for version in $(ls /etc/postgresql); do
            if pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>&1 | sed 's/^/  /'; then
                tries=60
            fi
        done
    fi
    local i
    for i in $(seq 1 "$tries"); do
        pg_ready && { echo "test.sh: PostgreSQL is up"; return 0; }
        sleep 0.5
    done
    echo "test.sh: ERROR: PostgreSQL is not reachable at 127.0.0.1:5432 and could not be started." >&2
    echo "  Start it with: pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start" >&2
    echo "  or run only SQLite: TEMPORALFLOW_TEST_DBS=sqlite scripts/test.sh" >&2
    return 1
}

declare -a SUMMARY=()
FAILED=0

record() {  # record <name> <exit code> <seconds> [detail]
    local name="$1" rc="$2" secs="$3" detail="${4:-}"
    local verdict="ok"
    if [[ "$rc" -ne 0 ]]; then
        verdict="FAILED (exit $rc)"
        FAILED=1
    fi
    SUMMARY+=("$(printf '%-18s %-16s %4ss  %s' "$name" "$verdict" "$secs" "$detail")")
}

step() {  # step <name> <command...>
    local name="$1"; shift
    echo
    echo "=== $name: $*"
    local start=$SECONDS rc=0
    "$@" || rc=$?
    record "$name" "$rc" "$((SECONDS - start))"
}

run_pytest() {  # run_pytest <vendor> <pytest args...>
    local vendor="$1"; shift
    local out rc=0 start=$SECONDS
    out="$(mktemp)"
    echo
    if [[ "$vendor" == "postgresql" ]]; then
        echo "=== pytest on PostgreSQL ($PG_URL)"
        DATABASE_URL="$PG_URL" python -m pytest --create-db "$@" 2>&1 | tee "$out"
        rc=${PIPESTATUS[0]}
    else
        echo "=== pytest on SQLite"
        env -u DATABASE_URL python -m pytest --create-db "$@" 2>&1 | tee "$out"
        rc=${PIPESTATUS[0]}
    fi
    # pytest's closing line, e.g. "12 passed, 1 skipped in 3.40s" (with or without -q).
    local last
    last="$(grep -E '([0-9]+ (passed|failed|errors?|skipped|deselected|xfailed|xpassed)|no tests ran).* in [0-9.]+s' \
        "$out" | tail -n 1 | sed -E 's/^=+ //; s/ =+$//')"
    rm -f "$out"
    [[ "$rc" -eq 5 ]] && last="no tests collected${last:+ ($last)}"
    record "pytest/${PYTEST_LABEL:-$vendor}" "$rc" "$((SECONDS - start))" "$last"
}

step ruff ruff check --output-format=concise .
step lint-imports lint-imports --no-cache --no-logo

for db in $DBS; do
    case "$db" in
        sqlite) run_pytest sqlite "$@" ;;
        postgresql|postgres)
            start=$SECONDS
            if ensure_postgres; then
                run_pytest postgresql "$@"
            else
                record "pytest/postgresql" 1 "$((SECONDS - start))" "PostgreSQL unavailable"
            fi
            ;;
        *) echo "test.sh: unknown database '$db' in TEMPORALFLOW_TEST_DBS" >&2; exit 2 ;;
    esac
done

# Compatibility: the SQLite suite again on Python 3.12 with Django 6.x (Django 6 needs 3.12).
find_python312() {
    local c
    for c in python3.12 /root/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12; do
        if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}
if [[ "${TEMPORALFLOW_SKIP_DJANGO6:-0}" != "1" ]]; then
    start=$SECONDS
    if py312="$(find_python312)"; then
        if VENV="$ROOT/.venv-django6" PYTHON="$py312" REQUIREMENTS=requirements-django6.txt scripts/bootstrap.sh; then
            PATH="$ROOT/.venv-django6/bin:$PATH" PYTEST_LABEL=sqlite-django6 run_pytest sqlite "$@"
        else
            record "pytest/sqlite-django6" 1 "$((SECONDS - start))" "bootstrap of .venv-django6 failed"
        fi
    else
        record "pytest/sqlite-django6" 1 "$((SECONDS - start))" \
            "python3.12 not found (set TEMPORALFLOW_SKIP_DJANGO6=1 to skip)"
    fi
fi

echo
echo "=== summary"
for line in "${SUMMARY[@]}"; do echo "$line"; done
if [[ "$FAILED" -ne 0 ]]; then
    echo "test.sh: FAILED"
    exit 1
fi
echo "test.sh: all green"
