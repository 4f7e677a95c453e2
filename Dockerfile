# livehub node image. Point it at the festival's Redis with LIVEHUB_REDIS_URL (without it the
# container starts its own embedded Redis, which suits a single-container demo only).
#
# It runs outside demo mode: it refuses to start (one line naming each setting, exit 2) until
# it has LIVEHUB_SECRET (token signing), LIVEHUB_PAYMENT_SECRET (payment callbacks; another
# value) and a festival whose hosts have hashed keys (`livehub hash-key`), mounted with
# LIVEHUB_CONFIG; the bundled config/festival.toml has plaintext demo keys, so it serves only with
#   docker run -e LIVEHUB_DEMO=1 -p 8000:8000 livehub      # the demo: never expose it
# For real:
#   docker run -e LIVEHUB_SECRET -e LIVEHUB_PAYMENT_SECRET -e LIVEHUB_REDIS_URL \
#     -e LIVEHUB_CONFIG=/etc/livehub/festival.toml -v /srv/livehub:/etc/livehub:ro -p 8000:8000 livehub
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LIVEHUB_HOST=0.0.0.0 \
    LIVEHUB_PORT=8000 \
    LIVEHUB_DEMO=0 \
    LIVEHUB_CONFIG=/app/config/festival.toml

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
ENTRYPOINT ["livehub", "serve"]
