"""The OCPP WebSocket gateway as its container runs it, offline: its own dependency set (requirements-gateway.txt)
in a clean virtualenv, only chalicelib/ (what the Dockerfile copies), exactly the prod task definition's
environment and command from the packaged template, DynamoDB Local for DynamoDB. A charger with a password
connects, boots and is answered. And the image itself, built with Docker where a Docker daemon answers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import uuid
import venv
from pathlib import Path

import pytest
import websockets

from deploy import templates
from tests.live_server import free_port
from tests.support import ROOT

STAGE = "prod"
CHARGER, PASSWORD = "CP-DEMO-GW1", "a-long-gateway-password-1"


@pytest.fixture(scope="module")
def gateway_python(tmp_path_factory) -> Path:
    """A virtualenv with nothing but requirements-gateway.txt (and what pip resolves for it)."""
    directory = tmp_path_factory.mktemp("gateway-venv")
    venv.create(directory, with_pip=True)
    python = directory / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(ROOT / "requirements-gateway.txt"),
        ],
        check=True,
        cwd=ROOT,
        timeout=600,
    )
    return python


@pytest.fixture(scope="module")
def task_definition(packaged) -> dict:
    """The prod stack's gateway container, from deploy/package.sh's template (the session's: the template
    names no region, so it is the one any region's deployment would get)."""
    sam = json.loads((packaged[STAGE] / "sam.json").read_text())
    [container] = sam["Resources"][templates.GATEWAY_TASK]["Properties"]["ContainerDefinitions"]
    return container


def _resolve(value, names: dict[str, str]) -> str:
    """What CloudFormation puts in the task's environment: a Ref is the resource's name; the stack id."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return names[value["Ref"]]
    assert value == {"Fn::Sub": "${AWS::StackId}"}, value
    return f"arn:aws:cloudformation:eu-west-1:123456789012:stack/ev-charging-{STAGE}/{uuid.uuid4()}"


def test_the_gateways_dependencies_are_its_own_and_hold_no_chalice(gateway_python):
    listed = subprocess.run(
        [str(gateway_python), "-m", "pip", "list", "--format=json"], check=True, capture_output=True, text=True
    ).stdout
    installed = {package["name"].lower() for package in json.loads(listed)}
    assert {"ocpp", "websockets", "boto3"} <= installed
    assert "chalice" not in installed


def test_the_prod_task_serves_a_charger_with_a_password(
    gateway_python, task_definition, dynamodb_local, monkeypatch, tmp_path
):
    names = templates.physical_names(templates.load(), STAGE)
    environment = {entry["Name"]: _resolve(entry["Value"], names) for entry in task_definition["Environment"]}
    # The tables, and the charger's password as the operator's PUT /chargepoints/{id}/password stores it.
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local)
    from chalicelib import auth, settings, storage

    settings.get.cache_clear()
    storage.reset_client()
    storage.ensure_tables()
    auth.set_password(CHARGER, PASSWORD)

    image = tmp_path / "app"  # what the Dockerfile copies
    shutil.copytree(ROOT / "chalicelib", image / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    port = free_port()
    command = [str(gateway_python) if part == "python" else part for part in task_definition["Command"]]
    command[command.index("--port") + 1] = str(port)
    # Exactly the task's environment; the rest is what the image (Dockerfile ENV), ECS and the task role provide:
    # here the region and credentials of this test's DynamoDB Local database.
    aws = {name: os.environ[name] for name in ("AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env = {
        **environment,
        **aws,
        "PATH": os.environ["PATH"],
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_local,
    }
    gateway = subprocess.Popen(command, cwd=image, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = gateway.stdout.readline()  # it says where it listens once it does
        if "listening on" not in line:
            gateway.wait(timeout=30)
            pytest.fail("the gateway did not start:\n" + line + gateway.stdout.read())
        try:
            answer = asyncio.run(_boot(port))
        except websockets.exceptions.InvalidStatus as error:
            gateway.terminate()
            pytest.fail(f"{error}; the gateway said:\n{gateway.communicate(timeout=15)[0]}")
    finally:
        gateway.terminate()
        gateway.wait(timeout=15)
    assert answer[0] == 3 and answer[1] == "boot-1"
    assert answer[2]["status"] == "Accepted" and answer[2]["interval"] > 0


async def _boot(port: int) -> list:
    token = base64.b64encode(f"{CHARGER}:{PASSWORD}".encode()).decode()
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/ocpp/{CHARGER}",
        subprotocols=["ocpp1.6"],
        additional_headers={"Authorization": f"Basic {token}"},
        open_timeout=20,
    ) as ws:
        await ws.send(
            json.dumps(
                [2, "boot-1", "BootNotification", {"chargePointVendor": "Rehearsal", "chargePointModel": "Container"}]
            )
        )
        return json.loads(await asyncio.wait_for(ws.recv(), 20))


def _docker_answers() -> str | None:
    """None when a Docker daemon answers, else why not."""
    if not shutil.which("docker"):
        return "no docker command here"
    probe = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True)
    return None if probe.returncode == 0 else "no Docker daemon answers here: " + probe.stderr.strip()[:200]


@pytest.mark.skipif(_docker_answers() is not None, reason=str(_docker_answers()))
def test_the_image_builds_runs_as_non_root_and_holds_no_chalice():
    tag = f"ev-charging-ocpp-gateway:test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "build", "--tag", tag, "."], cwd=ROOT, check=True, timeout=900)
    try:
        probe = "import os, importlib.util as u; print(os.getuid(), u.find_spec('chalice') is None)"
        out = subprocess.run(
            ["docker", "run", "--rm", tag, "python", "-c", probe], check=True, capture_output=True, text=True
        ).stdout.split()
        assert out[0] != "0" and out[1] == "True"
    finally:
        subprocess.run(["docker", "image", "rm", "--force", tag], capture_output=True)
