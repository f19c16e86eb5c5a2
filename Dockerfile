# bcapi: gunicorn serving the Flask app, migrations applied at start.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BCAPI_BIND=0.0.0.0:8000 \
    BCAPI_INSTANCE_PATH=/var/lib/bcapi \
    BCAPI_RULES=/app/rules/reference.yaml

WORKDIR /app
COPY pyproject.toml setup.py README.md ./
COPY bcapi ./bcapi
COPY rules ./rules
COPY schemas ./schemas
COPY wsgi.py gunicorn.conf.py ./
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /var/lib/bcapi --create-home bcapi

USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["sh", "-c", "bcapi db upgrade && exec gunicorn wsgi:app"]
