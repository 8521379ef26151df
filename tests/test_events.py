"""Publishing and receiving OCPP events: partial PutEvents failures are re-sent and never dropped
silently, oversized events are refused at the source, a re-delivered or re-sent event changes nothing,
a failing handler raises (Lambda retries, then the failure queue) and a poison event is dropped alone."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from chalicelib import central_system, events, ocpp_frames, rest, storage
from tests.ocpp_builders import boot
from tests.support import ROOT, T0


def entries(count: int) -> list[dict]:
    return [events.call_entry("CP-1", [2, f"m{n}", "Heartbeat", {}], T0) for n in range(count)]


class FlakyEventBridge:
    """put_events that fails the entries it is told to, call by call, as EventBridge does: HTTP 200,
    FailedEntryCount > 0, and an ErrorCode on each failed entry."""

    def __init__(self, failures: list[set[str]]) -> None:
        self.failures = failures
        self.batches: list[list[str]] = []

    def put_events(self, Entries: list[dict]) -> dict:  # noqa: N803 - boto3's parameter name
        self.batches.append([json.loads(e["Detail"])["messageId"] for e in Entries])
        failing = self.failures.pop(0) if self.failures else set()
        results = [
            {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}
            if message_id in failing
            else {"EventId": f"id-{message_id}"}
            for message_id in self.batches[-1]
        ]
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}


def test_only_the_failed_entries_are_sent_again_with_back_off():
    fake = FlakyEventBridge([{"m1", "m3"}, {"m3"}])
    pauses: list[float] = []
    publisher = events.EventBridgePublisher(lambda: fake, sleep=pauses.append)
    publisher.publish(entries(5))
    assert fake.batches == [["m0", "m1", "m2", "m3", "m4"], ["m1", "m3"], ["m3"]]
    assert len(pauses) == 2 and 0 <= pauses[0] <= 0.1 and 0 <= pauses[1] <= 0.2


def test_entries_go_in_batches_of_ten():
    fake = FlakyEventBridge([])
    events.EventBridgePublisher(lambda: fake, sleep=lambda s: None).publish(entries(23))
    assert [len(batch) for batch in fake.batches] == [10, 10, 3]


def test_entries_that_keep_failing_raise_and_are_named():
    fake = FlakyEventBridge([{"m2"}] * 100)
    publisher = events.EventBridgePublisher(lambda: fake, sleep=lambda s: None)
    with pytest.raises(events.PublishError, match=r"1 events not accepted .* 6 tries: \['ThrottlingException'\]"):
        publisher.publish(entries(4))
    assert len(fake.batches) == events.MAX_ATTEMPTS and fake.batches[-1] == ["m2"]


def test_an_event_over_256_kb_is_refused_at_the_source():
    with pytest.raises(events.PublishError, match="256 KB"):
        events.call_entry("CP-1", [2, "big", "DataTransfer", {"vendorId": "v", "data": "x" * 300_000}], T0)
    events.call_entry("CP-1", [2, "fits", "DataTransfer", {"vendorId": "v", "data": "x" * 200_000}], T0)


def test_every_event_carries_its_own_message_id_and_the_senders_timestamp():
    call = json.loads(events.call_entry("CP-1", [2, "u-1", "Heartbeat", {}], T0)["Detail"])
    reply = json.loads(events.reply_entry("CP-1", [3, "u-1", {}], "Heartbeat", T0)["Detail"])
    for detail in (call, reply):
        assert detail["messageId"] == "u-1" and detail["timestamp"] == ocpp_frames.format_timestamp(T0)


def test_publishing_to_eventbridge_on_moto_delivers_to_a_rule_target(aws):
    import boto3

    bus = boto3.client("events").create_event_bus(Name="ev-bus-test")["EventBusArn"]
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="calls")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client = boto3.client("events")
    client.put_rule(Name="calls", EventBusName=bus, EventPattern=json.dumps(events.CALL_PATTERN))
    client.put_targets(Rule="calls", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue_arn}])
    publisher = events.EventBridgePublisher(lambda: client)
    publisher.publish(entries(12))
    received = []
    while len(received) < 12:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        assert messages, f"only {len(received)} of 12 events arrived"
        received += [json.loads(m["Body"]) for m in messages]
    assert sorted(e["detail"]["messageId"] for e in received) == sorted(f"m{n}" for n in range(12))
    assert {e["source"] for e in received} == {events.CHARGER_SOURCE} and publisher.calls == 2


# --- receiving -----------------------------------------------------------------------------------


def _deliver(app_module, event: dict) -> None:
    app_module.app.handler_map["handle_ocpp_event"](event, None)


def _state() -> tuple:
    return storage.get_charge_point("CP-1"), rest.stats(), rest.list_sessions({})["sessions"]


def test_a_redelivered_or_resent_event_changes_nothing_and_gets_the_same_answer(aws, app_module):
    boot()
    replies: list[dict] = []
    aws.subscribe({"source": [events.CENTRAL_SYSTEM_SOURCE]}, replies.append)
    frame = [
        2,
        "start-1",
        "StartTransaction",
        {"connectorId": 1, "idTag": "T", "meterStart": 10, "timestamp": ocpp_frames.format_timestamp(T0)},
    ]
    entry = events.call_entry("CP-1", frame, T0 + timedelta(seconds=1))
    first = events.envelope(entry)
    _deliver(app_module, first)
    after_first = _state()
    _deliver(app_module, first)  # EventBridge delivered it twice
    resent = events.envelope(entry)  # the sender re-published it: a new envelope id, the same detail
    assert resent["id"] != first["id"]
    _deliver(app_module, resent)
    assert _state() == after_first
    answers = [r["detail"]["message"] for r in replies]
    assert len(answers) == 3 and answers[0] == answers[1] == answers[2] and answers[0][0] == ocpp_frames.CALLRESULT
    assert after_first[1]["activeSessions"] == 1


def test_a_failing_handler_raises_so_lambda_retries_it_and_then_parks_it(aws, app_module, monkeypatch):
    boot()

    def throttled(*args, **kwargs):
        raise RuntimeError("DynamoDB is throttling")

    monkeypatch.setattr(storage, "touch_charge_point", throttled)
    event = events.envelope(events.call_entry("CP-1", [2, "hb", "Heartbeat", {}], T0))
    with pytest.raises(RuntimeError, match="throttling"):
        _deliver(app_module, event)


def test_the_handlers_failures_are_declared_to_end_in_a_queue():
    """What makes a raised exception end in a queue rather than vanish: the handler's asynchronous
    invocation config (declared by the deployment) sends a failure after its retries to an SQS queue."""
    resources = json.loads((ROOT / ".chalice" / "resources.json").read_text())["Resources"]
    handler = next(
        r
        for r in resources.values()  # merged by `chalice package --merge-template`
        if "handle_ocpp_event" in json.dumps(r.get("Properties", {}).get("FunctionName"))
    )
    invoke = handler["Properties"]["EventInvokeConfig"]
    assert invoke["MaximumRetryAttempts"] >= 1
    destination = invoke["DestinationConfig"]["OnFailure"]
    assert (
        destination["Type"] == "SQS"
        and resources[destination["Destination"]["Fn::GetAtt"][0]]["Type"] == "AWS::SQS::Queue"
    )


@pytest.mark.parametrize(
    "detail",
    [
        {},
        {"message": [2, "x", "Heartbeat", {}]},
        {"chargePointId": 42, "message": [2, "x", "Heartbeat", {}]},
        {"chargePointId": "bad id/", "message": [2, "x", "Heartbeat", {}]},
        {"chargePointId": "CP-1"},
    ],
)
def test_a_poison_event_is_logged_and_dropped_and_does_not_block_the_next(aws, app_module, caplog, detail):
    boot()
    before = _state()
    poison = {**events.envelope(events.call_entry("CP-1", [2, "p", "Heartbeat", {}], T0)), "detail": detail}
    _deliver(app_module, poison)  # no exception: retrying it could never succeed
    assert _state() == before
    assert any(
        '"event": "undeliverable"' in record.getMessage() and poison["id"] in record.getMessage()
        for record in caplog.records
    )
    later = T0 + timedelta(seconds=30)
    _deliver(app_module, events.envelope(events.call_entry("CP-1", [2, "hb-after", "Heartbeat", {}], later)))
    assert storage.get_charge_point("CP-1")["lastCallId"] == "hb-after"


def test_a_garbage_frame_in_an_event_is_answered_with_a_callerror_and_counted(aws, app_module):
    boot()
    replies: list[dict] = []
    aws.subscribe({"source": [events.CENTRAL_SYSTEM_SOURCE]}, replies.append)
    _deliver(app_module, events.envelope(events.call_entry("CP-1", [2, "g", "Heartbeat", {"x": 1}], T0)))
    assert replies[0]["detail"]["message"][2] == "FormatViolation" and rest.stats()["rejectedMessages"] == 1
    assert central_system.handle("CP-1", "[]", T0)[0] == ocpp_frames.CALLERROR
