# parindex image: slim, non-root, dependencies pinned by requirements.lock.
# One image for every role (docker-compose.yml): `parindex migrate` (one-shot set-up),
# `parindex serve-workers` (API replicas), `parindex project` (the projection worker).
# Configuration comes from the environment only (docs/configuration.md).

# -- build: the project's own wheel (build tools pinned, and left behind in this stage) -------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN pip install setuptools==80.9.0 wheel==0.45.1
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY projections ./projections
COPY api ./api
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

# -- runtime ----------------------------------------------------------------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PARINDEX_BLOB_DIR=/app/var/blobs
WORKDIR /app

# Exactly the locked versions, nothing resolved at build time (--no-deps); `pip check` fails the
# build if the lock and the project's requirements disagree. Dependencies get their own layer.
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock
COPY --from=build /wheels /wheels
RUN pip install --no-deps /wheels/*.whl && rm -rf /wheels && pip check \
    && useradd --system --uid 10001 --gid 0 --home-dir /app --shell /usr/sbin/nologin parindex \
    && mkdir -p /app/var/blobs \
    && chown -R 10001:0 /app/var && chmod -R g=u /app/var

USER 10001
EXPOSE 8000
# No HEALTHCHECK here: the same image runs the one-shot migration and the projection worker,
# which serve no HTTP. docker-compose.yml gives the API its own (GET /livez).
CMD ["parindex", "serve-workers", "--host", "0.0.0.0", "--port", "8000"]
