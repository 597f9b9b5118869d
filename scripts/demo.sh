#!/usr/bin/env bash
# THE demo command: migrate the demo project (SQLite at var/db.sqlite3 unless
# DATABASE_URL is set), start a worker and the web server, run the demo
# workflows (manage.py rundemo), then stop everything.
#
#   scripts/demo.sh           # run the demo and exit
#   scripts/demo.sh --keep    # leave worker + web running until Ctrl-C
#
# Environment: DEMO_PORT (default 8000). Logs: var/demo/worker.log, var/demo/web.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

KEEP=0
for arg in "$@"; do
    case "$arg" in
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "demo.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

PORT="${DEMO_PORT:-8000}"
LOGS="$ROOT/var/demo"
PY="$ROOT/.venv/bin/python"
WORKER_PID=""
WEB_PID=""

die() { echo "demo.sh: ERROR: $*" >&2; exit 1; }

show_log() {  # show_log <name> <file>
    [[ -s "$2" ]] || return 0
    echo "--- last lines of $1 log ($2):" >&2
    tail -n 30 "$2" >&2
}

stop() {  # stop <pid>: SIGTERM (graceful shutdown), SIGKILL after 15 s
    local pid="$1" i
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    echo "demo.sh: pid $pid did not stop within 15s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n "$WORKER_PID$WEB_PID" ]]; then
        echo "demo.sh: stopping worker and web server ..."
        stop "$WEB_PID"
        stop "$WORKER_PID"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

scripts/bootstrap.sh
mkdir -p "$LOGS"

"$PY" manage.py help runworker >/dev/null 2>&1 \
    || die "the 'runworker' management command is not available (is temporalflow in INSTALLED_APPS?)"

if "$PY" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()' \
        "$PORT" 2>/dev/null; then
    die "something already listens on 127.0.0.1:$PORT (another demo?); stop it or set DEMO_PORT"
fi

echo "demo.sh: migrating the database ..."
"$PY" manage.py migrate --noinput -v 0

# A login for the admin of this demo database (never for a DATABASE_URL you point it at).
DEMO_USER="${DEMO_ADMIN_USER:-admin}"
DEMO_PASSWORD="${DEMO_ADMIN_PASSWORD:-admin}"
if [[ -z "${DATABASE_URL:-}" ]]; then
    DEMO_USER="$DEMO_USER" DEMO_PASSWORD="$DEMO_PASSWORD" "$PY" manage.py shell -v 0 -c "
import os
from django.contrib.auth import get_user_model
User = get_user_model()
name, password = os.environ['DEMO_USER'], os.environ['DEMO_PASSWORD']
if not User.objects.filter(username=name).exists():
    User.objects.create_superuser(name, '', password)
    print(f'demo.sh: created the admin login {name} / {password}')
"
fi

echo "demo.sh: starting the worker (log: var/demo/worker.log)"
"$PY" manage.py runworker >"$LOGS/worker.log" 2>&1 &
WORKER_PID=$!

echo "demo.sh: starting the web server on http://127.0.0.1:$PORT/ (log: var/demo/web.log)"
"$PY" manage.py runserver "127.0.0.1:$PORT" --noreload >"$LOGS/web.log" 2>&1 &
WEB_PID=$!

# Wait until the web server answers (or either process dies).
for i in $(seq 1 100); do
    kill -0 "$WORKER_PID" 2>/dev/null || { show_log worker "$LOGS/worker.log"; die "the worker exited at start-up"; }
    kill -0 "$WEB_PID" 2>/dev/null || { show_log web "$LOGS/web.log"; die "the web server exited (port $PORT taken? set DEMO_PORT)"; }
    if "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
            "http://127.0.0.1:$PORT/admin/login/" >/dev/null 2>&1; then
        break
    fi
    [[ $i -eq 100 ]] && { show_log web "$LOGS/web.log"; die "the web server did not answer within 20s"; }
    sleep 0.2
done

echo "demo.sh: running the demo workflows"
echo
rc=0
timeout 180 "$PY" manage.py rundemo || rc=$?
echo
if [[ $rc -ne 0 ]]; then
    [[ $rc -eq 124 ]] && echo "demo.sh: rundemo did not finish within 180s" >&2
    show_log worker "$LOGS/worker.log"
    kill -0 "$WORKER_PID" 2>/dev/null || echo "demo.sh: the worker is no longer running" >&2
    die "the demo failed (exit $rc)"
fi

if [[ $KEEP -eq 1 ]]; then
    echo "demo.sh: worker and web server keep running: http://127.0.0.1:$PORT/admin/  (Ctrl-C to stop)"
    if [[ -z "${DATABASE_URL:-}" ]]; then
        echo "         log in as $DEMO_USER (password: $DEMO_PASSWORD unless you changed it); the run pages update live"
    else
        echo "         create a login with: .venv/bin/python manage.py createsuperuser"
    fi
    # Return when either process exits or on Ctrl-C (trap -> cleanup).
    while kill -0 "$WORKER_PID" 2>/dev/null && kill -0 "$WEB_PID" 2>/dev/null; do
        sleep 1
    done
    echo "demo.sh: a background process exited" >&2
    show_log worker "$LOGS/worker.log"
    show_log web "$LOGS/web.log"
    exit 1
fi
echo "demo.sh: done. To look around: scripts/demo.sh --keep leaves the worker and the admin"
echo "         (http://127.0.0.1:$PORT/admin/, runs update live) running until Ctrl-C."
