"""Read and write bytes at a location: a local path, file://, http(s):// (read only) or s3://.

Components run in a cluster (s3 / http) and on a laptop (files); this one module keeps the URI
handling, and the object store's settings, in one place: a new scheme is added here only.

s3:// goes through boto3 to AWS S3 or any S3-compatible store (MinIO, Ceph, GCS's S3 API). Pipeline
steps take the store's settings from their environment (`S3Config.from_env`): MLOPS_S3_ENDPOINT (or
AWS_ENDPOINT_URL), AWS_REGION, MLOPS_S3_VERIFY (true / false / a CA bundle path) and the standard
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. The operator passes an explicit
S3Config (its credentials come from a Kubernetes Secret). A store's refusal becomes a StorageError
naming the URI and the store's error code, with any credential value scrubbed from the text.
"""
from __future__ import annotations

import functools
import os
import shutil
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

HTTP_TIMEOUT_SECONDS = 60
#: Seconds to wait for a TCP connection to the object store: an unreachable endpoint fails fast.
S3_CONNECT_TIMEOUT = 5
S3_READ_TIMEOUT = 60
S3_ATTEMPTS = 3

#: Environment variables of the object store's settings (the operator sets them on every pipeline step).
ENV_ENDPOINT = "MLOPS_S3_ENDPOINT"
ENV_REGION = "AWS_REGION"
ENV_VERIFY = "MLOPS_S3_VERIFY"
ENV_ACCESS_KEY = "AWS_ACCESS_KEY_ID"
ENV_SECRET_KEY = "AWS_SECRET_ACCESS_KEY"
ENV_SESSION_TOKEN = "AWS_SESSION_TOKEN"


def parse_verify(value: str | bool | None) -> bool | str:
    """true/false (any case, 1/0, yes/no) or the path of a CA bundle; unset means verify."""
    if value is None or value == "" or value is True:
        return True
    if value is False:
        return False
    text = str(value).strip()
    if text.lower() in ("true", "1", "yes", "on"):
        return True
    if text.lower() in ("false", "0", "no", "off"):
        return False
    return text  # a CA bundle path


@dataclass(frozen=True)
class S3Config:
    """How to reach the object store. Credentials never show in repr (logs, status, exceptions)."""

    endpoint: str | None = None
    region: str | None = None
    verify: bool | str = True
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "S3Config":
        env = os.environ if env is None else env
        return cls(
            endpoint=env.get(ENV_ENDPOINT) or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
            region=env.get(ENV_REGION) or env.get("AWS_DEFAULT_REGION") or None,
            verify=parse_verify(env.get(ENV_VERIFY)),
            access_key_id=env.get(ENV_ACCESS_KEY) or None,
            secret_access_key=env.get(ENV_SECRET_KEY) or None,
            session_token=env.get(ENV_SESSION_TOKEN) or None,
        )

    def secrets(self) -> list[str]:
        return [s for s in (self.access_key_id, self.secret_access_key, self.session_token) if s]


class StorageError(RuntimeError):
    """The object store refused or could not be reached; the text names the URI and the store's code."""

    def __init__(self, uri: str, code: str, detail: str) -> None:
        self.uri, self.code, self.detail = uri, code, detail
        super().__init__(f"{uri}: {code}" + (f" ({detail})" if detail and detail != code else ""))

    @property
    def not_found(self) -> bool:
        return self.code in ("NoSuchKey", "404", "NotFound")


def scheme(uri: str) -> str:
    parsed = urllib.parse.urlparse(uri)
    # A Windows drive letter or a bare path has no real scheme.
    return parsed.scheme if len(parsed.scheme) > 1 else ""


def local_path(uri: str) -> Path:
    """The filesystem path of a plain path or a file:// URI."""
    if scheme(uri) == "file":
        return Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path))
    if scheme(uri):
        raise ValueError(f"not a local path: {uri!r}")
    return Path(uri)


@functools.lru_cache(maxsize=16)
def _s3_client(config: S3Config):
    try:
        import boto3  # type: ignore[import-not-found]
        from botocore.config import Config
    except ImportError as exc:
        raise RuntimeError("s3:// locations need the boto3 package installed") from exc
    session = boto3.session.Session()  # one per client: boto3's default session is not thread-safe to create
    return session.client(
        "s3", endpoint_url=config.endpoint, verify=config.verify,
        region_name=config.region or os.environ.get(ENV_REGION) or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        aws_access_key_id=config.access_key_id, aws_secret_access_key=config.secret_access_key,
        aws_session_token=config.session_token,
        config=Config(connect_timeout=S3_CONNECT_TIMEOUT, read_timeout=S3_READ_TIMEOUT,
                      retries={"max_attempts": S3_ATTEMPTS, "mode": "standard"},
                      # path-style addressing works with every S3-compatible store (MinIO has no virtual hosts)
                      s3={"addressing_style": "path"} if config.endpoint else None),
    )


def _s3_parts(uri: str) -> tuple[str, str]:
    parsed = urllib.parse.urlparse(uri)
    if not parsed.netloc:
        raise ValueError(f"s3 URI without a bucket: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def _scrub(text: str, config: S3Config) -> str:
    for secret in config.secrets():
        if len(secret) >= 4:  # a real key is long; a one-letter one would mangle the message
            text = text.replace(secret, "***")
    return text


def _s3(uri: str, config: S3Config | None, call):
    """call(client, bucket, key), with the store's errors as StorageError."""
    bucket, key = _s3_parts(uri)
    config = config or S3Config.from_env()
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError as exc:
        raise RuntimeError("s3:// locations need the boto3 package installed") from exc
    try:
        return call(_s3_client(config), bucket, key)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or "Error")
        raise StorageError(uri, code, _scrub(str(error.get("Message") or ""), config)) from None
    except BotoCoreError as exc:  # endpoint unreachable, TLS failure, no credentials...
        raise StorageError(uri, type(exc).__name__, _scrub(str(exc), config)) from None


def read_bytes(uri: str, storage: S3Config | None = None) -> bytes:
    """The bytes at `uri`; `storage` (s3:// only) defaults to the environment's settings."""
    kind = scheme(uri)
    if kind in ("http", "https"):
        with urllib.request.urlopen(uri, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310 - scheme checked
            return response.read()
    if kind == "s3":
        return _s3(uri, storage, lambda s3, bucket, key: s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    if kind in ("", "file"):
        return local_path(uri).read_bytes()
    raise ValueError(f"unsupported location scheme {kind!r} in {uri!r}: use a path, file://, http(s):// or s3://")


def join(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *parts])


def write_bytes(uri: str, data: bytes, storage: S3Config | None = None) -> None:
    kind = scheme(uri)
    if kind == "s3":
        _s3(uri, storage, lambda s3, bucket, key: s3.put_object(Bucket=bucket, Key=key, Body=data))
        return
    if kind in ("", "file"):
        path = local_path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: readers never see half a file
        return
    raise ValueError(f"cannot write to {uri!r}: only paths, file:// and s3:// are writable")


def check_reachable(uri: str, storage: S3Config | None = None) -> None:
    """Raise StorageError when the store behind an s3:// prefix refuses us (bucket, credentials, endpoint).

    Lists at most one key under the prefix: cheap, and the store answers with a precise code
    (NoSuchBucket, InvalidAccessKeyId, SignatureDoesNotMatch, AccessDenied). Other schemes pass."""
    if scheme(uri) == "s3":
        _s3(uri, storage, lambda s3, bucket, key: s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1))


def list_uris(prefix: str, storage: S3Config | None = None, limit: int = 10_000) -> list[str]:
    """Every file URI under `prefix` (recursively, at most `limit`), in the prefix's own form.

    For `latest` dataset versions; http(s) cannot be listed, so it is refused naming the URI."""
    kind = scheme(prefix)
    if kind == "s3":
        def listing(s3, bucket, key):
            found = []
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
                found += [f"s3://{bucket}/{item['Key']}" for item in page.get("Contents") or []]
                if len(found) >= limit:
                    break
            return found[:limit]

        return _s3(prefix, storage, listing)
    if kind in ("", "file"):
        root = local_path(prefix)
        if not root.is_dir():
            return []
        found = sorted(p for p in root.rglob("*") if p.is_file())[:limit]
        return [p.as_uri() if kind == "file" else str(p) for p in found]
    raise ValueError(f"cannot list {prefix!r}: only paths, file:// and s3:// can be listed")


def copy_directory(source: Path, uri: str, storage: S3Config | None = None) -> None:
    """Publish a local directory at `uri` (file by file, so s3 works too)."""
    if scheme(uri) in ("", "file"):
        target = local_path(uri)
        if target.resolve() == source.resolve():
            return
        shutil.copytree(source, target, dirs_exist_ok=True)
        return
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        write_bytes(join(uri, *file.relative_to(source).parts), file.read_bytes(), storage)


def fetch_directory(uri: str, names: list[str], into: Path, storage: S3Config | None = None) -> Path:
    """Bring named files of a remote directory to `into`; local directories are used in place."""
    if scheme(uri) in ("", "file"):
        return local_path(uri)
    into.mkdir(parents=True, exist_ok=True)
    for name in names:
        (into / name).write_bytes(read_bytes(join(uri, name), storage))
    return into
