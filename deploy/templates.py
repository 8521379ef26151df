"""Everything deploy/ derives from the one declaration in .chalice/ (resources.json and config.json),
so that both deploy paths and the tests read the same source.

usage: python deploy/templates.py stage-env STAGE           shell exports of the stage's environment
       python deploy/templates.py policies                  write each function's iam_policy_file for `chalice deploy`
       python deploy/templates.py data-template             the data-only stack (tables, bus, queues, logs)
       python deploy/templates.py gateway-environment SAM   give the gateway task the API function's environment
       python deploy/templates.py sam-transform IN OUT      SAM -> CloudFormation, offline
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".chalice" / "config.json"
RESOURCES = ROOT / ".chalice" / "resources.json"
APP_NAME = "ev-charging"
API_HANDLER = "api_handler"
GATEWAY_TASK = "OcppGatewayTaskDefinition"
ARN_FORMATS = {  # resource type -> its ARN from its name, for a policy file that cannot hold intrinsics
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:*:*:table/{}",
    "AWS::Events::EventBus": "arn:aws:events:*:*:event-bus/{}",
    "AWS::SQS::Queue": "arn:aws:sqs:*:*:{}",
    "AWS::S3::Bucket": "arn:aws:s3:::{}",
}
NAME_PROPERTY = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Events::EventBus": "Name",
    "AWS::SQS::Queue": "QueueName",
    "AWS::S3::Bucket": "BucketName",
}


def load(path: Path = RESOURCES) -> dict:
    return json.loads(path.read_text())


def stage_env(stage: str) -> dict[str, str]:
    """The environment chalice gives the stage's functions: config.json's top level, then the stage's."""
    config = load(CONFIG)
    if stage not in config["stages"]:
        raise SystemExit(f"no stage {stage!r} in {CONFIG}")
    return {**config.get("environment_variables", {}), **config["stages"][stage].get("environment_variables", {})}


def function_names(resources: dict) -> dict[str, str]:
    """Logical id of each function the merge template configures -> its chalice name (api_handler, ...)."""
    names = {}
    for logical_id, resource in resources["Resources"].items():
        name = resource.get("Properties", {}).get("FunctionName", {}).get("Fn::Sub", "")
        if name.startswith(APP_NAME + "-${Stage}-"):
            names[logical_id] = name.removeprefix(APP_NAME + "-${Stage}-")
    return names


def deployed_function_name(stage: str, name: str) -> str:
    """The name `chalice deploy` gives a function (chalice/deploy/appgraph.py): the API handler is
    APP-STAGE, every other function APP-STAGE-NAME. `chalice package` names them all APP-STAGE-NAME
    (the merge template sets FunctionName), so the two paths differ only in the API handler's name."""
    return f"{APP_NAME}-{stage}" if name == API_HANDLER else f"{APP_NAME}-{stage}-{name}"


def policy_file(stage: str, name: str) -> Path:
    return CONFIG.parent / f"policy-{stage}-{name}.json"


def physical_names(resources: dict, stage: str) -> dict[str, str]:
    """Logical id -> the name a data resource gets in this stage (tables, bus, queues)."""
    names = {}
    for logical_id, resource in resources["Resources"].items():
        prop = NAME_PROPERTY.get(resource.get("Type", ""))
        if prop:
            names[logical_id] = _sub(resource["Properties"][prop]["Fn::Sub"], stage, {})
    return names


def _sub(text: str, stage: str, names: dict[str, str]) -> str:
    """Fn::Sub for a policy file: the stage is known, the account and region are not (wildcards)."""
    known = {"Stage": stage, "AWS::Partition": "aws", "AWS::Region": "*", "AWS::AccountId": "*"}

    def value(match: re.Match) -> str:
        key = match.group(1)
        if key in known:
            return known[key]
        logical_id, _, attribute = key.partition(".")
        if attribute == "Arn" and logical_id in names:
            return names[logical_id]
        raise ValueError(f"cannot resolve ${{{key}}} outside CloudFormation")

    return re.sub(r"\$\{([^}]+)\}", value, text)


def _resolve(value: Any, stage: str, arns: dict[str, str]) -> Any:
    if isinstance(value, list):
        return [_resolve(item, stage, arns) for item in value]
    if isinstance(value, dict):
        if "Fn::GetAtt" in value and value["Fn::GetAtt"][1] == "Arn":
            return arns[value["Fn::GetAtt"][0]]
        if "Fn::Sub" in value:
            return _sub(value["Fn::Sub"], stage, arns)
        return {key: _resolve(item, stage, arns) for key, item in value.items()}
    return value


def role_policies(resources: dict) -> dict[str, list[dict]]:
    """Chalice function name -> the statements of its role in the merge template."""
    names = function_names(resources)
    roles = {}
    for name in names.values():
        role = "".join(word.capitalize() for word in name.split("_")) + "Role"  # ApiHandlerRole, not APIHandlerRole
        roles[name] = resources["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    return roles


def chalice_policy(stage: str, function: str, resources: dict | None = None) -> dict:
    """The iam_policy_file of one function for `chalice deploy`: its role's statements in the merge template,
    with the stage's names in place of the intrinsics and its log group as `chalice deploy` names it."""
    resources = resources or load()
    types = {k: v["Type"] for k, v in resources["Resources"].items() if "Type" in v}
    arns = {k: ARN_FORMATS[types[k]].format(name) for k, name in physical_names(resources, stage).items()}
    statements = []
    for statement in role_policies(resources)[function]:
        resource = _resolve(statement["Resource"], stage, arns)
        if statement["Sid"] == "Logs":
            resource = f"arn:aws:logs:*:*:log-group:/aws/lambda/{deployed_function_name(stage, function)}:*"
        statements.append(
            {
                "Sid": statement["Sid"],
                "Effect": "Allow",
                "Action": sorted(statement["Action"]),
                "Resource": resource if isinstance(resource, list) else [resource],
                **({"Condition": statement["Condition"]} if "Condition" in statement else {}),
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def write_policies() -> list[Path]:
    """Each deployed stage's functions' policy files, named in config.json's lambda_functions."""
    written = []
    for stage in load(CONFIG)["stages"]:
        if stage == "local":
            continue
        for function in role_policies(load()):
            path = policy_file(stage, function)
            path.write_text(json.dumps(chalice_policy(stage, function), indent=2) + "\n")
            written.append(path)
    return written


def _references(value: Any) -> set[str]:
    text = json.dumps(value)
    found = set(re.findall(r'"Ref": "([^"]+)"', text)) | set(re.findall(r'"Fn::GetAtt": \["([^"]+)"', text))
    found |= {name.split(".")[0] for name in re.findall(r"\$\{([^}]+)\}", text)}
    return {name for name in found if not name.startswith("AWS::")}


def data_template(resources: dict | None = None) -> dict:
    """The data-only stack for the `chalice deploy` path, from the same declarations: every declared
    resource that does not depend on what chalice creates (tables, bus, queues, the API's log group
    and operator key), plus the functions' log groups, named as `chalice deploy` names the functions."""
    resources = copy.deepcopy(resources or load())
    for logical_id, name in function_names(resources).items():
        group = resources["Resources"][logical_id + "LogGroup"]["Properties"]
        group["LogGroupName"] = {"Fn::Sub": "/aws/lambda/" + deployed_function_name("${Stage}", name)}
    # The OCPP gateway deploys with path 1's stack (deploy/gateway.sh), which gives it the stage's environment.
    kept = {k: v for k, v in resources["Resources"].items() if "Type" in v and v.get("Condition") != "HasGateway"}
    known = set(resources["Parameters"])
    while True:
        dependent = {k for k, v in kept.items() if not _references(v) <= set(kept) | known}
        if not dependent:
            break
        kept = {k: v for k, v in kept.items() if k not in dependent}
    outputs = {}
    for logical_id, resource in kept.items():
        if resource["Type"] in NAME_PROPERTY:
            outputs[logical_id + "Arn"] = {
                "Value": {"Fn::GetAtt": [logical_id, "Arn"]},
                "Export": {"Name": {"Fn::Sub": "${AWS::StackName}-" + logical_id + "Arn"}},
            }
    used = json.dumps(kept)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "EV charging: the data resources for the `chalice deploy` path (deploy/data-stack.sh)",
        "Parameters": {k: v for k, v in resources["Parameters"].items() if f'"Ref": "{k}"' in used},
        "Mappings": resources["Mappings"],
        "Conditions": {k: v for k, v in resources["Conditions"].items() if f'"{k}"' in used},
        "Resources": kept,
        "Outputs": outputs,
    }


def gateway_environment(sam: dict) -> dict:
    """The packaged template with the gateway task's environment set to the API function's (config.json's
    stage settings and the template's resource names): the gateway runs the same central system."""
    variables = sam["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    [container] = sam["Resources"][GATEWAY_TASK]["Properties"]["ContainerDefinitions"]
    container["Environment"] = [{"Name": name, "Value": value} for name, value in sorted(variables.items())]
    return sam


def sam_transform(template: dict) -> dict:
    """What CloudFormation's SAM transform does server-side, offline (after `aws cloudformation package`
    has put the archive in S3), so the generated rules, stages and permissions can be checked here."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.public.exceptions import InvalidDocumentException
    from samtranslator.translator.translator import Translator

    template = copy.deepcopy(template)
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://deployment-bucket/deployment.zip"
    try:
        # No managed policy to look up (chalice gives every function its role); the region only fills
        # ARNs SAM builds, so any region checks the same template.
        translator = Translator({}, Parser(), boto_session=boto3.session.Session(region_name="us-east-1"))
        return translator.translate(template, parameter_values={}, get_managed_policy_map=lambda: {})
    except InvalidDocumentException as error:
        raise SystemExit("SAM transform failed: " + "; ".join(cause.message for cause in error.causes)) from None


def main(argv: list[str]) -> None:
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if command == "stage-env" and len(args) == 1:
        for name, value in stage_env(args[0]).items():
            print(f"export {name}={shlex.quote(value)}")
    elif command == "policies" and not args:
        for path in write_policies():
            print(f"wrote {path.relative_to(ROOT)}")
    elif command == "gateway-environment" and len(args) == 1:
        path = Path(args[0])
        path.write_text(json.dumps(gateway_environment(json.loads(path.read_text())), indent=2))
    elif command == "data-template" and not args:
        print(json.dumps(data_template(), indent=2))
    elif command == "sam-transform" and len(args) == 2:
        Path(args[1]).write_text(json.dumps(sam_transform(load(Path(args[0]))), indent=2))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
