# bcapi: gunicorn serving the Flask app (docs/DEPLOY.md). Migrations are a separate one-off step,
# `bcapi db upgrade`, run before the service starts (deploy/compose.yaml's "migrate" service), so
# that replicas never race to migrate.
#
# The base is pinned by digest: python:3.11-slim-bookworm as pinned in public Dockerfiles
# (e.g. github.com/peiyang-z6/BandStructure_AI_Project, and another project's with the same
# digest; not re-resolved here, where Docker cannot run). To refresh it:
#   docker buildx imagetools inspect python:3.11-slim-bookworm   # the "Digest:" line
# and paste that digest below (Dependabot or Renovate can keep it current).
FROM python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BCAPI_BIND=0.0.0.0:8000 \
    BCAPI_INSTANCE_PATH=/var/lib/bcapi \
    BCAPI_RULES=/app/rules/reference.yaml \
    BCAPI_ENV=production \
    BCAPI_COOKIE_SECURE=true

WORKDIR /app
# Dependencies first, from the lock with their hashes (a layer that changes only with the lock);
# then the project itself, which may not add any.
COPY deploy/requirements.lock ./deploy/
RUN pip install --no-cache-dir --require-hashes -r deploy/requirements.lock
COPY pyproject.toml setup.py README.md ./
COPY bcapi ./bcapi
COPY rules ./rules
COPY schemas ./schemas
COPY wsgi.py gunicorn.conf.py ./
RUN pip install --no-cache-dir --no-deps . \
    && pip check \
    && useradd --system --uid 10001 --home-dir /var/lib/bcapi --create-home bcapi

USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["gunicorn", "wsgi:app"]
