"""Deployment, proven offline: what `chalice package` builds from .chalice/ is what the code needs.

One package per stage per session (deploy/package.sh, the script both deploy paths use), then:
cfn-lint with the serverless rules on the SAM template and on its offline SAM transform; the API's
timeout; the environment; the handler's rule on the publisher's bus, with real simulator events through
a moto bus into SQS; the IAM policy against the AWS calls an end-to-end run makes; the archive.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
import zipfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chalicelib import commands, events, export_jobs, exports, local_runtime, ocpp_frames, settings, simulator, storage
from chalicelib.storage import files
from deploy import templates
from tests.backends import fresh_tables
from tests.support import ROOT

STAGES = ("dev", "prod")
API_GATEWAY_LIMIT_SECONDS = 29
MAX_ARCHIVE_BYTES = 3 * 1024 * 1024  # measured 1.2 MB; Lambda's own limit is 50 MB
DASHBOARD_FILES = sorted(path.name for path in (ROOT / "static").iterdir() if path.is_file())
# Variables the code reads that are deliberately left unset in Lambda, and why.
UNSET_IN_LAMBDA = {
    "SIMULATOR_SEED": "unset: each deployment's fleet behaves differently",
    "SIMULATOR_INTERVAL_SECONDS": "the local ticker only (Lambda ticks on the schedule)",
    "OCPP_PORT": "the OCPP WebSocket gateway, which runs outside Lambda",
    "OCPP_HOST": "the OCPP WebSocket gateway, which runs outside Lambda",
    "OUTBOX_POLL_SECONDS": "the OCPP WebSocket gateway, which runs outside Lambda",
    "OCPP_MAX_FRAME_BYTES": "its default, 8 MiB, everywhere (API Gateway and Lambda cap POST /ocpp bodies lower)",
    "DIAGNOSTICS_DIR": "the app's own upload route: a deployed stage's chargers upload into its bucket",
    "DIAGNOSTICS_MAX_BYTES": "the app's own upload route: a deployed stage's chargers upload into its bucket",
    "EXPORT_PART_BYTES": "its default, 5 MiB: S3's smallest part but the last (lower only offline and in tests)",
    "EXPORT_INLINE_SECONDS": "its default, 8 s: well under the API function's 25 s (past it the export is a job)",
}
# Set by the merge template (not config.json), so `chalice deploy` keeps the stage's derived default.
TEMPLATE_ONLY = {"PAGINATION_SECRET"}
RESOURCE_VARIABLES = {
    "CHARGE_POINTS_TABLE": "ChargePointsTable",
    "SESSIONS_TABLE": "SessionsTable",
    "SIMULATOR_TABLE": "SimulatorTable",
    "STATS_TABLE": "StatsTable",
    "COMMANDS_TABLE": "CommandsTable",
    "RESERVATIONS_TABLE": "ReservationsTable",
    "ID_TAGS_TABLE": "IdTagsTable",
    "HISTORY_TABLE": "HistoryTable",
    "SITES_TABLE": "SitesTable",
    "EVENT_BUS_NAME": "EventBus",
    "DIAGNOSTICS_BUCKET": "DiagnosticsBucket",
}


def _sam(packaged, stage: str) -> dict:
    return json.loads((packaged[stage] / "sam.json").read_text())


def _functions(template: dict) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def _lint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from cfnlint.runner import main; sys.exit(main())",
            "-a",
            "cfn_lint_serverless.rules",
            "--",
            str(path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


# --- the package and the linters ------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("template", ["sam.json", "cfn.json"])
def test_cfn_lint_with_serverless_rules_finds_nothing(packaged, stage, template):
    result = _lint(packaged[stage] / template)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_data_stack_of_the_chalice_deploy_path_lints_clean(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps(templates.data_template()))
    result = _lint(path)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_linter_would_catch_a_broken_template(packaged, tmp_path):
    """The clean results above mean something: a wrong logical id in the merge is reported."""
    template = _sam(packaged, "dev")
    template["Resources"]["APIHandlerRole"] = {"Properties": {"Policies": []}}  # it is ApiHandlerRole
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(template))
    assert "E3001" in _lint(path).stdout


@pytest.mark.parametrize("stage", STAGES)
def test_the_api_function_answers_within_api_gateways_limit(packaged, stage):
    functions = _functions(_sam(packaged, stage))
    assert functions["APIHandler"]["Properties"]["Timeout"] < API_GATEWAY_LIMIT_SECONDS
    # The export worker writes what the API could not answer in time: Lambda's longest run.
    worker = functions["ExportWorker"]["Properties"]
    assert (worker["Timeout"], worker["MemorySize"]) == (900, 1024)
    assert worker["Role"] == {"Fn::GetAtt": ["ExportWorkerRole", "Arn"]}
    assert worker["Events"]["ExportWorkerEvent"]["Properties"]["Pattern"] == events.EXPORT_PATTERN


@pytest.mark.parametrize("stage", STAGES)
def test_every_event_source_has_a_dead_letter_queue_and_every_async_function_a_failure_destination(packaged, stage):
    resources = json.loads((packaged[stage] / "cfn.json").read_text())["Resources"]
    rules = [r for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    assert len(rules) == 7  # the two schedules and the five bus rules
    for rule in rules:
        for target in rule["Properties"]["Targets"]:
            assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["EventsDLQ", "Arn"]}
    configs = {
        r["Properties"]["FunctionName"]["Ref"]: r
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventInvokeConfig"
    }
    assert set(configs) == {
        "SimulateTick",
        "SimulatorInbox",
        "HandleOcppEvent",
        "SimulatorCommands",
        "HandleCommandAnswer",
        "SnapshotFleetEnergy",
        "ExportWorker",
    }
    for config in configs.values():
        assert config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == {
            "Fn::GetAtt": ["AsyncFailureQueue", "Arn"]
        }


@pytest.mark.parametrize("stage", STAGES)
def test_the_schedule_is_the_configured_one(packaged, stage):
    """chalice reads the rate while importing app.py: package.sh must give it the stage's settings."""
    minutes = templates.stage_env(stage)["SIMULATOR_SCHEDULE_MINUTES"]
    functions = _functions(_sam(packaged, stage))
    event = functions["SimulateTick"]["Properties"]["Events"]["SimulateTickEvent"]
    assert event["Properties"]["Schedule"] == f"rate({minutes} minutes)"
    # The fleet energy snapshot fires on each interval's boundary: an interval's figure is that interval's.
    snapshot = functions["SnapshotFleetEnergy"]["Properties"]["Events"]["SnapshotFleetEnergyEvent"]
    assert snapshot["Properties"]["Schedule"] == "cron(0/5 * * * ? *)"


def test_prod_keeps_its_data_safe(packaged):
    resources = _sam(packaged, "prod")["Resources"]
    tables = {k: v for k, v in resources.items() if v["Type"] == "AWS::DynamoDB::Table"}
    assert set(tables) == set(storage.TABLES)
    for table in tables.values():
        # Kept when a stack is deleted or a table replaced, but not when the first creation fails: a retry
        # would otherwise stop at "already exists".
        assert table["DeletionPolicy"] == "RetainExceptOnCreate" and table["UpdateReplacePolicy"] == "Retain"
        assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": {"Fn::If": ["IsProd", True, False]}
        }


@pytest.mark.parametrize("stage", STAGES)
def test_the_tables_that_expire_items_have_ttl_on_the_attribute_the_code_writes(packaged, stage):
    """Commands (export jobs) and the simulator's memory expire by `expiresAt`; meter history by the TTL
    attribute chalicelib/meter_history.py writes (METER_HISTORY_RETENTION_DAYS): the same on both paths,
    the packaged stack (path 1) and the data stack of `chalice deploy` (path 2). No other table expires."""
    expiring = {"CommandsTable": "expiresAt", "SimulatorTable": "expiresAt", "HistoryTable": storage.HISTORY_EXPIRES_AT}
    for template in (_sam(packaged, stage), templates.data_template()):
        ttl = {
            logical_id: resource["Properties"].get("TimeToLiveSpecification")
            for logical_id, resource in template["Resources"].items()
            if resource["Type"] == "AWS::DynamoDB::Table"
        }
        assert set(ttl) == set(storage.TABLES)
        assert ttl == {
            logical_id: {"AttributeName": expiring[logical_id], "Enabled": True} if logical_id in expiring else None
            for logical_id in storage.TABLES
        }


@pytest.mark.parametrize("stage", STAGES)
def test_the_api_has_only_its_intended_stage(packaged, stage):
    """SAM adds a public stage `Stage` (no throttling, no access logs, no usage plan) unless OpenApiVersion
    is set: after the transform, the one stage is `api` and no deployment names another."""
    resources = json.loads((packaged[stage] / "cfn.json").read_text())["Resources"]
    stages = [r["Properties"]["StageName"] for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage"]
    assert stages == ["api"]
    deployments = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGateway::Deployment"]
    assert deployments and not any("StageName" in d for d in deployments)


@pytest.mark.parametrize("stage", STAGES)
def test_no_stage_stack_owns_the_regions_api_gateway_account_setting(packaged, stage):
    """One CloudWatch role per account and region: a stage's stack that set it would overwrite another's and
    take it away on delete. deploy/common.sh sets it once, in its own stack, only where none is set."""
    for template in (
        _sam(packaged, stage),
        json.loads((packaged[stage] / "cfn.json").read_text()),
        templates.data_template(),
    ):
        types = {r.get("Type") for r in template["Resources"].values()}
        assert "AWS::ApiGateway::Account" not in types
        assert "AmazonAPIGatewayPushToCloudWatchLogs" not in json.dumps(template)
    shared = json.loads((ROOT / "deploy" / "api-gateway-account.json").read_text())["Resources"]
    assert shared["ApiGatewayAccount"]["Type"] == "AWS::ApiGateway::Account"
    assert {r["DeletionPolicy"] for r in shared.values()} == {"Retain"}
    script = (ROOT / "deploy" / "common.sh").read_text()
    assert "aws apigateway get-account --query cloudwatchRoleArn" in script


# --- the OCPP WebSocket gateway (ECS behind an NLB, with GatewayImage) -------------------------------


def _gateway(packaged, stage: str, name: str) -> dict:
    return _sam(packaged, stage)["Resources"][f"OcppGateway{name}"]


@pytest.mark.parametrize("stage", STAGES)
def test_the_gateway_task_gets_the_api_functions_settings(packaged, stage):
    """One source: the container's environment is the API function's (config.json's stage settings and the
    stack's resource names), so auth, tariff, shards and boot policy cannot drift from the Lambda functions."""
    variables = _functions(_sam(packaged, stage))["APIHandler"]["Properties"]["Environment"]["Variables"]
    [container] = _gateway(packaged, stage, "TaskDefinition")["Properties"]["ContainerDefinitions"]
    assert {e["Name"]: e["Value"] for e in container["Environment"]} == variables
    loaded = settings.load({k: v if isinstance(v, str) else "x" for k, v in variables.items()})
    assert loaded.operator_auth == "api-key" and loaded.ocpp_auth == "basic"  # a prod task no longer fails to start


@pytest.mark.parametrize("stage", STAGES)
def test_the_gateway_is_reachable_checked_over_http_and_rolled_back_when_broken(packaged, stage):
    ingress = _gateway(packaged, stage, "SecurityGroup")["Properties"]["SecurityGroupIngress"]
    [app_port] = [rule for rule in ingress if rule["FromPort"] == 9000]
    assert app_port["CidrIp"] == {"Ref": "GatewayVpcCidr"}  # ip targets: the NLB comes from the VPC, any VPC
    group = _gateway(packaged, stage, "TargetGroup")["Properties"]
    assert (group["HealthCheckProtocol"], group["HealthCheckPath"], group["HealthCheckPort"]) == (
        "HTTP",
        "/health",
        "traffic-port",
    )
    service = _gateway(packaged, stage, "Service")["Properties"]
    assert service["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    [container] = _gateway(packaged, stage, "TaskDefinition")["Properties"]["ContainerDefinitions"]
    assert "http://127.0.0.1:9000/health" in " ".join(container["HealthCheck"]["Command"])
    template = _sam(packaged, stage)
    [assertion, _] = template["Rules"]["GatewayNeedsCertificate"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "GatewayCertificateArn"}, ""]}]}
    assert template["Outputs"]["GatewayUrl"]["Value"]["Fn::Sub"].startswith("wss://")


# --- the archive ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_the_archive_holds_the_dashboard_where_the_app_looks_and_stays_small(packaged, stage):
    archive = packaged[stage] / "deployment.zip"
    with zipfile.ZipFile(archive) as zipped:
        names = set(zipped.namelist())
        for name in DASHBOARD_FILES:
            assert zipped.read(f"static/{name}") == (ROOT / "static" / name).read_bytes()
    assert "chalicelib/dashboard.py" in names and "app.py" in names
    assert not any("__pycache__" in name for name in names)
    assert not any(name.startswith(("boto3/", "botocore/", "moto/")) for name in names)  # the runtime has boto3
    assert archive.stat().st_size < MAX_ARCHIVE_BYTES


# --- the environment ------------------------------------------------------------------------------


class RecordingEnv(dict):
    """An environment that notes every variable the settings ask for."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


def _variables_read(stage: str) -> set[str]:
    env = RecordingEnv(templates.stage_env(stage))
    settings.load(env)
    return env.read


@pytest.mark.parametrize("stage", STAGES)
def test_every_variable_the_code_reads_is_set_for_every_function(packaged, stage):
    needed = _variables_read(stage) - set(UNSET_IN_LAMBDA)
    for name, function in _functions(_sam(packaged, stage)).items():
        missing = needed - set(function["Properties"]["Environment"]["Variables"])
        assert not missing, f"{name} lacks {sorted(missing)}"
    # The `chalice deploy` path has only config.json.
    assert needed - set(templates.stage_env(stage)) == TEMPLATE_ONLY


@pytest.mark.parametrize("stage", STAGES)
def test_every_resource_variable_names_a_declared_resource(packaged, stage):
    template = _sam(packaged, stage)
    assert set(RESOURCE_VARIABLES) == {n for n in _variables_read(stage) if n.endswith("_TABLE")} | {
        "EVENT_BUS_NAME",
        "DIAGNOSTICS_BUCKET",
    }
    for function in _functions(template).values():
        variables = function["Properties"]["Environment"]["Variables"]
        for name, logical_id in RESOURCE_VARIABLES.items():
            assert variables[name] == {"Ref": logical_id}
            assert logical_id in template["Resources"]
    # `chalice deploy` uses config.json's literal names: they must be the names the data stack creates.
    names = templates.physical_names(templates.load(), stage)
    config = templates.stage_env(stage)
    assert {name: config[name] for name in RESOURCE_VARIABLES} == {
        name: names[logical_id] for name, logical_id in RESOURCE_VARIABLES.items()
    }


def test_the_local_stage_still_loads():
    assert settings.load(templates.stage_env("local")).stage == "local"


# --- the bus: the handler's rule against the simulator's real events -------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_the_handlers_rules_are_on_the_bus_the_publisher_writes_to(packaged, stage, app_module):
    resources = json.loads((packaged[stage] / "cfn.json").read_text())["Resources"]
    patterns = {s.name: s.event_pattern for s in app_module.app.event_sources if hasattr(s, "event_pattern")}
    function_of = {v: k for k, v in templates.function_names(templates.load()).items()}
    for name, pattern in patterns.items():
        rule = resources[f"{function_of[name]}{function_of[name]}Event"]
        assert rule["Properties"]["EventBusName"] == {"Ref": "EventBus"}
        assert rule["Properties"]["EventPattern"] == pattern
    sam = _sam(packaged, stage)
    for function in _functions(sam).values():
        assert function["Properties"]["Environment"]["Variables"]["EVENT_BUS_NAME"] == {"Ref": "EventBus"}


def _bus_with_rule(pattern: dict) -> tuple[object, str]:
    """A moto bus named as the publisher's, whose rule (the handler's pattern) feeds an SQS queue."""
    import boto3

    bus = settings.get().event_bus_name
    client, sqs = boto3.client("events"), boto3.client("sqs")
    client.create_event_bus(Name=bus)
    queue = sqs.create_queue(QueueName=f"handler-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client.put_rule(Name="handler", EventBusName=bus, EventPattern=json.dumps(pattern))
    client.put_targets(Rule="handler", EventBusName=bus, Targets=[{"Id": "1", "Arn": queue_arn}])
    return sqs, queue


def _drain(sqs, queue: str) -> list[dict]:
    received = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return received
        for message in messages:
            received.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def test_the_handlers_pattern_takes_every_simulator_event_and_nothing_else(aws, app_module):
    pattern = next(s.event_pattern for s in app_module.app.event_sources if s.name == "handle_ocpp_event")
    if True:
        sqs, queue = _bus_with_rule(pattern)
        published: list[dict] = []
        publisher = events.EventBridgePublisher()

        class Bus(events.LocalBus):  # to EventBridge (moto), and to the app's own handlers for the answers
            def publish(self, entries: list[dict]) -> None:
                published.extend(entries)
                publisher.publish(entries)
                super().publish(entries)

        bus = Bus()
        for pattern_, target in aws.subscribers:
            bus.subscribe(pattern_, target)
        events.use(bus)
        start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
        received = []
        for tick in range(12):
            simulator.run_tick(now=start + timedelta(minutes=5 * tick))
            # Drained as it fills: moto's SQS walks every message in a queue on each message sent to it.
            received += _drain(sqs, queue)
        calls = [json.loads(e["Detail"]) for e in published if e["Source"] == events.CHARGER_SOURCE]
        replies = [e for e in published if e["Source"] == events.CENTRAL_SYSTEM_SOURCE]
        assert {c["action"] for c in calls} >= {"BootNotification", "StatusNotification", "Heartbeat"}
        assert replies, "the central system answered on the same bus"
        assert sorted(e["detail"]["messageId"] for e in received) == sorted(c["messageId"] for c in calls)
        # Nothing else: the answers above went by too; now some neighbours of the pattern.
        others = [
            {"Source": "ev.simulator", "DetailType": "OCPP CallResult"},
            {"Source": "ev.simulator-test", "DetailType": events.CALL_DETAIL_TYPE},
            {"Source": "aws.events", "DetailType": "Scheduled Event"},
            {"Source": "com.example", "DetailType": "Something else"},
        ]
        publisher.publish([{**o, "Detail": "{}", "EventBusName": settings.get().event_bus_name} for o in others])
        assert _drain(sqs, queue) == []
    events.use(aws)


# --- IAM: the policy against the calls an end-to-end run makes --------------------------------------

# The functions EventBridge invokes (the schedule, the bus rules): each has a failure destination.
ASYNCHRONOUS = {
    "simulate_tick",
    "simulator_inbox",
    "handle_ocpp_event",
    "simulator_commands",
    "handle_command_answer",
    "snapshot_fleet_energy",
    "export_worker",
}

# S3 call -> the IAM action it needs (the multipart upload's calls are all s3:PutObject's). PutObject and
# GetObject are only pre-signed here (the app never calls them): whoever uses the URL acts with the role's
# grant, so pre-signing one needs it.
S3_ACTIONS = {
    "PutObject": "s3:PutObject",
    "GetObject": "s3:GetObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "ListParts": "s3:ListMultipartUploadParts",
    "ListObjectsV2": "s3:ListBucket",
}
# API call -> the IAM actions it needs (TransactWriteItems needs each contained item's own action).
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _needs(service: str, operation: str, params: dict, tables: dict[str, str], bus: str) -> set[tuple]:
    """(IAM action, resource) pairs one API call needs; resources as ("table"|"index", logical id), ("bus",),
    ("bucket",) or ("objects", key prefix) in the diagnostics bucket."""
    if service == "s3":
        assert params["Bucket"] == settings.get().diagnostics_bucket
        if operation == "ListObjectsV2":  # the grant's condition: s3:prefix diagnostics/*
            assert params["Prefix"].startswith("diagnostics/")
            return {("s3:ListBucket", ("bucket",))}
        return {(S3_ACTIONS[operation], ("objects", params["Key"].split("/")[0] + "/"))}
    if service == "events":
        assert operation == "PutEvents" and {e["EventBusName"] for e in params["Entries"]} == {bus}
        return {("events:PutEvents", ("bus",))}
    assert service == "dynamodb", service
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return {(f"dynamodb:{operation}", ("table", tables[name])) for name in params["RequestItems"]}
    if operation == "TransactWriteItems":
        return {
            (f"dynamodb:{TRANSACT_ACTIONS[kind]}", ("table", tables[spec["TableName"]]))
            for item in params["TransactItems"]
            for kind, spec in item.items()
        }
    kind = "index" if params.get("IndexName") else "table"
    return {(f"dynamodb:{operation}", (kind, tables[params["TableName"]]))}


class CallRecorder:
    """A botocore hook on every client: each AWS call, charged to the Lambda function that made it (the
    innermost app.py handler on the stack; REST routes all run in api_handler)."""

    def __init__(self, app_module) -> None:
        self.app_file = str(Path(app_module.__file__).resolve())
        self.routes = {view.view_name for methods in app_module.app.routes.values() for view in methods.values()}
        self.calls: dict[str, set[tuple]] = defaultdict(set)
        self.operations: set[tuple[str, str]] = set()

    def function(self) -> str | None:
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_filename == self.app_file and frame.f_code.co_name != "<module>":
                name = frame.f_code.co_name
                return "api_handler" if name in self.routes else name
            frame = frame.f_back
        return None

    def __call__(self, params: dict, model, **_) -> None:
        function = self.function()
        if function is None:
            return  # test set-up (tables, bus), or the WebSocket gateway's work: not a Lambda function
        service = model.service_model.endpoint_prefix
        names = settings.get()
        tables = {getattr(names, attribute): logical_id for logical_id, attribute in storage.TABLES.items()}
        self.operations.add((service, model.name))
        self.calls[function] |= _needs(service, model.name, params, tables, names.event_bus_name)


def _granted(statements: list[dict]) -> set[tuple]:
    """The (action, resource) pairs a role's statements grant on data (tables, indexes, the bus)."""
    granted = set()
    for statement in statements:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for resource in resources:
            logical_id = resource.get("Fn::GetAtt", [None])[0] if isinstance(resource, dict) else None
            if logical_id == "EventBus":
                key = ("bus",)
            elif logical_id == "DiagnosticsBucket":
                key = ("bucket",)
            elif isinstance(resource, dict) and resource.get("Fn::Sub", "").startswith("${DiagnosticsBucket.Arn}/"):
                key = ("objects", resource["Fn::Sub"].split("/", 1)[1].removesuffix("*"))
            elif logical_id in storage.TABLES:
                key = ("table", logical_id)
            elif "Fn::Sub" in resource and resource["Fn::Sub"].endswith(".Arn}/index/*"):
                key = ("index", resource["Fn::Sub"][2:].split(".")[0])
            else:
                continue  # logs, X-Ray, the failure queue: the runtime's, checked below
            granted |= {(action, key) for action in statement["Action"]}
    return granted


@pytest.fixture(scope="module")
def recorded(app_module) -> CallRecorder:
    """An end-to-end run through the app's handlers, as Lambda would invoke them, with every AWS call
    recorded: the REST API (every route, the HTTP OCPP transport, a remote command), scheduled ticks
    over a simulated morning, and the bus handlers those ticks trigger."""
    import boto3
    from chalice.test import Client
    from moto import mock_aws

    monkeypatch = pytest.MonkeyPatch()
    recorder = CallRecorder(app_module)
    clock = [datetime(2026, 3, 2, 6, 0, tzinfo=UTC)]
    monkeypatch.setattr(ocpp_frames, "now", lambda: clock[0])
    with mock_aws():
        boto3.setup_default_session()
        boto3.DEFAULT_SESSION.events.register("provide-client-params.*.*", recorder)
        fresh_tables(monkeypatch)
        boto3.client("events").create_event_bus(Name=settings.get().event_bus_name)
        local = local_runtime.local_bus(app_module.app)

        calls: list[dict] = []

        class Bus(events.LocalBus):  # PutEvents on EventBridge, then delivered to the handlers, later
            def publish(self, entries: list[dict]) -> None:
                events.EventBridgePublisher().publish(entries)
                super().publish(entries)

            def deliver(self, delivered) -> None:
                delivered = list(delivered)
                calls.extend(e for e in delivered if e["source"] == events.CHARGER_SOURCE)
                super().deliver(delivered)

        bus = Bus(deferred=True)  # as EventBridge: a handler's events reach the others after it returns
        bus.subscribers = local.subscribers
        events.use(bus)
        scheduled = {
            "version": "0",
            "id": "1",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "1",
            "time": "2026-03-02T06:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {},
        }
        with Client(app_module.app) as client:  # the demo fleet's tags registered: their sessions count on them
            for n in range(1, 21):
                response = client.http.put(
                    f"/idtags/DEMO-TAG-{n:02d}",
                    body=b'{"status": "Accepted"}',
                    headers={"Content-Type": "application/json"},
                )
                assert response.status_code == 200, response.body
        for tick in range(48):  # four simulated hours of 5-minute ticks, through the scheduled handlers
            app_module.simulate_tick(scheduled, None)
            bus.flush()
            app_module.snapshot_fleet_energy(scheduled, None)
            clock[0] += timedelta(minutes=5)
            if tick == 0:  # the demo fleet has booted: it becomes a site, whose loop runs in the handlers
                _demo_site(app_module)
                bus.flush()
        # EventBridge delivers at least once: the transaction messages once more, as a redelivery would, and
        # the first reading once more, late (it goes to the session's meter history on its own).
        transactional = [e for e in calls if e["detail"]["action"] in ("StartTransaction", "StopTransaction")]
        assert {e["detail"]["action"] for e in transactional} == {"StartTransaction", "StopTransaction"}
        readings = [e for e in calls if e["detail"]["action"] == "MeterValues" and "transactionId" in str(e["detail"])]
        for event in [*transactional, readings[0]]:
            app_module.handle_ocpp_event(event, None)
        # A simulated charger's start that names a reservation (its start again: the same transaction).
        [first_start, *_] = [e for e in transactional if e["detail"]["action"] == "StartTransaction"]
        _, unique_id, action, payload = first_start["detail"]["message"]
        reserved = [2, unique_id[:30] + "-r", action, {**payload, "reservationId": 7}]
        app_module.handle_ocpp_event({**first_start, "detail": {**first_start["detail"], "message": reserved}}, None)
        bus.flush()
        _exercise_the_api(app_module, Client, clock, bus.flush)
        bus.flush()
        _in_the_bucket(app_module, Client, monkeypatch, recorder, bus.flush)
        events.use(None)
    monkeypatch.undo()
    settings.get.cache_clear()
    storage.reset_client()
    boto3.DEFAULT_SESSION = None
    return recorder


def _in_the_bucket(app_module, client_class, monkeypatch, recorder, flush) -> None:
    """A deployed stage's files: the diagnostics location and listing in its bucket, an export past one part
    handed to the export worker, which writes it as a multipart upload in steps (each hands the rest to the
    next with an event), and one that fails half-way, aborted."""
    from moto.s3 import models

    monkeypatch.setenv("DIAGNOSTICS_BUCKET", "ev-charging-test-diagnostics")
    monkeypatch.setenv("EXPORT_PART_BYTES", "1024")
    monkeypatch.setattr(models, "S3_UPLOAD_PART_MIN_SIZE", 1024)
    settings.get.cache_clear()
    files.reset_client()
    s3 = files._s3()  # a boto3 session of its own: the recorder listens to its client too
    s3.meta.events.register("provide-client-params.s3.*", recorder)
    s3.create_bucket(Bucket="ev-charging-test-diagnostics")
    (template, *_) = storage.list_sessions(1, None, "Completed").items
    stopped = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    storage.load_sessions(
        [{**template, "sessionId": f"export-{n}", "stopTime": ocpp_frames.format_timestamp(stopped)} for n in range(20)]
    )
    plain = storage.completed_sessions
    now = [0.0]

    def ticking(*args):  # the export's clock: 10 s a session read, a worker's time for 12
        for item in plain(*args):
            now[0] += 10
            yield item

    monkeypatch.setattr(storage, "completed_sessions", ticking)
    monkeypatch.setattr(exports, "clock", lambda: now[0])
    monkeypatch.setattr(export_jobs, "FUNCTION_SECONDS", export_jobs.MARGIN_SECONDS + 125)
    with client_class(app_module.app) as client:
        for path in ("/chargepoints/CP-HTTP-1/diagnostics/location", "/chargepoints/CP-HTTP-1/diagnostics"):
            assert client.http.get(path).status_code == 200
        export = "/exports/sessions.csv?from=2026-03-01&to=2026-03-02"
        job = client.http.get(export)
        assert job.status_code == 202
        flush()  # the worker's steps, each invoked by the bus rule
        done = client.http.get(job.headers["Location"].removeprefix("http://localhost"))
        assert done.status_code == 303 and json.loads(done.body)["step"] > 1

        def failing(*args, **kwargs):
            for n, item in enumerate(plain(*args, **kwargs)):
                if n == 15:
                    raise RuntimeError("the table went away")
                yield item

        monkeypatch.setattr(storage, "completed_sessions", failing)
        job = client.http.get(export)
        assert job.status_code == 202
        flush()
        failed = client.http.get(job.headers["Location"].removeprefix("http://localhost"))
        assert json.loads(failed.body)["status"] == "failed"
    assert "Uploads" not in s3.list_multipart_uploads(Bucket="ev-charging-test-diagnostics")
    files.reset_client()


def _demo_site(app_module) -> None:
    from chalice.test import Client

    with Client(app_module.app) as client:
        body = {"name": "Demo", "maxPowerKw": 60, "chargePointIds": ["CP-DEMO-001", "CP-DEMO-002", "CP-DEMO-003"]}
        response = client.http.put("/sites/demo", body=json.dumps(body), headers={"Content-Type": "application/json"})
        assert response.status_code == 200, response.body


def _exercise_the_api(app_module, client_class, clock, flush) -> None:
    def frame(action: str, payload: dict) -> str:
        return json.dumps([2, uuid.uuid4().hex[:12], action, payload])

    at = ocpp_frames.format_timestamp
    cp = "CP-HTTP-1"
    with client_class(app_module.app) as client:

        def ok(response):
            assert response.status_code < 300, (response.status_code, response.body)
            return json.loads(response.body) if response.body.startswith((b"{", b"[")) else response.body

        def ocpp(action: str, payload: dict) -> list:
            return ok(
                client.http.post(
                    f"/ocpp/{cp}", body=frame(action, payload), headers={"Content-Type": "application/json"}
                )
            )

        tag = {"status": "Accepted", "maxActiveTransactions": 1}
        ok(client.http.put("/idtags/TAG1", body=json.dumps(tag), headers={"Content-Type": "application/json"}))
        ok(client.http.get("/idtags?limit=1"))
        ok(client.http.get("/idtags/TAG1"))
        ocpp("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        ocpp("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Preparing"})
        ocpp("Heartbeat", {})
        start = ocpp(
            "StartTransaction", {"connectorId": 1, "idTag": "TAG1", "meterStart": 100, "timestamp": at(clock[0])}
        )
        transaction = start[2]["transactionId"]
        # Readings enough to fill the session's buffer in one message: its chunk is written (PutItem).
        readings = [
            {
                "timestamp": at(clock[0] + timedelta(seconds=2 * n + 2)),
                "sampledValue": [{"value": str(600 + n), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}],
            }
            for n in range(30)
        ]
        ocpp("MeterValues", {"connectorId": 1, "transactionId": transaction, "meterValue": readings})
        reading = {
            "timestamp": at(clock[0] + timedelta(minutes=2)),
            "sampledValue": [{"value": "900", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}],
        }
        ocpp(
            "StopTransaction",
            {
                "transactionId": transaction,
                "meterStop": 900,
                "timestamp": at(clock[0] + timedelta(minutes=2)),
                "transactionData": [reading],
            },
        )
        ocpp("Authorize", {"idTag": "TAG1"})
        ok(client.http.delete("/idtags/TAG1"))
        ok(client.http.post("/simulate", body=b"", headers={"Content-Type": "application/json"}))
        for path in (
            "/",
            "/assets/dashboard.js",
            "/openapi.json",
            "/stats",
            "/chargepoints",
            f"/chargepoints/{cp}",
            "/chargepoints?status=Available",
            "/sessions",
            "/sessions?status=Completed",
            f"/sessions?chargePointId={cp}",
            f"/chargepoints/{cp}/chargingProfiles",
            "/sites",
            "/sites/demo",
        ):
            ok(client.http.get(path))
        session = ok(client.http.get(f"/sessions?chargePointId={cp}"))["sessions"][0]
        ok(client.http.get(f"/sessions/{session['sessionId']}"))
        ok(client.http.get(f"/sessions/{session['sessionId']}/meterValues"))
        ok(client.http.get("/stats/energy"))
        ok(
            client.http.put(
                f"/chargepoints/{cp}/password",
                body=json.dumps({"password": "p" * 20}),
                headers={"Content-Type": "application/json"},
            )
        )
        # What the WebSocket gateway does when the charger connects (outside Lambda, so not recorded).
        storage.set_online(cp, True, at(clock[0] + timedelta(minutes=3)), "connection-1", "gateway-1")
        listed = ok(
            client.http.post(
                f"/chargepoints/{cp}/localList",
                body=json.dumps({"updateType": "Full"}),
                headers={"Content-Type": "application/json"},
            )
        )
        # The gateway's part: the charger's answer (outside Lambda, so not recorded).
        commands.record_answer(cp, listed["commandId"], [3, listed["commandId"], {"status": "Accepted"}])
        ok(client.http.get(f"/chargepoints/{cp}/localList"))
        command = ok(
            client.http.post(
                f"/chargepoints/{cp}/commands",
                body=json.dumps({"action": "Reset", "payload": {"type": "Soft"}}),
                headers={"Content-Type": "application/json"},
            )
        )
        ok(client.http.get(f"/chargepoints/{cp}/commands/{command['commandId']}"))
        ok(client.http.get(f"/chargepoints/{cp}/commands"))
        ok(client.http.get("/ocpp/schemas/Reset"))
        # A demo charger (booted on the bus by the ticks) is commanded over the bus and answers there; its
        # answers' effects (reservations, profiles, firmware, configuration) run in handle_command_answer.
        _command_the_demo_fleet(client, ok, flush)
        _reserve_and_use(client, ok, ocpp, cp, command["commandId"], at(clock[0] + timedelta(minutes=4)))


def _command_the_demo_fleet(client, ok, flush) -> None:
    demo = "CP-DEMO-001"
    expiry = ocpp_frames.format_timestamp(ocpp_frames.now() + timedelta(hours=1))
    profile = {
        "chargingProfileId": 5,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7000}]},
    }
    for action, payload in (
        ("GetConfiguration", {}),
        ("ReserveNow", {"connectorId": 2, "expiryDate": expiry, "idTag": "DEMO-TAG", "reservationId": 43}),
        ("CancelReservation", {"reservationId": 43}),
        ("SetChargingProfile", {"connectorId": 0, "csChargingProfiles": profile}),
        ("UpdateFirmware", {"location": "https://example.com/fw.bin", "retrieveDate": expiry}),
    ):
        command = ok(
            client.http.post(
                f"/chargepoints/{demo}/commands",
                body=json.dumps({"action": action, "payload": payload}),
                headers={"Content-Type": "application/json"},
            )
        )
        flush()
        answered = ok(client.http.get(f"/chargepoints/{demo}/commands/{command['commandId']}"))
        assert answered["status"] == "answered", answered
    # Whatever the charger said (Accepted then Cancelled, or Occupied), its answer's effect was recorded.
    assert ok(client.http.get("/reservations/43"))["status"] not in ("Pending", "Active")
    profiles = ok(client.http.get(f"/chargepoints/{demo}/chargingProfiles"))["chargingProfiles"]
    assert 5 in [profile["chargingProfileId"] for profile in profiles]
    assert ok(client.http.get(f"/chargepoints/{demo}"))["firmwareUpdate"]["location"] == "https://example.com/fw.bin"


def _reserve_and_use(client, ok, ocpp, cp: str, reset_id: str, start_time: str) -> None:
    """A reservation's life through the API (the charger's answers recorded as its gateway would, outside
    Lambda), the start that uses it over POST /ocpp, and the reservations and diagnostics routes."""
    commands.record_answer(cp, reset_id, [3, reset_id, {"status": "Accepted"}])
    expiry = ocpp_frames.format_timestamp(ocpp_frames.now() + timedelta(hours=1))
    payload = {"connectorId": 1, "expiryDate": expiry, "idTag": "TAG1", "reservationId": 42}
    reserve = ok(
        client.http.post(
            f"/chargepoints/{cp}/commands",
            body=json.dumps({"action": "ReserveNow", "payload": payload}),
            headers={"Content-Type": "application/json"},
        )
    )
    commands.record_answer(cp, reserve["commandId"], [3, reserve["commandId"], {"status": "Accepted"}])
    ocpp(
        "StartTransaction",
        {"connectorId": 1, "idTag": "TAG1", "meterStart": 1000, "timestamp": start_time, "reservationId": 42},
    )
    for path in (
        "/reservations",
        f"/reservations?chargePointId={cp}&status=Used",
        "/reservations/42",
        f"/chargepoints/{cp}/diagnostics",
        f"/chargepoints/{cp}/diagnostics/location",
    ):
        ok(client.http.get(path))


def test_the_end_to_end_run_reaches_every_function(recorded):
    assert set(recorded.calls) == {"api_handler", *ASYNCHRONOUS}


def test_each_functions_role_grants_exactly_the_calls_it_makes(recorded):
    """Least privilege, proven: every call recorded is granted, and every grant was used."""
    roles = templates.role_policies(templates.load())
    assert set(roles) == set(recorded.calls)
    for function, statements in roles.items():
        granted, needed = _granted(statements), recorded.calls[function]
        assert needed - granted == set(), f"{function} would be denied"
        assert granted - needed == set(), f"{function} is granted more than it uses"


def test_each_role_reaches_only_its_own_log_group_and_async_functions_their_failure_queue():
    resources = templates.load()
    for function, statements in templates.role_policies(resources).items():
        by_sid = {s["Sid"]: s for s in statements}
        assert by_sid["Logs"]["Resource"]["Fn::Sub"].endswith(f"/aws/lambda/ev-charging-${{Stage}}-{function}:*")
        assert ("AsyncOnFailure" in by_sid) == (function in ASYNCHRONOUS)
        assert "logs:CreateLogGroup" not in by_sid["Logs"]["Action"]  # the template declares the group


@pytest.mark.parametrize("stage", STAGES)
def test_each_function_has_its_own_chalice_deploy_policy_file_with_no_wildcard_action(stage):
    """`chalice deploy` gives each function the role in its own iam_policy_file: the template's role, with
    the stage's names, and its log group as `chalice deploy` names the function (see the rehearsal)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"][stage]
    assert "iam_policy_file" not in config  # no union policy for every function
    roles = templates.role_policies(templates.load())
    for function in roles:
        assert config["lambda_functions"][function]["iam_policy_file"] == templates.policy_file(stage, function).name
        committed = json.loads(templates.policy_file(stage, function).read_text())
        assert committed == templates.chalice_policy(stage, function), "run: python deploy/templates.py policies"
        assert [s["Sid"] for s in committed["Statement"]] == [s["Sid"] for s in roles[function]]
        actions = [a for s in committed["Statement"] for a in s["Action"]]
        assert actions and not any("*" in action for action in actions)
        resources = [r for s in committed["Statement"] for r in s["Resource"]]
        assert resources and all(f"-{stage}" in r or r == "*" for r in resources)
        assert [s["Sid"] for s in committed["Statement"] if s["Resource"] == ["*"]] == ["XRay"]  # no resource-level
        [logs] = [s["Resource"] for s in committed["Statement"] if s["Sid"] == "Logs"]
        assert logs == [f"arn:aws:logs:*:*:log-group:/aws/lambda/{templates.deployed_function_name(stage, function)}:*"]


def test_the_chalice_deploy_names_are_chalices_own():
    """The data stack's log groups and the policies use the names chalice's deployer gives the functions."""
    from chalice.config import Config
    from chalice.deploy.appgraph import ApplicationGraphBuilder
    from chalice.deploy.models import LambdaFunction

    import app

    config = Config.create(
        chalice_stage="dev",
        app_name="ev-charging",
        chalice_app=app.app,
        project_dir=str(ROOT),
        config_from_disk=json.loads((ROOT / ".chalice" / "config.json").read_text()),
    )
    graph = ApplicationGraphBuilder().build(config, "dev")
    stack = list(graph.dependencies())
    functions = {}
    while stack:
        resource = stack.pop()
        if isinstance(resource, LambdaFunction):
            functions[resource.resource_name] = resource.function_name
        stack.extend(resource.dependencies())
    assert functions == {name: templates.deployed_function_name("dev", name) for name in functions}
    assert functions["api_handler"] == "ev-charging-dev"
    groups = {
        r["Properties"]["LogGroupName"]["Fn::Sub"]
        for r in templates.data_template()["Resources"].values()
        if r["Type"] == "AWS::Logs::LogGroup"
    }
    assert {f"/aws/lambda/{name}".replace("-dev", "-${Stage}") for name in functions.values()} <= groups


@pytest.mark.parametrize("stage", STAGES)
def test_chalice_deploy_accepts_the_app_as_configured(stage):
    """`chalice deploy` validates the app before it packages anything (content types, stage names, ...):
    the same check, here, so a route it would refuse fails in seconds, not in the deploy rehearsal."""
    from chalice.config import Config
    from chalice.deploy.validate import validate_configuration

    import app

    validate_configuration(
        Config.create(
            chalice_stage=stage,
            app_name="ev-charging",
            chalice_app=app.app,
            project_dir=str(ROOT),
            config_from_disk=json.loads((ROOT / ".chalice" / "config.json").read_text()),
        )
    )
