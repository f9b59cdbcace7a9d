"""Who may write: a bearer token read from a file (a Secret mounted as a file on a cluster, a file
beside the kubeconfig in the embedded default). Labels decide releases, so every endpoint but
`/healthz` and `/metrics` needs it. The file is re-read when it changes, so a rotated Secret
takes effect without a restart.
"""
from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path


class TokenFile:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._stamp: tuple[int, int] | None = None
        self._token = ""

    def token(self) -> str:
        stat = self.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._token = self.path.read_text().strip()
            self._stamp = stamp
        return self._token

    def allows(self, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Bearer "):
            return False
        try:
            expected = self.token()
        except OSError:
            return False
        return bool(expected) and hmac.compare_digest(authorization[7:].strip().encode(), expected.encode())


def write_token(path: str | Path) -> str:
    """Create a token file (mode 0600) unless one exists; returns the token."""
    path = Path(path)
    if path.exists() and path.read_text().strip():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token
