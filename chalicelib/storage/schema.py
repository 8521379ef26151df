"""The tables, from the one declaration in .chalice/resources.json: created where missing (local mode,
the tests, the benchmark), and probed by the gateway's health check."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib import settings
from chalicelib.storage.dynamo import client, tables
from chalicelib.storage.operations import get_item

RESOURCES_FILE = Path(__file__).resolve().parents[2] / ".chalice" / "resources.json"
# Logical id in resources.json -> the Settings attribute holding the table's name.
TABLES = {
    "ChargePointsTable": "charge_points_table",
    "SessionsTable": "sessions_table",
    "SimulatorTable": "simulator_table",
    "StatsTable": "stats_table",
    "CommandsTable": "commands_table",
    "ReservationsTable": "reservations_table",
    "IdTagsTable": "id_tags_table",
    "HistoryTable": "history_table",
    "SitesTable": "sites_table",
}


@dataclass
class TableSpec:
    logical_id: str
    name: str
    definition: dict = field(default_factory=dict)


def table_specs() -> list[TableSpec]:
    """CreateTable arguments for every table declared in resources.json, named per the settings."""
    resources = json.loads(RESOURCES_FILE.read_text())["Resources"]
    current = settings.get()
    specs = []
    for logical_id, attribute in TABLES.items():
        props = resources[logical_id]["Properties"]
        keys = ("AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes")
        definition = {key: props[key] for key in keys if key in props}
        specs.append(TableSpec(logical_id, getattr(current, attribute), definition))
    return specs


def ensure_tables() -> list[str]:
    """Create the declared tables that do not exist yet, and the declared indexes an existing table lacks
    (local data kept from an older version); returns the names of the tables it created."""
    existing = set()
    for page in client().get_paginator("list_tables").paginate():
        existing.update(page["TableNames"])
    created = []
    for spec in table_specs():
        if spec.name in existing:
            _add_missing_indexes(spec)
            continue
        client().create_table(TableName=spec.name, **spec.definition)
        client().get_waiter("table_exists").wait(TableName=spec.name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        created.append(spec.name)
    return created


def _add_missing_indexes(spec: TableSpec) -> None:
    """A table kept from before an index was declared (local data under .local/) gets it, as CloudFormation
    adds it in the cloud: 1 DescribeTable, then 1 UpdateTable per missing index (DynamoDB creates one at a
    time), each waited for until ACTIVE."""
    present = client().describe_table(TableName=spec.name)["Table"].get("GlobalSecondaryIndexes", [])
    names = {index["IndexName"] for index in present}
    attributes = {a["AttributeName"]: a for a in spec.definition["AttributeDefinitions"]}
    for index in spec.definition.get("GlobalSecondaryIndexes", []):
        if index["IndexName"] in names:
            continue
        keys = [key["AttributeName"] for key in index["KeySchema"]]
        client().update_table(
            TableName=spec.name,
            AttributeDefinitions=[attributes[key] for key in keys],
            GlobalSecondaryIndexUpdates=[{"Create": index}],
        )
        for _ in range(300):  # DynamoDB Local builds it at once; a real table's backfill takes minutes
            indexes = client().describe_table(TableName=spec.name)["Table"].get("GlobalSecondaryIndexes", [])
            if any(
                i["IndexName"] == index["IndexName"] and i.get("IndexStatus", "ACTIVE") == "ACTIVE" for i in indexes
            ):
                break
            time.sleep(0.2)


def ping() -> None:
    """1 GetItem (eventually consistent, 0.5 read unit) of a key no item has: raises unless the charge
    points table answers this process (the gateway's health check)."""
    get_item(tables().charge_points, {"chargePointId": "health#probe"})
