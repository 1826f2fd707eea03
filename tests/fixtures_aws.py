"""Stand-ins for the outside world, all on 127.0.0.1: moto in server mode as AWS, and an HTTP receiver the
test scripts (API destination endpoints, OAuth token endpoints).

`moto_server` is one moto process per test session (per xdist worker); `receiver` a fresh receiver per test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
from botocore.config import Config as BotoConfig

from tests.support import free_port, stop_process, wait_until_serving


class MotoServer:
    """`moto_server` on a free loopback port; `sqs(account)` is a boto3 client acting for that account."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> MotoServer:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_serving(
                "moto", self.process, f"{self.url}/moto-api/", timeout, lambda status: status < 500
            )
        except RuntimeError:
            self.process = None
            raise
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, 10)
            self.process = None

    def client(self, service: str, account: str, region: str = "us-east-1") -> Any:
        made = boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=account,
            aws_secret_access_key="test-secret",
            config=BotoConfig(retries={"max_attempts": 1, "mode": "standard"}),
        )

        def name_account(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account

        made.meta.events.register("before-sign", name_account)
        return made

    def sqs(self, account: str, region: str = "us-east-1") -> Any:
        return self.client("sqs", account, region)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


def receive_all(sqs: Any, queue_url: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Poll a queue until `count` messages arrived (or the timeout); return them with their attributes."""
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(messages) < count and time.monotonic() < deadline:
        got = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        ).get("Messages", [])
        for message in got:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        messages += got
        if not got:
            time.sleep(0.05)
    return messages


@dataclass
class Reply:
    """One scripted answer of the receiver."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic()
    header_lines: list[tuple[str, str]] = field(default_factory=list)  # every header line, in order

    def header_values(self, name: str) -> list[str]:
        """Every value sent for the header `name` (any case): more than one if it came more than once."""
        return [value for key, value in self.header_lines if key.lower() == name.lower()]

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))


class _ReceiverServer(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: a burst of simultaneous deliveries (a rate limit granting
    # a batch of tokens at once) overflowed it on a busy machine, and a refused connection failed the test.
    request_queue_size = 128


class Receiver:
    """A real HTTP server on 127.0.0.1 that records every request and answers from a per-path script
    (then with the path's default reply, 200 if none)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.scripts: dict[str, list[Reply]] = {}
        self.defaults: dict[str, Reply] = {}
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if len(body) < length:
                    # The sender died mid-request (a node killed by a test): a truncated request is not a
                    # delivery, as no real server would take it for one.
                    self.close_connection = True
                    return
                parts = urlsplit(self.path)
                with receiver._changed:
                    receiver.requests.append(
                        Received(
                            method=self.command,
                            path=parts.path,
                            query=parse_qsl(parts.query, keep_blank_values=True),
                            headers={k.lower(): v for k, v in self.headers.items()},
                            body=body,
                            at=time.monotonic(),
                            header_lines=list(self.headers.items()),
                        )
                    )
                    receiver._changed.notify_all()
                    script = receiver.scripts.get(parts.path)
                    reply = script.pop(0) if script else receiver.defaults.get(parts.path, Reply())
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body
                if not isinstance(payload, bytes):
                    payload = json.dumps(payload).encode()
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

        self.server = _ReceiverServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def script(self, path: str, *replies: Reply) -> None:
        with self._changed:
            self.scripts.setdefault(path, []).extend(replies)

    def default(self, path: str, reply: Reply) -> None:
        with self._changed:
            self.defaults[path] = reply

    def at(self, path: str) -> list[Received]:
        with self._changed:
            return [request for request in self.requests if request.path == path]

    def wait_for(self, path: str, count: int, timeout: float = 10.0) -> list[Received]:
        """The requests to `path` once there are `count` of them (fails the test after `timeout`)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [request for request in self.requests if request.path == path]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(found)} of {count} requests to {path} arrived in {timeout}s")
                self._changed.wait(left)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()
