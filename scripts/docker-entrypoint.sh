#!/usr/bin/env bash
# Container entry point.
#   web     migrate, then serve the ASGI app (project.asgi: HTTP + the run WebSockets) with daphne on
#           0.0.0.0:${PORT:-8000}; static files (the admin's) are served by the app itself
#           (DJANGO_SERVE_STATIC=1, see project/asgi.py) unless DJANGO_SERVE_STATIC=0 says a proxy does
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
        export DJANGO_SERVE_STATIC="${DJANGO_SERVE_STATIC:-1}"
        exec daphne --bind 0.0.0.0 --port "${PORT:-8000}" --proxy-headers "$@" project.asgi:application
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
