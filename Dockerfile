# syntax=docker/dockerfile:1
# Matinee in a container: a non-root user, the database on the /data volume, a health check on the
# web server's /healthz, and a graceful stop on SIGTERM well within Docker's 10 seconds.
#
#   docker build -t matinee .
#   docker run -d --init --env-file .env -v matinee-data:/data -p 127.0.0.1:8780:8780 matinee
#
# compose.yaml does the same. Other commands run in the same image, e.g.
#   docker run --rm -v matinee-data:/data matinee backup /data/backups/

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/matinee
WORKDIR /src
# Dependencies first, from pyproject.toml alone, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && /opt/matinee/bin/pip install -r requirements.txt
COPY README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN /opt/matinee/bin/pip install --no-deps .
# Matinee never downloads tiktoken's encoding at run time (bot/chat/tokens.py); bake it into the image
# so token counts are exact. Without network at build time, counts fall back to an estimate.
ENV TIKTOKEN_CACHE_DIR=/opt/matinee/tiktoken-cache
RUN /opt/matinee/bin/python -c "import tiktoken; from bot.chat.tokens import DEFAULT_ENCODING; tiktoken.get_encoding(DEFAULT_ENCODING)" 2>/dev/null \
    || echo "tiktoken's encoding could not be downloaded; Matinee will estimate token counts"

FROM python:${PYTHON_VERSION}-slim-bookworm
ENV PATH=/opt/matinee/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TIKTOKEN_CACHE_DIR=/opt/matinee/tiktoken-cache \
    DATABASE_PATH=/data/matinee.db \
    WEB_HOST=0.0.0.0 \
    WEB_PORT=8780
RUN groupadd --system --gid 10001 matinee \
    && useradd --system --uid 10001 --gid matinee --home-dir /data --no-create-home --shell /usr/sbin/nologin matinee \
    && mkdir /data \
    && chown matinee:matinee /data
COPY --from=build /opt/matinee /opt/matinee
RUN matinee --version
USER matinee
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8780
# `matinee run` stops gracefully on SIGTERM (flushes pending writes, closes the gateway and the database).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('WEB_PORT', '8780'), timeout=4)"]
ENTRYPOINT ["matinee"]
CMD ["run"]
