"""The `eventyard` command: `eventyard serve [flags]`; every flag can also come from EVENTYARD_*."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import logging
import signal
import sys
from typing import Any

from eventyard.config import Config, ConfigError, env
from eventyard.core.envelope import CLASSIC_MAX_ENTRY_SIZE
from eventyard.store import store_kind


def _aws_endpoint(value: str) -> tuple[str, str]:
    service, sep, url = value.partition("=")
    if not sep or not service or not url:
        raise argparse.ArgumentTypeError("expected SERVICE=URL, e.g. sqs=http://127.0.0.1:5000")
    return service, url


def _number(
    kind: type[int] | type[float], minimum: float, above: bool = False, maximum: float = float("inf")
) -> Any:
    """An argparse `type` for a number of `kind` at least `minimum` (above it, if `above`) and at most
    `maximum`. argparse applies it to string defaults too, so a bad EVENTYARD_* value is reported like a bad
    flag (usage, exit status 2), not as a traceback."""
    name = "an integer" if kind is int else "a number"
    bound = f"greater than {minimum:g}" if above else f"at least {minimum:g}"
    if maximum != float("inf"):
        bound += f" and at most {maximum:g}"

    def convert(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {name}, got {text!r}") from None
        if not minimum <= value <= maximum or (above and value == minimum):  # NaN fails the first test
            raise argparse.ArgumentTypeError(f"expected {name} {bound}, got {text!r}")
        return value

    convert.__name__ = kind.__name__  # argparse names the type in its messages
    return convert


def _store_url(text: str) -> str:
    if text:  # empty: the default SQLite file
        try:
            store_kind(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _env_endpoints(top: argparse.ArgumentParser) -> list[tuple[str, str]]:
    """EVENTYARD_AWS_ENDPOINTS (sqs=URL,sns=URL): the --aws-endpoint values that come before any flag's."""
    try:
        return [_aws_endpoint(v) for v in (env("AWS_ENDPOINTS") or "").split(",") if v]
    except argparse.ArgumentTypeError as error:
        top.error(f"EVENTYARD_AWS_ENDPOINTS: {error}")


def _bool(value: str | None) -> bool:
    return (value or "").lower() in {"1", "true", "yes", "on"}


def parser() -> argparse.ArgumentParser:
    defaults = Config()
    top = argparse.ArgumentParser(prog="eventyard", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the EventBridge-compatible server")
    serve.add_argument(
        "--host", default=env("HOST", defaults.host), help="address to listen on (EVENTYARD_HOST)"
    )
    serve.add_argument(
        "--port",
        type=_number(int, 0, maximum=65535),
        default=env("PORT", str(defaults.port)),
        help="port, 0 for any free one (EVENTYARD_PORT)",
    )
    serve.add_argument(
        "--store",
        type=_store_url,
        default=env("STORE", defaults.store),
        help="memory | sqlite:///relative.db | sqlite:////absolute.db | postgresql://... "
        "(EVENTYARD_STORE; default: a SQLite file under ./.eventyard/)",
    )
    serve.add_argument(
        "--default-account",
        default=env("DEFAULT_ACCOUNT", defaults.default_account),
        help="account of callers whose access key id is not 12 digits (EVENTYARD_DEFAULT_ACCOUNT)",
    )
    serve.add_argument(
        "--default-region",
        default=env("DEFAULT_REGION", defaults.default_region),
        help="region of unsigned requests (EVENTYARD_DEFAULT_REGION)",
    )
    serve.add_argument(
        "--max-entry-size",
        type=_number(int, 1),
        default=env("MAX_ENTRY_SIZE", str(defaults.max_entry_size)),
        help=f"PutEvents/PutPartnerEvents size limit in bytes, summed over a request's entries as AWS counts "
        f"it; {CLASSIC_MAX_ENTRY_SIZE} gives the classic limit (EVENTYARD_MAX_ENTRY_SIZE)",
    )
    serve.add_argument(
        "--aws-endpoint-url",
        default=env("AWS_ENDPOINT_URL"),
        help="endpoint for every AWS service target, e.g. moto (EVENTYARD_AWS_ENDPOINT_URL)",
    )
    serve.add_argument(
        "--aws-endpoint",
        type=_aws_endpoint,
        action="append",
        default=_env_endpoints(top),
        metavar="SERVICE=URL",
        help="endpoint for one AWS service, repeatable (EVENTYARD_AWS_ENDPOINTS=sqs=URL,sns=URL)",
    )
    serve.add_argument(
        "--retry-base-seconds",
        type=_number(float, 0, above=True),
        default=env("RETRY_BASE_SECONDS", str(defaults.retry_base_seconds)),
        help="first delivery retry delay; later ones back off exponentially (EVENTYARD_RETRY_BASE_SECONDS)",
    )
    serve.add_argument(
        "--api-destination-timeout",
        type=_number(float, 0, above=True),
        default=env("API_DESTINATION_TIMEOUT", str(defaults.api_destination_timeout)),
        help="seconds an API destination has to answer, 5 as in AWS (EVENTYARD_API_DESTINATION_TIMEOUT)",
    )
    serve.add_argument(
        "--delivery-workers",
        type=_number(int, 1),
        default=env("DELIVERY_WORKERS", str(defaults.delivery_workers)),
        help="targets this node invokes at once (EVENTYARD_DELIVERY_WORKERS)",
    )
    serve.add_argument(
        "--delivery-target-concurrency",
        type=_number(int, 1),
        default=env("DELIVERY_TARGET_CONCURRENCY", str(defaults.delivery_target_concurrency)),
        help="invocations of one target at once (EVENTYARD_DELIVERY_TARGET_CONCURRENCY)",
    )
    serve.add_argument(
        "--delivery-lease-seconds",
        type=_number(float, 0, above=True),
        default=env("DELIVERY_LEASE_SECONDS", str(defaults.delivery_lease_seconds)),
        help="deliveries held by a node that stopped answering are taken over after this long "
        "(EVENTYARD_DELIVERY_LEASE_SECONDS)",
    )
    serve.add_argument(
        "--delivery-retention-seconds",
        type=_number(float, 0),
        default=env("DELIVERY_RETENTION_SECONDS", str(defaults.delivery_retention_seconds)),
        help="finished deliveries and their events are kept this long for GET /_eventyard/deliveries "
        "(EVENTYARD_DELIVERY_RETENTION_SECONDS)",
    )
    serve.add_argument(
        "--test-clock",
        action="store_true",
        default=_bool(env("TEST_CLOCK")),
        help="enable POST /_eventyard/clock to move the server's clock forward, for tests (EVENTYARD_TEST_CLOCK)",
    )
    serve.add_argument(
        "--partner-source-pending-days",
        type=_number(float, 0, above=True),
        default=env("PARTNER_SOURCE_PENDING_DAYS", str(defaults.partner_source_pending_days)),
        help="a new partner event source left PENDING this long is deleted; 7 in AWS's partner guide "
        "(EVENTYARD_PARTNER_SOURCE_PENDING_DAYS)",
    )
    serve.add_argument(
        "--partner-source-deactivated-days",
        type=_number(float, 0, above=True),
        default=env("PARTNER_SOURCE_DEACTIVATED_DAYS", str(defaults.partner_source_deactivated_days)),
        help="a deactivated partner event source is deleted after this long; 14 in AWS's API reference "
        "(EVENTYARD_PARTNER_SOURCE_DEACTIVATED_DAYS)",
    )
    serve.add_argument(
        "--node-id",
        default=env("NODE_ID", ""),
        help="name of this node in /health and in the deliveries it holds (EVENTYARD_NODE_ID)",
    )
    serve.add_argument(
        "--log-level",
        type=str.lower,
        choices=["debug", "info", "warning", "error"],
        default=env("LOG_LEVEL", defaults.log_level),
        help="debug|info|warning|error (EVENTYARD_LOG_LEVEL)",
    )
    return top


def config_from_args(args: argparse.Namespace) -> Config:
    """Every option whose name is a Config field sets it; the repeated --aws-endpoint makes aws_endpoints."""
    given = vars(args)
    settings = {field.name: given[field.name] for field in dataclasses.fields(Config) if field.name in given}
    return Config(**settings, aws_endpoints=dict(args.aws_endpoint))


def serve(config: Config) -> None:
    import uvicorn

    from eventyard.runtime import Runtime
    from eventyard.wire.app import App

    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        app = App(Runtime.from_config(config))
    except ConfigError as error:  # as argparse reports a bad flag
        print(f"eventyard serve: error: {error}", file=sys.stderr)
        sys.exit(2)
    # What start-up loaded (botocore's model, compiled schemas) lives as long as the process: keep it out of
    # the collector's scans, so that full collections stay short. (Raising the thresholds instead makes
    # collections rarer but longer: pauses of 50-150 ms under load, measured.)
    gc.collect()
    gc.freeze()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            lifespan="on",
            log_level=config.log_level.lower(),
            access_log=False,
            timeout_graceful_shutdown=10,
            loop="uvloop",
            http="httptools",
        )
    )
    # uvicorn finishes in-flight requests and runs the lifespan shutdown (the store is closed), then re-raises
    # the signal it caught; answering that re-raise with exit status 0 marks the stop as the clean one it was.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.run()


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.command == "serve":
        serve(config_from_args(args))


if __name__ == "__main__":
    main()
