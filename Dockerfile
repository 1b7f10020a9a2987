# parindex service image: slim, non-root, dependencies installed from the project's metadata.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY domain ./domain
COPY projections ./projections
COPY api ./api
RUN pip install . && useradd --system --uid 10001 --home /app parindex \
    && mkdir -p /app/var && chown parindex /app/var

USER parindex
EXPOSE 8000
CMD ["parindex", "serve", "--host", "0.0.0.0", "--port", "8000"]
