"""Test support: the real server as a subprocess on a free 127.0.0.1 port, and real boto3 clients for it."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server did not become healthy in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path else ""

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
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
