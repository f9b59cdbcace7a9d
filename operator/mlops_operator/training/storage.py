"""The object store that pipelines and the operator share: its settings, and credentials from a Secret.

One Kubernetes Secret, in the format Seldon Core's rclone storage initializer reads (remote "s3"),
serves all three readers of object storage:

- Seldon's storage initializer gets it whole through the predictor's `envSecretRefName`;
- every pipeline step gets its two key entries as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY through
  kfp-kubernetes `use_secret_as_env` (SECRET_KEY_TO_ENV): the IR names the Secret, never a value;
- the operator reads the same two entries through the Kubernetes API (from the run's namespace).

Endpoint, region and TLS verification are not secret: they come from the operator's settings (the
chart's `storage` values) or the project's `spec.storage`, and reach each step as plain environment
variables (mlops_components.locations reads them).
"""
from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Any

from mlops_components import locations
from mlops_components.locations import S3Config, StorageError

from mlops_operator.settings import Settings

#: Secret entries (rclone's, for Seldon) -> the environment variables boto3 reads in pipeline steps.
SECRET_KEY_TO_ENV = {
    "RCLONE_CONFIG_S3_ACCESS_KEY_ID": locations.ENV_ACCESS_KEY,
    "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": locations.ENV_SECRET_KEY,
}

#: StorageError codes of a store that could not be reached (worth trying again) rather than one that refused.
UNREACHABLE = frozenset({"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
                         "ConnectionClosedError", "SSLError", "ProxyConnectionError"})


class StorageSecretError(ValueError):
    """The configured Secret is missing or lacks an entry; the text names the Secret and the entry."""


@dataclass(frozen=True)
class StorageSettings:
    """Where the object store is (no credentials: only the name of the Secret holding them)."""

    endpoint: str | None = None
    region: str | None = None
    verify_tls: bool = True
    secret_name: str | None = None

    @classmethod
    def resolve(cls, settings: Settings, override: Any = None) -> "StorageSettings":
        """The operator's settings with the project's `spec.storage` fields (those set) on top."""
        base = cls(endpoint=settings.s3_endpoint, region=settings.s3_region, verify_tls=settings.s3_verify_tls,
                   secret_name=settings.storage_secret)
        if override is None:
            return base
        return cls(
            endpoint=override.endpoint if override.endpoint is not None else base.endpoint,
            region=override.region if override.region is not None else base.region,
            verify_tls=override.verify_tls if override.verify_tls is not None else base.verify_tls,
            secret_name=override.secret_name if override.secret_name is not None else base.secret_name,
        )

    @property
    def configured(self) -> bool:
        """An object store was set up (so models go there, even from the local backend)."""
        return bool(self.secret_name or self.endpoint)

    def step_env(self) -> dict[str, str]:
        """Plain environment variables of every pipeline step (sorted: the IR stays byte-stable)."""
        env = {locations.ENV_ENDPOINT: self.endpoint or "", locations.ENV_REGION: self.region or "",
               locations.ENV_VERIFY: "true" if self.verify_tls else "false"}
        return {k: v for k, v in sorted(env.items()) if v}

    def document(self) -> dict[str, Any]:
        """What the pipeline digest covers."""
        return {"endpoint": self.endpoint, "region": self.region, "verifyTls": self.verify_tls,
                "secretName": self.secret_name}

    def config(self, credentials: dict[str, str] | None = None) -> S3Config:
        """boto3 settings; without credentials, boto3's own chain (environment, IAM role) applies."""
        credentials = credentials or {}
        return S3Config(endpoint=self.endpoint or None, region=self.region or None, verify=self.verify_tls,
                        access_key_id=credentials.get(locations.ENV_ACCESS_KEY),
                        secret_access_key=credentials.get(locations.ENV_SECRET_KEY))

    async def load(self, namespace: str) -> S3Config:
        """The operator's S3Config, its keys read from the Secret in `namespace` (StorageSecretError if unusable)."""
        if not self.secret_name:
            return self.config()
        return self.config(await read_credentials(namespace, self.secret_name))

    async def reach(self, namespace: str, uri: str, check: bool) -> S3Config:
        """The operator's credentials for `uri` and, when `check` (before a submit), proof that the store answers
        there: StorageSecretError or locations.StorageError naming the cause otherwise."""
        s3 = await self.load(namespace)
        if check and locations.scheme(uri) == "s3":  # nothing else needs a round trip (nor a thread)
            await asyncio.to_thread(locations.check_reachable, uri, s3)
        return s3

    def env_with(self, credentials: S3Config) -> dict[str, str]:
        """Environment of a local pipeline process: the step env plus the credentials (never written to disk)."""
        env = self.step_env()
        if credentials.access_key_id:
            env[locations.ENV_ACCESS_KEY] = credentials.access_key_id
        if credentials.secret_access_key:
            env[locations.ENV_SECRET_KEY] = credentials.secret_access_key
        return env


async def read_credentials(namespace: str, name: str) -> dict[str, str]:
    """AWS_* credentials from the Secret's rclone entries."""
    from mlops_operator import kube

    try:
        secret = await kube.get("v1", "secrets", namespace, name)
    except kube.ApiError as exc:
        if exc.status == 403:
            raise StorageSecretError(f"storage.secretName: the operator may not read Secret {name!r} in namespace "
                                     f"{namespace!r} (RBAC: get secrets)") from None
        raise
    if secret is None:
        raise StorageSecretError(f"storage.secretName: Secret {name!r} not found in namespace {namespace!r}")
    data = secret.get("data") or {}
    credentials = {}
    for key, env in SECRET_KEY_TO_ENV.items():
        if not data.get(key):
            raise StorageSecretError(f"storage.secretName: Secret {name!r} in namespace {namespace!r} has no "
                                     f"entry {key}")
        credentials[env] = base64.b64decode(data[key]).decode()
    return credentials


def unreachable(error: StorageError) -> bool:
    return error.code in UNREACHABLE


def describe(error: Exception) -> str:
    """The sentence a condition and an Event carry: what failed, where, and the store's code."""
    if isinstance(error, StorageError):
        return f"object storage: {error}"
    return str(error)


def apply_to_step(step: Any, storage: StorageSettings) -> None:
    """Give one pipeline task the store's settings and the Secret's keys (as IR: the Secret's name only)."""
    for name, value in storage.step_env().items():
        step.set_env_variable(name, value)
    if storage.secret_name:
        from kfp import kubernetes

        kubernetes.use_secret_as_env(step, secret_name=storage.secret_name, secret_key_to_env=dict(SECRET_KEY_TO_ENV))


def serving_secret(settings: Settings, project_spec: Any = None) -> str | None:
    """The Secret a SeldonDeployment names (envSecretRefName): the project's `spec.storage.secretName`, else the operator's."""
    override = ((project_spec or {}).get("storage") or {}) if isinstance(project_spec, dict) else {}
    return override.get("secretName") or settings.storage_secret
