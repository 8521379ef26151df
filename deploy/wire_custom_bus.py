"""After `chalice deploy`: what chalice has no setting for, done with the AWS API (idempotent).

- The event handlers' rules on the custom bus ev-bus-STAGE (chalice puts every on_cw_event rule on the
  default bus, where nothing is published), with the handler's own pattern, a dead-letter queue and a
  retry policy; and the dead-letter queue on chalice's schedule rule.
- A failure destination (the async-failures queue) for every asynchronously invoked function.
- The API stage: throttling, JSON access logs, tracing; and a usage plan for the operator API key.

usage: python deploy/wire_custom_bus.py --stage dev [--delete]     (deploy/chalice-deploy.sh runs it)
Reads .chalice/deployed/STAGE.json (what chalice deployed), the patterns from app.py itself, and every
name from .chalice/resources.json. --delete removes what it added; run it before `chalice delete`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deploy import templates  # noqa: E402

ROOT = templates.ROOT
RULE_RETRY = {"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 3600}
SCHEDULE_RETRY = {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 600}
ASYNC_RETRY = {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600}


class Wiring:
    def __init__(self, stage: str, session=None, deployed_file: Path | None = None) -> None:
        import boto3

        session = session or boto3.session.Session()
        self.stage = stage
        self.events, self.lambda_ = session.client("events"), session.client("lambda")
        self.sqs, self.apigateway = session.client("sqs"), session.client("apigateway")
        self.logs = session.client("logs")
        resources = templates.load()
        self.names = templates.physical_names(resources, stage)
        self.stage_config = resources["Mappings"]["StageConfig"][stage]
        self.access_format = resources["Resources"]["RestAPI"]["Properties"]["AccessLogSetting"]["Format"]
        deployed_file = deployed_file or ROOT / ".chalice" / "deployed" / f"{stage}.json"
        deployed = json.loads(deployed_file.read_text())["resources"]
        self.functions = {r["name"]: r["lambda_arn"] for r in deployed if r["resource_type"] == "lambda_function"}
        self.rest_api = next((r["rest_api_id"] for r in deployed if r["resource_type"] == "rest_api"), None)
        self.schedule_rules = [r["rule_name"] for r in deployed if r["resource_type"] == "cloudwatch_event"]

    def queue_arn(self, logical_id: str) -> str:
        url = self.sqs.get_queue_url(QueueName=self.names[logical_id])["QueueUrl"]
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def rule_name(self, function: str) -> str:
        return f"{templates.APP_NAME}-{self.stage}-{function}-bus"  # at most 64 characters

    def wire(self, patterns: dict[str, dict], scheduled: list[str]) -> None:
        bus = self.names["EventBus"]
        self.events.describe_event_bus(Name=bus)  # fails here, clearly, without the data stack
        dlq, failures = self.queue_arn("EventsDLQ"), self.queue_arn("AsyncFailureQueue")
        for function, pattern in patterns.items():
            rule = self.rule_name(function)
            rule_arn = self.events.put_rule(
                Name=rule, EventBusName=bus, State="ENABLED", EventPattern=json.dumps(pattern)
            )["RuleArn"]
            self.events.put_targets(
                Rule=rule,
                EventBusName=bus,
                Targets=[
                    {
                        "Id": "1",
                        "Arn": self.functions[function],
                        "DeadLetterConfig": {"Arn": dlq},
                        "RetryPolicy": RULE_RETRY,
                    }
                ],
            )
            self._permit(function, rule, rule_arn)
            print(f"rule {rule_arn} -> {function}")
        scheduled_arns = {self.functions[function] for function in scheduled}
        for rule in self.schedule_rules:  # chalice's own rules: the schedule gets its dead-letter queue
            for target in self.events.list_targets_by_rule(Rule=rule)["Targets"]:
                if target["Arn"] in scheduled_arns:
                    self.events.put_targets(
                        Rule=rule,
                        Targets=[
                            {
                                "Id": target["Id"],
                                "Arn": target["Arn"],
                                "DeadLetterConfig": {"Arn": dlq},
                                "RetryPolicy": SCHEDULE_RETRY,
                            }
                        ],
                    )
        for function in [*patterns, *scheduled]:
            self.lambda_.put_function_event_invoke_config(
                FunctionName=self.functions[function],
                **ASYNC_RETRY,
                DestinationConfig={"OnFailure": {"Destination": failures}},
            )
        if self.rest_api:
            self.wire_api()

    def _permit(self, function: str, rule: str, rule_arn: str) -> None:
        try:
            self.lambda_.add_permission(
                FunctionName=self.functions[function],
                StatementId=rule,
                Action="lambda:InvokeFunction",
                Principal="events.amazonaws.com",
                SourceArn=rule_arn,
            )
        except self.lambda_.exceptions.ResourceConflictException:
            pass  # already there from an earlier run

    def wire_api(self) -> None:
        group = self.logs.describe_log_groups(
            logGroupNamePrefix=f"/aws/apigateway/{templates.APP_NAME}-{self.stage}-access"
        )["logGroups"][0]
        self.apigateway.update_stage(
            restApiId=self.rest_api,
            stageName="api",
            patchOperations=[
                {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": str(self.stage_config["ThrottleRate"])},
                {
                    "op": "replace",
                    "path": "/*/*/throttling/burstLimit",
                    "value": str(self.stage_config["ThrottleBurst"]),
                },
                {
                    "op": "replace",
                    "path": "/accessLogSettings/destinationArn",
                    "value": group["arn"].removesuffix(":*"),
                },
                {"op": "replace", "path": "/accessLogSettings/format", "value": self.access_format},
                {"op": "replace", "path": "/tracingEnabled", "value": "true"},
            ],
        )
        plan_name = f"{templates.APP_NAME}-{self.stage}-operators"
        plan = next((p for p in self.apigateway.get_usage_plans()["items"] if p["name"] == plan_name), None)
        if plan is None:
            plan = self.apigateway.create_usage_plan(
                name=plan_name,
                throttle={"rateLimit": 5, "burstLimit": 10},
                apiStages=[{"apiId": self.rest_api, "stage": "api"}],
            )
            key_name = f"{templates.APP_NAME}-{self.stage}-operator"  # from the data stack
            key = next(k for k in self.apigateway.get_api_keys(nameQuery=key_name)["items"] if k["name"] == key_name)
            self.apigateway.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
        print(f"API {self.rest_api}: throttled, access logs to {group['logGroupName']}, usage plan {plan['id']}")

    def unwire(self, patterns: dict[str, dict]) -> None:
        bus = self.names["EventBus"]
        for function in patterns:
            rule = self.rule_name(function)
            for call in (
                lambda rule=rule: self.events.remove_targets(Rule=rule, EventBusName=bus, Ids=["1"]),
                lambda rule=rule: self.events.delete_rule(Name=rule, EventBusName=bus),
                lambda rule=rule, function=function: self.lambda_.remove_permission(
                    FunctionName=self.functions[function], StatementId=rule
                ),
            ):
                try:
                    call()
                except Exception as error:  # already gone: carry on with the rest
                    print(f"skip: {error}")
        plan_name = f"{templates.APP_NAME}-{self.stage}-operators"
        for plan in self.apigateway.get_usage_plans()["items"]:
            if plan["name"] == plan_name:
                for key in self.apigateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"]:
                    self.apigateway.delete_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"])
                self.apigateway.update_usage_plan(
                    usagePlanId=plan["id"],
                    patchOperations=[{"op": "remove", "path": "/apiStages", "value": f"{self.rest_api}:api"}]
                    if self.rest_api
                    else [],
                )
                self.apigateway.delete_usage_plan(usagePlanId=plan["id"])


def app_event_sources(stage: str) -> tuple[dict[str, dict], list[str]]:
    """The bus handlers' patterns and the scheduled functions, from app.py itself, imported with the stage's
    environment as `chalice deploy` imports it (so never as the local stage, which would start a runtime)."""
    from chalice.app import CloudWatchEventConfig, ScheduledEventConfig

    os.environ.update(templates.stage_env(stage))
    sys.path.insert(0, str(ROOT))
    import app

    sources = app.app.event_sources
    return (
        {s.name: s.event_pattern for s in sources if isinstance(s, CloudWatchEventConfig)},
        [s.name for s in sources if isinstance(s, ScheduledEventConfig)],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True, choices=["dev", "prod"])
    parser.add_argument("--delete", action="store_true", help="remove what the wiring added")
    args = parser.parse_args()
    patterns, scheduled = app_event_sources(args.stage)
    wiring = Wiring(args.stage)
    if args.delete:
        wiring.unwire(patterns)
    else:
        wiring.wire(patterns, scheduled)


if __name__ == "__main__":
    main()
