# syntax=docker/dockerfile:1
# model-sidecar image: `docker build -t model-sidecar .`
# Optional English NER model for Presidio (names, locations), the official spaCy wheel pinned by hash:
#   docker build \
#     --build-arg SPACY_MODEL_WHEEL_URL=https://github.com/explosion/spacy-models/releases/download/en_core_web_sm-3.8.0/en_core_web_sm-3.8.0-py3-none-any.whl \
#     --build-arg SPACY_MODEL_SHA256=<sha256 of that file> -t model-sidecar:ner .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------- builder: compilers live here only
FROM ${PYTHON_IMAGE} AS builder

ARG SPACY_MODEL_WHEEL_URL=""
ARG SPACY_MODEL_SHA256=""

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY sidecar ./sidecar
RUN pip install --upgrade "pip>=24" "setuptools>=69" wheel \
    && pip install .

# The model wheel is fetched at build time only and checked against its sha256 before installing.
RUN if [ -n "$SPACY_MODEL_WHEEL_URL" ]; then \
        if [ -z "$SPACY_MODEL_SHA256" ]; then echo "SPACY_MODEL_SHA256 is required with SPACY_MODEL_WHEEL_URL" >&2; exit 1; fi; \
        echo "en_core_web_sm @ ${SPACY_MODEL_WHEEL_URL} --hash=sha256:${SPACY_MODEL_SHA256}" > /tmp/ner.txt \
        && pip install --no-deps --require-hashes -r /tmp/ner.txt \
        && python -c "import spacy; spacy.load('en_core_web_sm')"; \
    fi

# ---------------------------------------------------------------- runtime: no compilers, no pip cache
FROM ${PYTHON_IMAGE} AS runtime

ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="model-sidecar" \
      org.opencontainers.image.description="Transparent sidecar proxy that watches ML models in production: drift, quality, anomalies, PII-safe capture, OpenTelemetry" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/model-sidecar/model-sidecar"

RUN groupadd --system --gid 10001 sidecar \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin sidecar

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp

USER 10001:10001
WORKDIR /tmp

EXPOSE 15080 15090

HEALTHCHECK --interval=10s --timeout=2s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:15090/healthz', timeout=1).close()"]

ENTRYPOINT ["sidecar"]
CMD ["run"]
