"""`eventyard serve` flags and their EVENTYARD_* variables: defaults, precedence, and bad values refused with
a usage error (exit status 2) rather than a traceback."""

from __future__ import annotations

import pytest

from eventyard import cli
from eventyard.config import Config


@pytest.fixture(autouse=True)
def no_eventyard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("EVENTYARD_"):
            monkeypatch.delenv(name)


def config(*flags: str) -> Config:
    return cli.config_from_args(cli.parser().parse_args(["serve", *flags]))


def refused(capsys: pytest.CaptureFixture[str], *flags: str) -> str:
    with pytest.raises(SystemExit) as exited:
        cli.parser().parse_args(["serve", *flags])
    assert exited.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_the_defaults_are_the_configs():
    assert config() == Config()


def test_a_variable_sets_a_default_and_a_flag_wins(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EVENTYARD_PORT", "5000")
    monkeypatch.setenv("EVENTYARD_DELIVERY_LEASE_SECONDS", "2.5")
    monkeypatch.setenv("EVENTYARD_LOG_LEVEL", "WARNING")
    got = config()
    assert (got.port, got.delivery_lease_seconds, got.log_level) == (5000, 2.5, "warning")
    assert config("--port", "6000").port == 6000


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch):
    for name in ("PORT", "DELIVERY_WORKERS", "STORE", "LOG_LEVEL", "AWS_ENDPOINTS"):
        monkeypatch.setenv(f"EVENTYARD_{name}", "")
    assert config() == Config()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--port", "abc"), "argument --port: expected an integer, got 'abc'"),
        (
            ("--port", "65536"),
            "argument --port: expected an integer at least 0 and at most 65535, got '65536'",
        ),
        (("--delivery-workers", "0"), "argument --delivery-workers: expected an integer at least 1, got '0'"),
        (
            ("--delivery-lease-seconds", "0"),
            "argument --delivery-lease-seconds: expected a number greater than 0",
        ),
        (("--retry-base-seconds", "nan"), "argument --retry-base-seconds: expected a number greater than 0"),
        (
            ("--delivery-retention-seconds", "-1"),
            "argument --delivery-retention-seconds: expected a number at least 0",
        ),
        (("--max-entry-size", "1.5"), "argument --max-entry-size: expected an integer, got '1.5'"),
        (("--store", "mysql://db"), "argument --store: unsupported store URL: 'mysql://db'"),
        (("--log-level", "loud"), "argument --log-level: invalid choice: 'loud'"),
        (("--aws-endpoint", "sqs"), "argument --aws-endpoint: expected SERVICE=URL"),
    ],
)
def test_bad_flags_are_usage_errors(capsys: pytest.CaptureFixture[str], flags: tuple[str, ...], message: str):
    assert message in refused(capsys, *flags)


def test_bad_variables_are_usage_errors(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EVENTYARD_PORT", "eighty")
    assert "argument --port: expected an integer, got 'eighty'" in refused(capsys)
    monkeypatch.delenv("EVENTYARD_PORT")
    monkeypatch.setenv("EVENTYARD_AWS_ENDPOINTS", "sqs=http://127.0.0.1:1,sns")
    assert "EVENTYARD_AWS_ENDPOINTS: expected SERVICE=URL" in refused(capsys)


def test_good_values_in_range_are_taken(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EVENTYARD_AWS_ENDPOINTS", "sqs=http://127.0.0.1:1")
    got = config(
        "--port", "0", "--delivery-retention-seconds", "0", "--store", "postgresql://u@127.0.0.1:1/db",
        "--aws-endpoint", "sns=http://127.0.0.1:2",
    )  # fmt: skip
    assert (got.port, got.delivery_retention_seconds, got.store) == (0, 0.0, "postgresql://u@127.0.0.1:1/db")
    assert got.aws_endpoints == {"sqs": "http://127.0.0.1:1", "sns": "http://127.0.0.1:2"}


@pytest.mark.parametrize("value", ["ten", "0", "-1", "nan", "inf"])
def test_a_bad_postgresql_setting_stops_the_server_before_it_starts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, value: str
):
    monkeypatch.setenv("EVENTYARD_PG_STATEMENT_TIMEOUT", value)
    with pytest.raises(SystemExit) as exited:  # before any connection: nothing listens on port 1
        cli.main(["serve", "--store", "postgresql://nobody@127.0.0.1:1/none"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip() == (
        f"eventyard serve: error: EVENTYARD_PG_STATEMENT_TIMEOUT: expected a number greater than 0, got {value!r}"
    )
