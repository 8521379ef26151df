"""The tests' own moto: its DynamoDB answers written without the shape walk are the answers it wrote before."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from moto.core.serialize import BaseJSONSerializer

ITEM = {
    "id": {"S": "cp-1"},
    "n": {"N": "12.5"},
    "empty": {"S": ""},
    "flag": {"BOOL": False},
    "none": {"NULL": True},
    "tags": {"SS": ["a", "b"]},
    "numbers": {"NS": ["1", "2"]},
    "nested": {"M": {"list": {"L": [{"S": "x"}, {"N": "1"}, {"M": {"deep": {"BOOL": True}}}]}, "m": {"M": {}}}},
    "blob": {"B": b"\x00\x01"},
    "blobs": {"BS": [b"\x02"]},
    "mixed": {"L": [{"S": "y"}, {"B": b"\x03"}]},
}


def _answers() -> list[dict]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.put_item(TableName="t", Item=ITEM)
        answers = [
            dynamodb.get_item(TableName="t", Key={"id": {"S": "cp-1"}}),
            dynamodb.query(
                TableName="t", KeyConditionExpression="id = :id", ExpressionAttributeValues={":id": {"S": "cp-1"}}
            ),
            dynamodb.scan(TableName="t"),
        ]
    for answer in answers:
        answer.pop("ResponseMetadata")
    return answers


def test_the_fast_attribute_values_are_the_walks_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = BaseJSONSerializer._serialize_type_structure
    assert fast.fast_attribute_values  # type: ignore[attr-defined]
    answers = _answers()
    monkeypatch.setattr(BaseJSONSerializer, "_serialize_type_structure", fast.walk)  # type: ignore[attr-defined]
    assert answers == _answers()
    assert answers[0]["Item"] == ITEM
