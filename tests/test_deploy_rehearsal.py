"""The deploy rehearsal: the real deploy/*.sh scripts, end to end, as a user runs them from docs/deployment.md,
with the real AWS CLI (awscli from PyPI, pinned in requirements-dev.txt: .venv/bin/aws) and the real
`chalice package` / `chalice deploy`, against a moto server this module starts. For dev and prod, on both
paths: the CLI's own local checks run (the 51,200-byte inline template limit among them), every script line
runs, a second run with nothing changed succeeds and prints the outputs, and the teardown removes what the
deploy created (except what is kept on purpose: the tables, the artifacts bucket, the shared account setting).

Where moto differs from AWS, the emulator is made to behave as AWS documents, here and nowhere else (the
scripts do not know they are rehearsed); docs/deployment.md lists the same:
- moto runs no CloudFormation transform: the SAM transform is applied in the emulator with aws-sam-translator,
  as CloudFormation applies it server-side;
- moto computes no stack outputs for a change set's stack; it takes parameters passed as UsePreviousValue for
  a change, and it refuses CreateChangeSet for an unchanged inline template; AWS creates a FAILED change set ("didn't
  contain changes"), which `aws cloudformation deploy --no-fail-on-empty-changeset` accepts;
- moto's CloudFormation makes every load balancer an application one (a network one's TLS listener is
  refused); moto's Ref of an AWS::Events::EventBus is not its name; moto leaves a stack's RestApi behind on delete;
- moto imports no Swagger 2.0 (ImportRestApi, PutRestApi, a RestApi's Body: chalice's API document): the API
  gets the document's paths and methods here, with mock integrations;
- moto deletes `DeletionPolicy: RetainExceptOnCreate` resources with their stack; AWS keeps them (it deletes
  them only when the stack's first creation fails);
- moto's CloudFormation skips (with a warning) types it lacks: AWS::ApiGateway::Account, AWS::ApiGateway::ApiKey
  (the test creates the data stack's key), AWS::ApiGateway::UsagePlan(Key), AWS::ApiGateway::Stage,
  AWS::Lambda::EventInvokeConfig, AWS::SQS::QueuePolicy; no container runs (no Docker daemon): the gateway's
  image is registered in ECR by the test, its tasks do not start, and Lambda invocations do not run the code
  (an Event invocation is answered 202).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chalicelib.storage.schema import TABLES
from deploy import templates
from tests.support import ROOT

REGION = "eu-west-1"  # only in the profile (AWS_CONFIG_FILE): the scripts must use it, not us-east-1
ACCOUNT = "123456789012"  # moto's
INLINE_TEMPLATE_LIMIT = 51_200  # bytes: `aws cloudformation deploy` refuses more without --s3-bucket
FUNCTIONS = (
    "api_handler",
    "simulate_tick",
    "simulator_inbox",
    "handle_ocpp_event",
    "simulator_commands",
    "handle_command_answer",
    "snapshot_fleet_energy",
    "export_worker",
)
SCHEDULED = ("simulate_tick", "snapshot_fleet_energy")
BUS_HANDLERS = ("simulator_inbox", "handle_ocpp_event", "simulator_commands", "handle_command_answer", "export_worker")
# The export worker writes what the API could not answer in time: Lambda's longest run (config.json).
EXPORT_WORKER = {"Timeout": 900, "MemorySize": 1024}
SAM = "AWS::Serverless-2016-10-31"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sam_transform(template: dict) -> dict:
    """CloudFormation's server-side SAM transform, with the archive where `aws cloudformation package` put it."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    translator = Translator({}, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    return translator.translate(template, parameter_values={}, get_managed_policy_map=lambda: {})


def _add_swagger_paths(backend, api_id: str, document: dict) -> None:
    """What moto lacks for Swagger 2.0 (chalice's API document): its paths and methods, as mock integrations."""
    api = backend.get_rest_api(api_id)
    by_path = {resource.get_path(): resource.id for resource in api.resources.values()}
    for path, methods in sorted(document.get("paths", {}).items()):
        parent = by_path["/"]
        for depth, part in enumerate(filter(None, path.split("/")), start=1):
            prefix = "/" + "/".join(path.split("/")[1 : depth + 1])
            if prefix not in by_path:
                by_path[prefix] = backend.create_resource(api_id, parent, part).id
            parent = by_path[prefix]
        for method in methods:
            if method != "parameters":
                backend.put_method(api_id, parent, method.upper(), authorization_type="NONE")
                backend.put_integration(
                    api_id, parent, method.upper(), integration_type="MOCK", uri="", integration_method=method.upper()
                )


@pytest.fixture(scope="module")
def emulator():
    """A moto server on a free port, behaving as AWS where moto does not (see the module's docstring)."""
    from moto.apigateway.models import APIGatewayBackend, RestAPI, apigateway_backends
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation import parsing
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.elbv2.models import FakeLoadBalancer, elbv2_backends
    from moto.events.models import EventBus
    from moto.server import ThreadedMotoServer

    def parse_with_transform(template: str) -> dict:
        parsed = original_parse(template)
        return _sam_transform(parsed) if parsed.get("Transform") == SAM else parsed

    def change_set_parse(self) -> None:
        self.template_dict = parse_with_transform(self.template)

    def apply_with_outputs(self) -> None:
        original_apply(self)
        stack = self.stack
        stack.template_dict = self.template_dict
        stack.output_map = stack._create_output_map()
        for export in stack.exports:
            cfn_models.cloudformation_backends[stack.account_id][stack.region_name].exports[export.name] = export

    def import_rest_api(self, api_doc: dict, fail_on_warnings: bool):
        api = self.create_rest_api(name=api_doc["info"]["title"], description="")
        return put_rest_api(self, api.id, api_doc, fail_on_warnings)

    def put_rest_api(self, function_id: str, api_doc: dict, fail_on_warnings: bool, mode: str = "merge"):
        _add_swagger_paths(self, function_id, api_doc)
        return self.get_rest_api(function_id)

    def rest_api_from_template(
        cls, resource_name: str, cloudformation_json: dict, account_id: str, region_name: str, **kwargs
    ):
        properties = cloudformation_json["Properties"]
        backend = apigateway_backends[account_id][region_name]
        api = backend.create_rest_api(
            name=properties.get("Name") or properties["Body"]["info"]["title"],
            description=properties.get("Description", ""),
        )
        _add_swagger_paths(backend, api.id, properties.get("Body", {}))
        return api

    def load_balancer_from_template(
        cls, resource_name: str, cloudformation_json: dict, account_id: str, region_name: str, **kwargs
    ):
        properties = cloudformation_json["Properties"]
        return elbv2_backends[account_id][region_name].create_load_balancer(
            resource_name,
            properties.get("SecurityGroups"),
            properties.get("Subnets"),
            scheme=properties.get("Scheme", "internet-facing"),
            loadbalancer_type=properties.get("Type"),
        )

    def delete_keeping_retained(self) -> None:
        for resource in self._resource_json_map.values():
            if resource.get("DeletionPolicy") == "RetainExceptOnCreate":  # the stack was created: keep
                resource["DeletionPolicy"] = "Retain"
        original_delete(self)

    original_parse = cfn_models.Stack.parse_template
    original_delete = parsing.ResourceMap.delete
    original_apply = cfn_models.ChangeSet.apply
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cfn_models.Stack, "parse_template", staticmethod(parse_with_transform))
        patch.setattr(cfn_models.ChangeSet, "_parse_template", change_set_parse)
        patch.setattr(cfn_models.ChangeSet, "apply", apply_with_outputs)
        patch.setattr(
            cfn_models.Stack,
            "has_parameters",  # the CLI sends UsePreviousValue for the ones not given
            lambda stack, given: all(stack.stack_parameters.get(k) == v for k, v in given.items()),
        )
        patch.setattr(CloudFormationResponse, "_validate_different_update", lambda *args: None)
        patch.setattr(APIGatewayBackend, "import_rest_api", import_rest_api)
        patch.setattr(APIGatewayBackend, "put_rest_api", put_rest_api)
        patch.setattr(RestAPI, "create_from_cloudformation_json", classmethod(rest_api_from_template))
        patch.setattr(
            RestAPI,
            "delete",
            lambda api, account_id, region_name: apigateway_backends[account_id][region_name].delete_rest_api(api.id),
            raising=False,
        )
        patch.setattr(parsing.ResourceMap, "delete", delete_keeping_retained)
        patch.setattr(FakeLoadBalancer, "create_from_cloudformation_json", classmethod(load_balancer_from_template))
        patch.setattr(EventBus, "physical_resource_id", property(lambda bus: bus.name), raising=False)  # Ref: its name
        port = _free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            # "localhost": moto reads a TemplateURL's bucket from the path only for that host name.
            yield f"http://localhost:{port}"
        finally:
            server.stop()


@pytest.fixture(scope="module")
def chalice_cache(tmp_path_factory) -> Path:
    """One wheel cache for every copy (chalice keeps it in .chalice/deployments)."""
    return tmp_path_factory.mktemp("chalice-deployments")


@pytest.fixture
def checkout(tmp_path, chalice_cache) -> Path:
    """A copy of the repository's files (as a clone has them: vendor/static stays a symlink) and its venv."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    copy = tmp_path / "repo"
    for name in filter(None, listed):
        source, target = ROOT / name, copy / name
        if name in (".venv", "node_modules") or not (source.exists() or source.is_symlink()):
            continue  # the shared environments; a file deleted in the work tree but not yet committed
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    (copy / ".venv").symlink_to(sys.prefix)  # the venv running the tests: its aws, chalice and python
    (copy / ".chalice" / "deployments").symlink_to(chalice_cache)
    return copy


@pytest.fixture
def aws_env(emulator, tmp_path) -> dict[str, str]:
    """What a user's shell has: credentials, a profile whose config names the region, nothing else."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{emulator}/moto-api/reset", method="POST"))
    config = tmp_path / "aws-config"
    config.write_text(f"[default]\nregion = {REGION}\n")
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TMPDIR")}
    return {
        **keep,
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(config),
        "AWS_ENDPOINT_URL": emulator,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }


def _run(checkout: Path, env: dict, *command: str) -> str:
    started = time.monotonic()
    result = subprocess.run(["bash", *command], cwd=checkout, env=env, capture_output=True, text=True, timeout=300)
    print(f"{' '.join(command)}: {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, f"{' '.join(command)}: {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def _client(service: str, env: dict):
    import boto3

    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _tables(env: dict, stage: str) -> list[str]:
    return [t for t in _client("dynamodb", env).list_tables()["TableNames"] if t.startswith(f"ev-{stage}-")]


def _functions(env: dict, stage: str) -> dict[str, dict]:
    found = _client("lambda", env).list_functions()["Functions"]
    return {f["FunctionName"]: f for f in found if f["FunctionName"].startswith(f"ev-charging-{stage}")}


def _stack_names(env: dict) -> set[str]:
    stacks = _client("cloudformation", env).list_stacks()["StackSummaries"]
    return {s["StackName"] for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"}


def _assert_fleet_started(output: str, stage: str) -> None:
    assert f"started the demo fleet: invoked ev-charging-{stage}-simulate_tick once" in output


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_path_1_stack_deploys_redeploys_and_tears_down(checkout, aws_env, stage):
    bucket = f"ev-charging-artifacts-{ACCOUNT}-{REGION}-{stage}"
    first = _run(checkout, aws_env, "deploy/stack.sh", stage)
    assert f"created the artifacts bucket s3://{bucket} (versioned, encrypted, no public access)" in first
    # The check the CLI makes locally before any call: without the bucket, this template is refused.
    assert (checkout / "out" / stage / "packaged.yaml").stat().st_size > INLINE_TEMPLATE_LIMIT
    s3 = _client("s3", aws_env)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    blocked = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert blocked == dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
    assert "ApiEndpoint" in first and f"ev-{stage}-charge-points" in first  # the outputs table
    deployed = _functions(aws_env, stage)
    assert set(deployed) == {f"ev-charging-{stage}-{name}" for name in FUNCTIONS}
    worker = deployed[f"ev-charging-{stage}-export_worker"]
    assert {key: worker[key] for key in EXPORT_WORKER} == EXPORT_WORKER
    apigateway = _client("apigateway", aws_env)
    [api] = apigateway.get_rest_apis()["items"]
    # moto makes no AWS::ApiGateway::Stage (the intended `api`), but does make the stages deployments name,
    # as SAM's `Stage` stage was (tests/test_deployment.py checks the transformed template for exactly `api`).
    assert [s["stageName"] for s in apigateway.get_stages(restApiId=api["id"])["item"]] == []
    _assert_fleet_started(first, stage)

    second = _run(checkout, aws_env, "deploy/stack.sh", stage)
    assert f"artifacts bucket: s3://{bucket}" in second
    assert f"No changes to deploy. Stack ev-charging-{stage} is up to date" in second
    assert "ApiEndpoint" in second
    _assert_fleet_started(second, stage)

    removed = _run(checkout, aws_env, "deploy/stack.sh", stage, "--delete")
    assert f"deleted ev-charging-{stage}" in removed
    assert f"ev-charging-{stage}" not in _stack_names(aws_env)
    assert _functions(aws_env, stage) == {} and apigateway.get_rest_apis()["items"] == []
    assert len(_tables(aws_env, stage)) == len(TABLES)  # kept: charging history outlives the stack


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_path_2_chalice_deploy_deploys_redeploys_and_tears_down(checkout, aws_env, stage):
    apigateway = _client("apigateway", aws_env)
    for run in range(2):
        data = _run(checkout, aws_env, "deploy/data-stack.sh", stage)
        assert "EventBusArn" in data  # the outputs table
        if run == 0:  # the stack's AWS::ApiGateway::ApiKey, which moto's CloudFormation skips
            apigateway.create_api_key(name=f"ev-charging-{stage}-operator", enabled=True)
        deployed = _run(checkout, aws_env, "deploy/chalice-deploy.sh", stage)
        assert "Local mode" not in deployed  # importing the app to wire it never starts the local runtime
        _assert_fleet_started(deployed, stage)
        if run == 1:
            assert "No changes to deploy" in data

    # Chalice's own names (its deployed record), not a stand-in: each has the log group the data stack made
    # and the role policy of its own file.
    record = json.loads((checkout / ".chalice" / "deployed" / f"{stage}.json").read_text())
    functions = {r["name"]: r["lambda_arn"] for r in record["resources"] if r["resource_type"] == "lambda_function"}
    assert set(functions) == set(FUNCTIONS)
    logs = _client("logs", aws_env)
    groups = {g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]}
    iam, lambda_ = _client("iam", aws_env), _client("lambda", aws_env)
    for name, arn in functions.items():
        function_name = arn.rsplit(":", 1)[-1]
        assert function_name == templates.deployed_function_name(stage, name)
        assert f"/aws/lambda/{function_name}" in groups
        configuration = lambda_.get_function(FunctionName=arn)["Configuration"]
        if name == "export_worker":
            assert {key: configuration[key] for key in EXPORT_WORKER} == EXPORT_WORKER
        role = configuration["Role"].rsplit("/", 1)[-1]
        [policy] = iam.list_role_policies(RoleName=role)["PolicyNames"]
        document = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
        expected = json.loads(templates.policy_file(stage, name).read_text())
        assert (json.loads(document) if isinstance(document, str) else document) == expected
    # What the wiring adds: the handlers' rules on the stage's bus with the DLQ, the schedule's DLQ, the failure
    # destinations, the API stage's throttling and access log, the operator key's usage plan.
    events, dlq = _client("events", aws_env), f"ev-charging-{stage}-events-dlq"
    bus_rules = events.list_rules(EventBusName=f"ev-bus-{stage}")["Rules"]
    assert {r["Name"] for r in bus_rules} == {f"ev-charging-{stage}-{n}-bus" for n in BUS_HANDLERS}
    for rule in bus_rules:
        [target] = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=f"ev-bus-{stage}")["Targets"]
        assert target["Arn"] in functions.values() and target["DeadLetterConfig"]["Arn"].endswith(dlq)
    for scheduled in SCHEDULED:
        [schedule] = [r["rule_name"] for r in record["resources"] if r["name"] == f"{scheduled}-event"]
        assert events.list_targets_by_rule(Rule=schedule)["Targets"][0]["DeadLetterConfig"]["Arn"].endswith(dlq)
    for name in (*SCHEDULED, *BUS_HANDLERS):
        config = lambda_.get_function_event_invoke_config(FunctionName=functions[name])
        assert config["DestinationConfig"]["OnFailure"]["Destination"].endswith(f"ev-charging-{stage}-async-failures")
    [api] = apigateway.get_rest_apis()["items"]
    api_stage = apigateway.get_stage(restApiId=api["id"], stageName="api")
    throttle = templates.load()["Mappings"]["StageConfig"][stage]["ThrottleRate"]
    assert api_stage["methodSettings"]["*/*"]["throttlingRateLimit"] == throttle
    assert api_stage["accessLogSettings"]["destinationArn"].endswith(f"/aws/apigateway/ev-charging-{stage}-access")
    [plan] = apigateway.get_usage_plans()["items"]
    assert apigateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"]

    _run(checkout, aws_env, "deploy/chalice-deploy.sh", stage, "--delete")
    _run(checkout, aws_env, "deploy/data-stack.sh", stage, "--delete")
    assert _functions(aws_env, stage) == {} and apigateway.get_rest_apis()["items"] == []
    assert apigateway.get_usage_plans()["items"] == []
    assert not any(_stack_names(aws_env) & {f"ev-charging-data-{stage}"})
    assert len(_tables(aws_env, stage)) == len(TABLES)  # kept on purpose


def test_wiring_a_stage_never_starts_the_local_runtime(tmp_path):
    """`python deploy/wire_custom_bus.py --stage dev` imports app.py for its event sources: whatever the shell
    says (here the local stage, asking for the runtime), that import must not start DynamoDB Local, the
    simulator or a gateway. Nothing answers on the AWS side here, so the script fails after the import."""
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "STAGE": "local",
        "LOCAL_RUNTIME": "on",
        "OCPP_PORT": str(port),
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_free_port()}",
        "AWS_MAX_ATTEMPTS": "1",
        "HOME": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "deploy/wire_custom_bus.py", "--stage", "dev"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "| app" in result.stderr  # it did import the app
    assert "chalicelib.local_runtime" not in result.stderr and "Local mode" not in result.stderr
    assert result.returncode != 0  # the wiring itself failed: no AWS here


def test_the_gateway_deploys_into_the_default_vpc_with_its_certificate(checkout, aws_env):
    """deploy/gateway.sh after the image is in ECR (no Docker daemon here: the image the script would build and
    push is registered in the emulator's ECR under the tag the script computes, so the script skips the build)."""
    stage = "dev"
    tag = subprocess.run(
        ["bash", "-c", "source deploy/common.sh && gateway_image_tag"],
        cwd=checkout,
        env=aws_env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ecr = _client("ecr", aws_env)
    ecr.create_repository(repositoryName="ev-charging-ocpp-gateway")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 1,
            "digest": "sha256:" + "0" * 64,
        },
        "layers": [],
    }
    ecr.put_image(repositoryName="ev-charging-ocpp-gateway", imageManifest=json.dumps(manifest), imageTag=tag)
    certificate = _client("acm", aws_env).request_certificate(DomainName="ocpp.example.com")["CertificateArn"]

    deployed = _run(checkout, aws_env, "deploy/gateway.sh", stage, certificate)
    assert "is already in ECR" in deployed and "wss://" in deployed  # the GatewayUrl output
    ec2 = _client("ec2", aws_env)
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["SecurityGroups"]
    app_port = [rule for group in groups for rule in group["IpPermissions"] if rule.get("FromPort") == 9000]
    assert [r["CidrIp"] for rule in app_port for r in rule["IpRanges"]] == [vpc["CidrBlock"]]  # 172.31.0.0/16
    elbv2 = _client("elbv2", aws_env)
    [group] = elbv2.describe_target_groups()["TargetGroups"]
    assert (group["HealthCheckProtocol"], group["HealthCheckPath"]) == ("HTTP", "/health")
    [listener] = elbv2.describe_listeners(LoadBalancerArn=group["LoadBalancerArns"][0])["Listeners"]
    assert listener["Protocol"] == "TLS" and listener["Certificates"][0]["CertificateArn"] == certificate

    _run(checkout, aws_env, "deploy/stack.sh", stage, "--delete")
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []
