"""Read and write bytes at a location: a local path, file://, http(s):// (read only) or s3://.

Components run in a cluster (s3 / http) and on a laptop (files); one small module keeps the
URI handling in one place. boto3 is optional: only s3:// needs it.
"""
from __future__ import annotations

import shutil
import urllib.parse
import urllib.request
from pathlib import Path

HTTP_TIMEOUT_SECONDS = 60


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


def _s3_client():
    try:
        import boto3  # type: ignore[import-not-found]
    except ImportError as exc:
        raise RuntimeError("s3:// locations need the boto3 package installed") from exc
    return boto3.client("s3")


def _s3_parts(uri: str) -> tuple[str, str]:
    parsed = urllib.parse.urlparse(uri)
    if not parsed.netloc:
        raise ValueError(f"s3 URI without a bucket: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def read_bytes(uri: str) -> bytes:
    kind = scheme(uri)
    if kind in ("http", "https"):
        with urllib.request.urlopen(uri, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310 - scheme checked
            return response.read()
    if kind == "s3":
        bucket, key = _s3_parts(uri)
        return _s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    if kind in ("", "file"):
        return local_path(uri).read_bytes()
    raise ValueError(f"unsupported location scheme {kind!r} in {uri!r}: use a path, file://, http(s):// or s3://")


def join(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *parts])


def write_bytes(uri: str, data: bytes) -> None:
    kind = scheme(uri)
    if kind == "s3":
        bucket, key = _s3_parts(uri)
        _s3_client().put_object(Bucket=bucket, Key=key, Body=data)
        return
    if kind in ("", "file"):
        path = local_path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: readers never see half a file
        return
    raise ValueError(f"cannot write to {uri!r}: only paths, file:// and s3:// are writable")


def copy_directory(source: Path, uri: str) -> None:
    """Publish a local directory at `uri` (file by file, so s3 works too)."""
    if scheme(uri) in ("", "file"):
        target = local_path(uri)
        if target.resolve() == source.resolve():
            return
        shutil.copytree(source, target, dirs_exist_ok=True)
        return
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        write_bytes(join(uri, *file.relative_to(source).parts), file.read_bytes())


def fetch_directory(uri: str, names: list[str], into: Path) -> Path:
    """Bring named files of a remote directory to `into`; local directories are used in place."""
    if scheme(uri) in ("", "file"):
        return local_path(uri)
    into.mkdir(parents=True, exist_ok=True)
    for name in names:
        (into / name).write_bytes(read_bytes(join(uri, name)))
    return into
