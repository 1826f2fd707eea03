"""The ASGI application: AWS JSON 1.1 in, the operation's output or an AWS error out. Nothing else leaks."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

import orjson

from eventyard.errors import AwsError
from eventyard.operations.registry import ROUTES, SERVICES, load_all
from eventyard.runtime import Context, Runtime
from eventyard.store.base import StoreUnavailable, Unstorable, again_on_contention
from eventyard.wire import model
from eventyard.wire.identity import identify

log = logging.getLogger("eventyard.wire")

JSON_11 = "application/x-amz-json-1.1"
MAX_BODY = 32 * 1024 * 1024
TARGET_PREFIX = "AWSEvents."
# An operation whose transaction collided with another (PostgreSQL) is run again, this many times at most.

Scope = dict[str, Any]


class App:
    """Pure ASGI: `POST /` is the EventBridge API, other paths are the operator routes."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.operations = load_all()
        runtime.services.extend(factory(runtime) for factory in SERVICES)
        self.known = set(model.operation_names())
        self.ready = False

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request_id = str(uuid.uuid4())
        status, headers, body = await self._handle(scope, receive, request_id)
        raw_headers = [
            (b"x-amzn-requestid", request_id.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.runtime.start()
                except Exception as error:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                self.ready = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.ready = False
                await self.runtime.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: Scope, receive: Any, request_id: str) -> tuple[int, dict[str, str], bytes]:
        try:
            body = await _read_body(receive)
        except AwsError as error:
            return _error(error)
        method, path = scope["method"], scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if method == "POST" and path == "/":
            return await self._api(headers, body, request_id)
        if method == "GET" and path == "/health":
            status = 200 if self.ready else 503
            payload = {"status": "ok" if self.ready else "starting", "node": self.runtime.node_id}
            return status, {"content-type": "application/json"}, orjson.dumps(payload)
        route = ROUTES.get((method, path))
        if route is None:
            return _error(AwsError("UnknownOperationException", f"No route for {method} {path}.", 404))
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        try:
            return await route(self.runtime, query, body)
        except AwsError as error:
            return _error(error)
        except Unstorable:
            return _error(_NUL)
        except Exception:
            log.exception("route %s %s failed", method, path)
            return _error(AwsError("InternalException", "An internal error occurred.", 500))

    async def _api(
        self, headers: dict[str, str], body: bytes, request_id: str
    ) -> tuple[int, dict[str, str], bytes]:
        target = headers.get("x-amz-target", "")
        name = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        if name not in self.known:
            return _error(AwsError("UnknownOperationException", f"Unknown operation {target or '(none)'}."))
        handler = self.operations.get(name)
        if handler is None:
            return _error(
                AwsError(
                    "NotImplementedException",
                    f"The operation {name} is not implemented by Eventyard yet.",
                    501,
                )
            )
        started = time.perf_counter()
        try:
            caller = identify(  # who is calling comes first, as AWS checks the signature first
                headers.get("authorization"),
                self.runtime.config.default_account,
                self.runtime.config.default_region,
            )
            params = _parse_json(body)
            operation = model.operation_model(name)
            params = model.validate_input(operation, params)
            context = Context(caller.account, caller.region, request_id, self.runtime)
            result = await _run(handler, context, params)
            output = model.serialize_output(operation.output_shape, result or {}) or {}
        except AwsError as error:
            return _error(error)
        except Unstorable as error:
            log.info("%s refused: %s", name, error)
            return _error(_NUL)
        except StoreUnavailable as error:
            log.warning("%s failed: store unavailable: %s", name, error)
            return _error(AwsError("InternalException", "The store is unavailable; try again.", 500))
        except Exception:
            log.exception("%s failed (request %s)", name, request_id)
            return _error(
                AwsError("InternalException", f"An internal error occurred (request {request_id}).", 500)
            )
        log.debug("%s answered in %.1f ms", name, (time.perf_counter() - started) * 1000)
        return 200, {"content-type": JSON_11}, orjson.dumps(output)


_NUL = AwsError("ValidationException", "Strings cannot contain the NUL character (U+0000).")


async def _run(handler: Any, context: Context, params: dict[str, Any]) -> Any:
    """Call the operation; on Contention (its transaction was rolled back) call it again."""
    return await again_on_contention(lambda: handler(context, params))


def _parse_json(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        params = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise AwsError("SerializationException", f"The request body is not valid JSON: {error}.") from None
    if not isinstance(params, dict):
        raise AwsError("SerializationException", "The request body must be a JSON object.")
    return params


async def _read_body(receive: Any) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise AwsError("RequestEntityTooLarge", f"The request body exceeds {MAX_BODY} bytes.", 413)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _error(error: AwsError) -> tuple[int, dict[str, str], bytes]:
    body = orjson.dumps({"__type": error.code, "message": error.message})
    return error.status, {"content-type": JSON_11, "x-amzn-errortype": error.code}, body
