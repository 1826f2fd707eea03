"""Start Eventyard and moto (server mode) on free loopback ports for the delivery benchmarks."""

from __future__ import annotations

import re
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, name: str, command: list[str], port: int, health: str, log: Path) -> None:
        self.name, self.command, self.port, self.health, self.log_path = name, command, port, health, log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60.0) -> Server:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see {self.log_path}")
            try:
                if httpx.get(self.url + self.health, timeout=1).status_code < 500:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not start in {timeout}s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def client(self, service: str = "events", account: str = "111111111111") -> Any:
        made = boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=account,
            aws_secret_access_key="bench",
            config=BotoConfig(retries={"max_attempts": 1}),
        )
        if self.name == "moto":

            def name_account(request: Any, **_: Any) -> None:
                request.headers["x-moto-account-id"] = account

            made.meta.events.register("before-sign", name_account)
        return made


def eventyard(workdir: Path, *flags: str, store: str | None = None, name: str = "eventyard") -> Server:
    """`eventyard serve` on a free port, logging to `workdir/<name>.log`; its store is `store`, by default a
    SQLite file in `workdir`."""
    port = free_port()
    command = [
        sys.executable, "-m", "eventyard.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--store", store or f"sqlite:///{workdir / 'bench.db'}", "--log-level", "warning", *flags,
    ]  # fmt: skip
    return Server(name, command, port, "/health", workdir / f"{name}.log")


def moto(workdir: Path) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    return Server("moto", command, port, "/moto-api/", workdir / "moto.log")


def metric_total(server: Server, name: str, **labels: str) -> float:
    """The sum of a Prometheus metric over the series whose labels include `labels`."""
    total = 0.0
    for line in httpx.get(server.url + "/metrics", timeout=10).text.splitlines():
        if not line.startswith(name + "{"):
            continue
        series, _, value = line.rpartition(" ")
        found = dict(re.findall(r'(\w+)="([^"]*)"', series))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(value)
    return total
