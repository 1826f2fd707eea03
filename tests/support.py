"""Test support: the real server as a subprocess on a free 127.0.0.1 port, and real boto3 clients for it."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config as BotoConfig

ROOT = Path(__file__).resolve().parent.parent
_accounts = itertools.count(1)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_account() -> str:
    """A fresh 12-digit account per test: tests share a server and stay isolated by account."""
    return f"{os.getpid() % 10000:04d}{next(_accounts):08d}"


def wait_until_serving(
    name: str, process: subprocess.Popen[bytes], url: str, timeout: float, ready: Callable[[int], bool]
) -> None:
    """Poll `url` until its HTTP status satisfies `ready`. Raises RuntimeError if the process exits first,
    or kills it and raises if `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}")
        try:
            if ready(httpx.get(url, timeout=1).status_code):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError(f"{name} did not answer {url} in {timeout}s")


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM, then SIGKILL if the process has not exited within `timeout` seconds; its exit status."""
    if process.poll() is None:
        process.terminate()
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def api_destination(
    events: Any, endpoint: str, name: str = "hook", api_key: str = "secret", **options: Any
) -> str:
    """The ARN of a new API destination `name` that POSTs to `endpoint` through a new API_KEY connection of
    the same name (header `x-api-key: <api_key>`); `options` go to CreateApiDestination."""
    connection = events.create_connection(
        Name=name,
        AuthorizationType="API_KEY",
        AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": api_key}},
    )["ConnectionArn"]
    return str(
        events.create_api_destination(
            Name=name, ConnectionArn=connection, InvocationEndpoint=endpoint, HttpMethod="POST", **options
        )["ApiDestinationArn"]
    )


class ServerProcess:
    """`eventyard serve` in a subprocess; start, stop (SIGTERM), kill (SIGKILL) and start again."""

    def __init__(
        self,
        store: str | None,
        *extra: str,
        env: dict[str, str] | None = None,
        port: int | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.store = store
        self.cwd = cwd or ROOT
        self.extra = list(extra)
        self.env = env or {}
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        command = [
            sys.executable, "-m", "eventyard.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
            "--test-clock", "--log-level", "warning", *self.extra,
        ]  # fmt: skip
        if self.store is not None:
            command += ["--store", self.store]
        log_dir = Path(os.environ.get("EVENTYARD_TEST_LOGS", "/tmp/eventyard-test-logs"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"server-{self.port}.log"
        env = {**os.environ, **self.env}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.cwd
            )
        try:
            wait_until_serving(
                "server", self.process, f"{self.url}/health", timeout, lambda status: status == 200
            )
        except RuntimeError as failure:
            self.process = None
            raise RuntimeError(f"{failure}:\n{self.log()}") from None
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path else ""

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.process is None:
            return None
        code = stop_process(self.process, timeout)
        self.process = None
        return code

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def advance_clock(self, seconds: float) -> None:
        response = httpx.post(f"{self.url}/_eventyard/clock", json={"advance": seconds}, timeout=10)
        response.raise_for_status()

    def client(
        self, service: str = "events", account: str = "123456789012", region: str = "us-east-1"
    ) -> Any:
        """A boto3 client whose access key id is `account` (Eventyard's way of naming the caller)."""
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=account,
            aws_secret_access_key="test-secret",
            config=BotoConfig(
                retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30
            ),
        )
