"""Real S3 servers on loopback for the S3 tests: moto's server (the test extra) and, where npm could
install it, s3rver. Each runs as its own process on a free port, so the ``bandersnatch`` command
under test talks to it over HTTP exactly as it would to a bucket in production.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

__all__ = ["S3Server", "moto_server", "s3rver_binary", "s3rver_server", "tree"]

ROOT = Path(__file__).resolve().parent.parent
S3RVER = ROOT / ".ci" / "node_modules" / ".bin" / "s3rver"  # where .ci/run installs it


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait(port: int, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer on 127.0.0.1:{port}")


@dataclass(frozen=True)
class S3Server:
    """A running S3 server and the credentials it accepts."""

    endpoint: str
    access_key: str = "testing"
    secret_key: str = "testing"  # both servers accept any key, s3rver only S3RVER/S3RVER
    region: str = "us-east-1"

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, region_name=self.region, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(request_checksum_calculation="when_required", response_checksum_validation="when_required"),
        )  # fmt: skip

    def new_bucket(self) -> str:
        name = f"mirror-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def config_lines(self, bucket: str, prefix: str = "pypi") -> str:
        """The three lines that move a mirror into a bucket (plus where the bucket is)."""
        return (
            f"[mirror]\ndirectory = /{bucket}/{prefix}\nstorage-backend = s3\n"
            f"[s3]\nendpoint_url = {self.endpoint}\nregion_name = {self.region}\n"
            f"aws_access_key_id = {self.access_key}\naws_secret_access_key = {self.secret_key}\n"
        )


def _run(command: list[str], port: int, what: str, cwd: Optional[Path] = None) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, cwd=cwd,
        env={**os.environ, "NO_PROXY": "127.0.0.1"},
    )  # fmt: skip
    try:
        _wait(port, process, what)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def moto_server() -> Iterator[S3Server]:
    port = _free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    for _ in _run(command, port, "moto's server"):
        yield S3Server(f"http://127.0.0.1:{port}")


def s3rver_binary() -> Optional[str]:
    if S3RVER.exists():
        return str(S3RVER)
    return shutil.which("s3rver")


@contextlib.contextmanager
def s3rver_server(binary: str) -> Iterator[S3Server]:
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="s3rver-") as data:
        command = [binary, "--address", "127.0.0.1", "--port", str(port), "--directory", data, "--silent"]
        for _ in _run(command, port, "s3rver"):
            yield S3Server(f"http://127.0.0.1:{port}", access_key="S3RVER", secret_key="S3RVER")


def tree(server: S3Server, bucket: str, prefix: str, into: Path) -> dict[str, dict[str, Any]]:
    """Copy every object under ``prefix/`` to ``into`` (to reuse the filesystem assertions); return
    {relative key: head} for the checks only an object store has (Content-Type, metadata)."""
    client, heads = server.client(), {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        for entry in page.get("Contents", ()):
            relative = entry["Key"][len(prefix) + 1 :]
            target = into / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            response = client.get_object(Bucket=bucket, Key=entry["Key"])
            target.write_bytes(response["Body"].read())
            heads[relative] = {"ContentType": response["ContentType"], "Metadata": response.get("Metadata", {})}
    return heads
