"""ARNs in the partition of the caller's Region: a client configured for cn-north-1 gets `arn:aws-cn:...`, one
for us-gov-west-1 `arn:aws-us-gov:...`, as AWS answers; ARNs given in that partition are accepted, and an ARN
whose partition is not its Region's is refused as a malformed one is."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

import pytest

from tests.api.delivery_helpers import deliveries_of, entry, events_on, settled
from tests.api.helpers import refused
from tests.fixtures_aws import MotoServer, receive_all
from tests.support import ServerProcess, new_account

REGIONS = pytest.mark.parametrize(
    ("region", "partition"), [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")]
)


def not_in_correct_format(arn: str) -> tuple[str, str, int]:
    return (
        "ValidationException",
        f"Parameter {arn} is not valid. Reason: Provided Arn is not in correct format.",
        400,
    )


@REGIONS
def test_buses_rules_and_forwarding_in_the_partition(client_for, server, region, partition):
    account = new_account()
    events = client_for(account, region=region)
    prefix = f"arn:{partition}:events:{region}:{account}"
    sink = events.create_event_bus(Name="sink")["EventBusArn"]
    assert sink == f"{prefix}:event-bus/sink"
    assert events.describe_event_bus()["Arn"] == f"{prefix}:event-bus/default"
    rule = events.put_rule(Name="fwd", EventPattern='{"source": ["com.example.shop"]}')["RuleArn"]
    assert rule == f"{prefix}:rule/fwd"
    assert events.put_targets(Rule="fwd", Targets=[{"Id": "t", "Arn": sink}])["FailedEntryCount"] == 0
    assert events.describe_rule(Name="fwd")["Arn"] == rule
    assert events.list_targets_by_rule(Rule="fwd")["Targets"] == [{"Id": "t", "Arn": sink}]
    # the bus by its ARN, as EventBusName, and a rule on it
    on_sink = events.put_rule(Name="on-sink", EventBusName=sink, EventPattern='{"source": ["x"]}')["RuleArn"]
    assert on_sink == f"{prefix}:rule/sink/on-sink"
    assert events.describe_rule(Name="on-sink", EventBusName=sink)["Arn"] == on_sink
    events.tag_resource(ResourceARN=on_sink, Tags=[{"Key": "k", "Value": "v"}])
    assert events.list_tags_for_resource(ResourceARN=on_sink)["Tags"] == [{"Key": "k", "Value": "v"}]

    result = events.put_events(Entries=[entry()])
    assert result["FailedEntryCount"] == 0, result
    event_id = result["Entries"][0]["EventId"]
    assert settled(server, event_id, 1) == [("default", "t", "delivered")]
    (record,) = deliveries_of(server, event_id)["deliveries"]
    assert (record["rule"], record["target_arn"]) == (rule, sink)
    assert set(events_on(server, event_id)) == {f"{prefix}:event-bus/default"}


@REGIONS
def test_an_arn_whose_partition_is_not_its_regions_is_refused(client_for, region, partition):
    account = new_account()
    events = client_for(account, region=region)
    events.create_event_bus(Name="sink")
    events.put_rule(Name="fwd", EventPattern='{"source": ["com.example.shop"]}')
    wrong = f"arn:aws:events:{region}:{account}:event-bus/sink"  # the Region is not in the aws partition
    assert refused(events.put_rule, Name="r", EventBusName=wrong, EventPattern="{}") == not_in_correct_format(
        wrong
    )
    assert refused(events.describe_event_bus, Name=wrong) == not_in_correct_format(wrong)
    assert refused(
        events.put_targets, Rule="fwd", Targets=[{"Id": "t", "Arn": wrong}]
    ) == not_in_correct_format(wrong)
    queue = f"arn:aws:sqs:{region}:{account}:orders"
    assert refused(
        events.put_targets, Rule="fwd", Targets=[{"Id": "t", "Arn": queue}]
    ) == not_in_correct_format(queue)
    # and the other way round: an ARN of this partition in a Region of another
    elsewhere = f"arn:{partition}:events:us-east-1:{account}:event-bus/sink"
    assert refused(events.put_targets, Rule="fwd", Targets=[{"Id": "t", "Arn": elsewhere}]) == (
        not_in_correct_format(elsewhere)
    )
    rule = f"arn:aws:events:{region}:{account}:rule/fwd"
    code, _, status = refused(events.tag_resource, ResourceARN=rule, Tags=[{"Key": "k", "Value": "v"}])
    assert (code, status) == ("ValidationException", 400)
    assert events.list_targets_by_rule(Rule="fwd")["Targets"] == []


@REGIONS
def test_managing_another_accounts_bus_names_the_caller_in_the_partition(client_for, region, partition):
    account, other = new_account(), new_account()
    events = client_for(account, region=region)
    theirs = f"arn:{partition}:events:{region}:{other}:event-bus/default"
    code, message, status = refused(
        events.put_rule, Name="r", EventBusName=theirs, EventPattern='{"source": ["a"]}'
    )
    assert (code, status) == ("AccessDeniedException", 400)
    assert message.startswith(f"User: arn:{partition}:iam::{account}:root is not authorized")


@REGIONS
def test_connections_and_api_destinations_in_the_partition(client_for, region, partition):
    account = new_account()
    events = client_for(account, region=region)
    resource = f"arn:{partition}:vpc-lattice:{region}:{account}:resourceconfiguration/rcfg-0123456789abcdef0"
    connection = events.create_connection(
        Name="hook",
        AuthorizationType="API_KEY",
        AuthParameters={
            "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "secret"},
            "ConnectivityParameters": {"ResourceParameters": {"ResourceConfigurationArn": resource}},
        },
    )["ConnectionArn"]
    assert re.fullmatch(
        rf"arn:{partition}:events:{region}:{account}:connection/hook/[0-9a-f-]{{36}}", connection
    )
    described = events.describe_connection(Name="hook")
    uid = connection.rsplit("/", 1)[1]
    assert re.fullmatch(
        rf"arn:{partition}:secretsmanager:{region}:{account}:secret:events!connection/hook/{uid}-[A-Za-z0-9]{{6}}",
        described["SecretArn"],
    )
    association = described["AuthParameters"]["ConnectivityParameters"]["ResourceParameters"]
    assert re.fullmatch(
        rf"arn:{partition}:vpc-lattice:{region}:{account}:servicenetworkresourceassociation/snra-[0-9a-f]{{17}}",
        association["ResourceAssociationArn"],
    )
    destination = events.create_api_destination(
        Name="hook", ConnectionArn=connection, InvocationEndpoint="https://example.com/", HttpMethod="POST"
    )["ApiDestinationArn"]
    assert re.fullmatch(
        rf"arn:{partition}:events:{region}:{account}:api-destination/hook/[0-9a-f-]{{36}}", destination
    )
    assert events.describe_api_destination(Name="hook")["ConnectionArn"] == connection
    # the connection's ARN with the aws partition names no connection
    wrong = connection.replace(f"arn:{partition}:", "arn:aws:", 1)
    code, _, status = refused(
        events.create_api_destination,
        Name="other",
        ConnectionArn=wrong,
        InvocationEndpoint="https://example.com/",
        HttpMethod="POST",
    )
    assert (code, status) == ("ResourceNotFoundException", 400)


@REGIONS
def test_a_partner_event_source_in_the_partition(client_for, region, partition):
    partner, customer = client_for(region=region), new_account()
    customer_events = client_for(customer, region=region)
    name = f"aws.partner/saas-{partition}.example.com/{customer}/orders"
    created = partner.create_partner_event_source(Name=name, Account=customer)
    assert created["EventSourceArn"] == f"arn:{partition}:events:{region}::event-source/{name}"
    assert customer_events.describe_event_source(Name=name)["Arn"] == created["EventSourceArn"]
    bus = customer_events.create_event_bus(Name=name, EventSourceName=name)["EventBusArn"]
    assert bus == f"arn:{partition}:events:{region}:{customer}:event-bus/{name}"
    rule = customer_events.put_rule(Name="r", EventBusName=bus, EventPattern=json.dumps({"source": [name]}))
    assert rule["RuleArn"] == f"arn:{partition}:events:{region}:{customer}:rule/{name}/r"


@pytest.fixture(scope="module")
def with_moto(new_store_url: Callable[[], str], moto_server: MotoServer) -> Iterator[ServerProcess]:
    """A server that reaches SQS on moto."""
    process = ServerProcess(new_store_url(), "--aws-endpoint-url", moto_server.url).start()
    yield process
    process.stop()


@REGIONS
def test_sqs_targets_and_dead_letter_queues_in_the_partition(with_moto, moto_server, region, partition):
    account = new_account()
    events = with_moto.client(account=account, region=region)
    sqs = moto_server.sqs(account, region)
    urls = {name: sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("orders", "dlq")}
    queue = f"arn:{partition}:sqs:{region}:{account}:orders"
    dlq = f"arn:{partition}:sqs:{region}:{account}:dlq"
    function = f"arn:{partition}:lambda:{region}:{account}:function:f"  # a target Eventyard cannot invoke
    events.put_rule(Name="shop", EventPattern='{"source": ["com.example.shop"]}')
    events.put_targets(
        Rule="shop",
        Targets=[
            {"Id": "queue", "Arn": queue},
            {"Id": "fn", "Arn": function, "DeadLetterConfig": {"Arn": dlq}},
            # a dead-letter queue ARN whose partition is not its Region's names no queue
            {
                "Id": "lost",
                "Arn": function,
                "DeadLetterConfig": {"Arn": f"arn:aws:sqs:{region}:{account}:dlq"},
            },
        ],
    )
    result = events.put_events(Entries=[entry()])
    assert result["FailedEntryCount"] == 0, result
    event_id = result["Entries"][0]["EventId"]
    assert settled(with_moto, event_id, 3) == [
        ("default", "fn", "dead-lettered"),
        ("default", "lost", "failed"),
        ("default", "queue", "delivered"),
    ]
    (message,) = receive_all(sqs, urls["orders"], 1)
    assert json.loads(message["Body"])["id"] == event_id
    (dead,) = receive_all(sqs, urls["dlq"], 1)
    assert (
        dead["MessageAttributes"]["RULE_ARN"]["StringValue"]
        == f"arn:{partition}:events:{region}:{account}:rule/shop"
    )
    lost = next(d for d in deliveries_of(with_moto, event_id)["deliveries"] if d["target_id"] == "lost")
    assert "is not the ARN of an SQS queue" in lost["last_error"]
