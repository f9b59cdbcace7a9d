# syntax=docker/dockerfile:1
# The pipeline components (KFP steps run `python -m mlops_components.<step>` in it) and, optionally,
# the model server: MLServer with the scikit-learn runtime (`mlserver start /mnt/models`).
#   docker build -f images/components.Dockerfile -t mlops-components:dev .   (from the repository root)
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
 && /opt/venv/bin/python -c "import mlops_components, mlserver, mlserver_sklearn, sklearn, boto3"

# --- runtime: the base image, the virtualenv, a non-root user; nothing else ---
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="mlops-components" \
      org.opencontainers.image.description="Training pipeline components and MLServer model server of mlops-operator" \
      org.opencontainers.image.source="https://github.com/mlops-dev/mlops-operator" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 65532 nonroot \
 && useradd --system --uid 65532 --gid 65532 --home-dir /home/nonroot --create-home --shell /usr/sbin/nologin nonroot \
 && mkdir -p /mnt/models /workspace \
 && chown 65532:65532 /mnt/models /workspace
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/nonroot
WORKDIR /workspace
USER 65532:65532
# MLServer: 8080 HTTP (V2 inference protocol), 8081 gRPC, 8082 metrics.
EXPOSE 8080 8081 8082
CMD ["python", "-c", "import mlops_components; print('mlops-components: run a step with python -m mlops_components.<step>, or serve with mlserver start /mnt/models')"]
