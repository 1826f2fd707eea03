// Drives Eventyard with the AWS SDK for JavaScript v3, as an application would, and prints what the SDK
// returned as one JSON document on stdout. tests/api/test_js_sdk.py runs it and checks the answers (also
// against what boto3 sees on the same server).
//
//   EVENTYARD_URL=http://127.0.0.1:4010 CUSTOMER=222222222222 PARTNER=111111111111 node scenario.mjs
import {
  CreateEventBusCommand,
  CreatePartnerEventSourceCommand,
  DescribeEventBusCommand,
  DescribeEventSourceCommand,
  DescribeRuleCommand,
  EventBridgeClient,
  ListEventBusesCommand,
  ListEventSourcesCommand,
  ListTargetsByRuleCommand,
  PutEventsCommand,
  PutPartnerEventsCommand,
  PutRuleCommand,
  PutTargetsCommand,
  ListRulesCommand,
  TestEventPatternCommand,
} from "@aws-sdk/client-eventbridge";

const { EVENTYARD_URL: endpoint, CUSTOMER: customer, PARTNER: partner } = process.env;

function client(account) {
  return new EventBridgeClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: account, secretAccessKey: "anything" },
    maxAttempts: 1, // a retried request would hide the first answer
  });
}

// What the SDK made of an error answer: its class, code, message and HTTP status.
async function failure(promise) {
  try {
    await promise;
  } catch (error) {
    return {
      name: error.name,
      message: error.message,
      fault: error.$fault,
      status: error.$metadata?.httpStatusCode,
      isServiceException: typeof error.$response === "object" || error.$metadata !== undefined,
    };
  }
  return null;
}

const events = client(customer);
const report = {};

// The README's snippet.
report.buses = (await events.send(new ListEventBusesCommand({}))).EventBuses.map((b) => b.Name);

const created = await events.send(new CreateEventBusCommand({ Name: "js-orders", Description: "from JS" }));
const described = await events.send(new DescribeEventBusCommand({ Name: "js-orders" }));
report.bus = {
  arn: created.EventBusArn,
  describedArn: described.Arn,
  description: described.Description,
  creationTimeIsDate: described.CreationTime instanceof Date,
  creationTime: described.CreationTime?.getTime(),
};

const pattern = { source: ["com.example.js"], "detail-type": ["OrderPlaced"], detail: { total: [{ numeric: [">", 100] }] } };
const rule = await events.send(
  new PutRuleCommand({ Name: "big-orders", EventBusName: "js-orders", EventPattern: JSON.stringify(pattern) }),
);
const defaultBus = `arn:aws:events:us-east-1:${customer}:event-bus/default`;
const targets = await events.send(
  new PutTargetsCommand({
    Rule: "big-orders",
    EventBusName: "js-orders",
    Targets: [{ Id: "to-default", Arn: defaultBus }],
  }),
);
const listedTargets = await events.send(new ListTargetsByRuleCommand({ Rule: "big-orders", EventBusName: "js-orders" }));
report.rule = {
  arn: rule.RuleArn,
  failedTargets: targets.FailedEntryCount,
  targets: listedTargets.Targets.map((t) => [t.Id, t.Arn]),
  state: (await events.send(new DescribeRuleCommand({ Name: "big-orders", EventBusName: "js-orders" }))).State,
};

const put = await events.send(
  new PutEventsCommand({
    Entries: [
      { EventBusName: "js-orders", Source: "com.example.js", DetailType: "OrderPlaced", Detail: JSON.stringify({ total: 250 }) },
      { EventBusName: "js-orders", Source: "com.example.js", DetailType: "OrderPlaced", Detail: "{not json" },
      { EventBusName: "js-orders", Source: "com.example.js", DetailType: "OrderPlaced", Detail: JSON.stringify({ total: 5 }), Time: new Date("2026-01-02T03:04:05Z") },
    ],
  }),
);
report.put = { failed: put.FailedEntryCount, entries: put.Entries };

report.testPattern = (
  await events.send(
    new TestEventPatternCommand({
      EventPattern: JSON.stringify(pattern),
      Event: JSON.stringify({
        id: "1", "detail-type": "OrderPlaced", source: "com.example.js", account: customer,
        time: "2026-01-02T03:04:05Z", region: "us-east-1", resources: [], detail: { total: 101 },
      }),
    }),
  )
).Result;

// Paging with NextToken, one rule a page (the SDK has no paginator for EventBridge).
for (const name of ["page-a", "page-b"]) {
  await events.send(new PutRuleCommand({ Name: name, EventBusName: "js-orders", EventPattern: '{"source": ["x"]}' }));
}
report.pages = [];
let token;
do {
  const page = await events.send(new ListRulesCommand({ EventBusName: "js-orders", Limit: 1, NextToken: token }));
  report.pages.push(page.Rules.map((r) => r.Name));
  token = page.NextToken;
} while (token && report.pages.length < 10);

report.errors = {
  missingRule: await failure(events.send(new DescribeRuleCommand({ Name: "nope", EventBusName: "js-orders" }))),
  duplicateBus: await failure(events.send(new CreateEventBusCommand({ Name: "js-orders" }))),
  badPattern: await failure(events.send(new PutRuleCommand({ Name: "bad", EventPattern: '{"source": "not-a-list"}' }))),
  badName: await failure(events.send(new PutRuleCommand({ Name: "no spaces allowed", EventPattern: '{"source": ["x"]}' }))),
};

// The partner flow: the partner offers a source to the customer, who associates a partner bus with it.
const source = `aws.partner/js.example.com/${customer}/orders`;
const saas = client(partner);
const offered = await saas.send(new CreatePartnerEventSourceCommand({ Name: source, Account: customer }));
const seen = await events.send(new ListEventSourcesCommand({ NamePrefix: "aws.partner/js.example.com" }));
const partnerBus = await events.send(new CreateEventBusCommand({ Name: source, EventSourceName: source }));
const active = await events.send(new DescribeEventSourceCommand({ Name: source }));
const partnerPut = await saas.send(
  new PutPartnerEventsCommand({
    Entries: [{ Source: source, DetailType: "OrderShipped", Detail: JSON.stringify({ order: 7 }) }],
  }),
);
report.partner = {
  sourceArn: offered.EventSourceArn,
  seen: seen.EventSources.map((s) => [s.Name, s.State, s.CreatedBy]),
  busArn: partnerBus.EventBusArn,
  stateAfterBus: active.State,
  expirationIsDate: active.ExpirationTime === undefined || active.ExpirationTime instanceof Date,
  put: { failed: partnerPut.FailedEntryCount, entries: partnerPut.Entries },
  // Another account putting on the partner's source: refused entry by entry.
  fromCustomer: (
    await events.send(new PutPartnerEventsCommand({ Entries: [{ Source: source, DetailType: "x", Detail: "{}" }] }))
  ).Entries,
};

process.stdout.write(JSON.stringify(report));
