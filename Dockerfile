# livehub node image. Point it at the festival's Redis with LIVEHUB_REDIS_URL (without it the
# container starts its own embedded Redis, which suits a single-container demo only).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LIVEHUB_HOST=0.0.0.0 \
    LIVEHUB_PORT=8000

WORKDIR /app
COPY pyproject.toml README.md ./
COPY livehub ./livehub
COPY config ./config
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 livehub
USER livehub

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status == 200 else 1)"
# SIGTERM: uvicorn stops accepting, livehub closes viewers with 1012 in batches, then exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["livehub", "serve", "--config", "/app/config/festival.toml"]
