#!/usr/bin/env bash
# Container entry point.
#   web     migrate, then serve on 0.0.0.0:8000 (development server for now)
#   worker  manage.py runworker [extra args...]
#   manage  manage.py <args...>
#   anything else is executed as given
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

role="${1:-web}"
[[ $# -gt 0 ]] && shift

case "$role" in
    web)
        python manage.py migrate --noinput
        exec python manage.py runserver 0.0.0.0:8000 --noreload "$@"
        ;;
    worker)
        exec python manage.py runworker "$@"
        ;;
    manage)
        exec python manage.py "$@"
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
