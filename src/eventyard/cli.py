"""The `eventyard` command: `eventyard serve [flags]`; every flag can also come from EVENTYARD_*."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import logging
import signal
import sys

from eventyard.config import Config, env
from eventyard.core.envelope import CLASSIC_MAX_ENTRY_SIZE


def _aws_endpoint(value: str) -> tuple[str, str]:
    service, sep, url = value.partition("=")
    if not sep or not service or not url:
        raise argparse.ArgumentTypeError("expected SERVICE=URL, e.g. sqs=http://127.0.0.1:5000")
    return service, url


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
        "--port", type=int, default=int(env("PORT", str(defaults.port)) or 0), help="port (EVENTYARD_PORT)"
    )
    serve.add_argument(
        "--store",
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
        type=int,
        default=int(env("MAX_ENTRY_SIZE", str(defaults.max_entry_size)) or 0),
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
        default=[_aws_endpoint(v) for v in (env("AWS_ENDPOINTS") or "").split(",") if v],
        metavar="SERVICE=URL",
        help="endpoint for one AWS service, repeatable (EVENTYARD_AWS_ENDPOINTS=sqs=URL,sns=URL)",
    )
    serve.add_argument(
        "--retry-base-seconds",
        type=float,
        default=float(env("RETRY_BASE_SECONDS", str(defaults.retry_base_seconds)) or 1),
        help="first delivery retry delay; later ones back off exponentially (EVENTYARD_RETRY_BASE_SECONDS)",
    )
    serve.add_argument(
        "--api-destination-timeout",
        type=float,
        default=float(env("API_DESTINATION_TIMEOUT", str(defaults.api_destination_timeout)) or 5),
        help="seconds an API destination has to answer, 5 as in AWS (EVENTYARD_API_DESTINATION_TIMEOUT)",
    )
    serve.add_argument(
        "--delivery-workers",
        type=int,
        default=int(env("DELIVERY_WORKERS", str(defaults.delivery_workers)) or 1),
        help="targets this node invokes at once (EVENTYARD_DELIVERY_WORKERS)",
    )
    serve.add_argument(
        "--delivery-target-concurrency",
        type=int,
        default=int(env("DELIVERY_TARGET_CONCURRENCY", str(defaults.delivery_target_concurrency)) or 1),
        help="invocations of one target at once (EVENTYARD_DELIVERY_TARGET_CONCURRENCY)",
    )
    serve.add_argument(
        "--delivery-lease-seconds",
        type=float,
        default=float(env("DELIVERY_LEASE_SECONDS", str(defaults.delivery_lease_seconds)) or 60),
        help="deliveries held by a node that stopped answering are taken over after this long "
        "(EVENTYARD_DELIVERY_LEASE_SECONDS)",
    )
    serve.add_argument(
        "--delivery-retention-seconds",
        type=float,
        default=float(env("DELIVERY_RETENTION_SECONDS", str(defaults.delivery_retention_seconds)) or 0),
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
        type=float,
        default=float(env("PARTNER_SOURCE_PENDING_DAYS", str(defaults.partner_source_pending_days)) or 0),
        help="a new partner event source left PENDING this long is deleted; 7 in AWS's partner guide "
        "(EVENTYARD_PARTNER_SOURCE_PENDING_DAYS)",
    )
    serve.add_argument(
        "--partner-source-deactivated-days",
        type=float,
        default=float(
            env("PARTNER_SOURCE_DEACTIVATED_DAYS", str(defaults.partner_source_deactivated_days)) or 0
        ),
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
        default=env("LOG_LEVEL", defaults.log_level),
        help="debug|info|warning (EVENTYARD_LOG_LEVEL)",
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
    app = App(Runtime.from_config(config))
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
