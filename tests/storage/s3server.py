"""A real S3-compatible server on loopback for tests: moto's standalone server in a child process.

It checks signatures like S3 does (moto's IAM authentication, switched on after the few set-up calls
made here without credentials), so wrong keys are refused with InvalidAccessKeyId or
SignatureDoesNotMatch. The keys it hands out are random per server.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import requests

#: Calls made without credentials before moto starts checking them: create user, access key, policy.
SETUP_CALLS = 3
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class S3Server:
    endpoint: str
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    process: subprocess.Popen = field(repr=False)

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.access_key_id, aws_secret_access_key=self.secret_access_key)

    def make_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(log: Path) -> S3Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(SETUP_CALLS)
    with open(log, "ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{endpoint}/moto-api/", timeout=2)
            break
        except requests.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"moto server did not start; see {log}") from None
            time.sleep(0.2)
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="setup", aws_secret_access_key="setup")
    iam.create_user(UserName="mlops")
    key = iam.create_access_key(UserName="mlops")["AccessKey"]
    iam.put_user_policy(UserName="mlops", PolicyName="all", PolicyDocument=json.dumps(ALLOW_ALL))
    return S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"], process)


@contextlib.contextmanager
def running(log: Path, *buckets: str) -> Iterator[S3Server]:
    """A moto server for the block, with these buckets made."""
    server = start(log)
    try:
        for bucket in buckets:
            server.make_bucket(bucket)
        yield server
    finally:
        server.stop()

