# hookaudit server image: `hookaudit serve` (uvicorn) on port 8000; migrations via
# `hookaudit db upgrade` (docker-compose.yml runs that as a one-shot service first).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/hookaudit
# Dependencies first (cached layer), then the source. Editable install: the Alembic
# migrations/ and templates/ stay next to the package, where the app looks for them.
COPY pyproject.toml README.md ./
RUN mkdir -p app hookshim && touch app/__init__.py hookshim/__init__.py \
    && pip install . && pip uninstall -y hookaudit
COPY alembic.ini ./
COPY migrations ./migrations
COPY templates ./templates
COPY hookshim ./hookshim
COPY app ./app
RUN pip install --no-deps -e . \
    && useradd --system --uid 10001 --home-dir /srv/hookaudit hookaudit
USER hookaudit

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
CMD ["hookaudit", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
