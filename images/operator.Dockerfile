# syntax=docker/dockerfile:1
# The operator: `kopf run ... -m mlops_operator.handlers`; the Helm chart passes the arguments.
#   docker build -f images/operator.Dockerfile -t mlops-operator:dev .      (from the repository root)
#
# Base image: the tag is pinned here; a release build pins the digest too, which cannot be looked up offline:
#   docker buildx imagetools inspect python:3.11-slim-bookworm   # -> Digest: sha256:...
#   docker build --build-arg BASE_IMAGE=python:3.11-slim-bookworm@sha256:<digest> ...
ARG BASE_IMAGE=python:3.11-slim-bookworm

# --- build: a virtualenv with the project and its pinned dependencies ---
# Wheels where PyPI has them; the few pure-Python sdists (e.g. kfp-server-api) build without a compiler,
# and the slim base has none, so nothing native is compiled.
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml constraints.txt README.md ./
COPY operator/ operator/
COPY components/ components/
RUN /opt/venv/bin/pip install --prefer-binary --constraint constraints.txt . \
 && /opt/venv/bin/pip uninstall --yes pip setuptools wheel \
 && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} + \
 && /opt/venv/bin/python -c "import mlops_operator, mlops_components, kopf, boto3, kfp.kubernetes"

# --- runtime: the base image, the virtualenv, a non-root user; nothing else ---
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="mlops-operator" \
      org.opencontainers.image.description="Kubernetes operator for the ML lifecycle (kopf)" \
      org.opencontainers.image.source="https://github.com/mlops-dev/mlops-operator" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 65532 nonroot \
 && useradd --system --uid 65532 --gid 65532 --home-dir /home/nonroot --create-home --shell /usr/sbin/nologin nonroot \
 && mkdir -p /var/lib/mlops \
 && chown 65532:65532 /var/lib/mlops
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/nonroot \
    MLOPS_DATA_DIR=/var/lib/mlops
WORKDIR /var/lib/mlops
USER 65532:65532
# 8080: kopf liveness (/healthz); 9090: Prometheus metrics (/metrics).
EXPOSE 8080 9090
ENTRYPOINT ["kopf"]
CMD ["run", "--all-namespaces", "--standalone", "--liveness=http://0.0.0.0:8080/healthz", "-m", "mlops_operator.handlers"]
