# Demo image: one image, two roles.
#   web     daphne serves project.asgi (HTTP, the admin's static files, the run WebSockets) on :8000
#   worker  manage.py runworker
#   docker build -t temporalflow .
#   docker run -p 8000:8000 -e DATABASE_URL=postgres://... temporalflow web
#   docker run -e DATABASE_URL=postgres://... temporalflow worker
# Web and worker must share a database: use PostgreSQL (DATABASE_URL) when they run in
# separate containers; the SQLite default (/app/var/db.sqlite3) is per container.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=project.settings \
    DJANGO_ALLOWED_HOSTS=* \
    DJANGO_STATIC_ROOT=/app/static

WORKDIR /app

# requirements.txt installs the package itself (-e .), so the source comes first.
COPY . .
RUN pip install -r requirements.txt \
    && python manage.py collectstatic --noinput \
    && chmod +x scripts/docker-entrypoint.sh \
    && useradd --create-home --uid 1000 app \
    && mkdir -p /app/var \
    && chown -R app:app /app/var

USER app
EXPOSE 8000
ENTRYPOINT ["scripts/docker-entrypoint.sh"]
CMD ["web"]
