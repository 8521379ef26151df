"""Event delivery: OCPP frames on the EventBridge bus, and the in-process bus that stands in for it
offline. The only module that talks to EventBridge.

Chargers' CALLs travel as source `ev.simulator`, detail-type `OCPP Call`; the central system's answers
travel back as source `ev.central-system`, detail-type `OCPP CallResult` / `OCPP CallError`. Commands to
the simulated fleet go the other way: the central system's CALL as `ev.central-system` / `OCPP Command`, the
charger's CALLRESULT or CALLERROR back as `ev.simulator` / `OCPP Command Answer`. An export too big or too
slow for the API's answer goes to its worker as `ev.central-system` / `Export Requested`. Each
event's detail carries its own stable messageId (the OCPP uniqueId) and the sender's timestamp, so a
re-sent event (which gets a new envelope id) is still recognised as the same message.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from chalicelib import ocpp_frames
from chalicelib import settings as settings_module

CHARGER_SOURCE = "ev.simulator"
CALL_DETAIL_TYPE = "OCPP Call"
CENTRAL_SYSTEM_SOURCE = "ev.central-system"
RESULT_DETAIL_TYPE = "OCPP CallResult"
ERROR_DETAIL_TYPE = "OCPP CallError"
COMMAND_DETAIL_TYPE = "OCPP Command"
COMMAND_ANSWER_DETAIL_TYPE = "OCPP Command Answer"
# The handler's rule: exactly the CALLs the simulator publishes.
CALL_PATTERN = {"source": [CHARGER_SOURCE], "detail-type": [CALL_DETAIL_TYPE]}
# The simulator's inbox rule: the answers a simulated charger waits for.
REPLY_PATTERN = {
    "source": [CENTRAL_SYSTEM_SOURCE],
    "detail-type": [RESULT_DETAIL_TYPE, ERROR_DETAIL_TYPE],
    "detail": {"action": ["Authorize", "BootNotification", "StartTransaction"]},
}
# The simulator's rule for the central system's commands, and the central system's for their answers.
COMMAND_PATTERN = {"source": [CENTRAL_SYSTEM_SOURCE], "detail-type": [COMMAND_DETAIL_TYPE]}
COMMAND_ANSWER_PATTERN = {"source": [CHARGER_SOURCE], "detail-type": [COMMAND_ANSWER_DETAIL_TYPE]}
# The export worker's rule: the jobs the API hands off (exports.py's export, past the answer's time or size).
EXPORT_DETAIL_TYPE = "Export Requested"
EXPORT_PATTERN = {"source": [CENTRAL_SYSTEM_SOURCE], "detail-type": [EXPORT_DETAIL_TYPE]}
log = logging.getLogger("ev.events")
MAX_ENTRY_BYTES = 256 * 1024
BATCH = 10
MAX_ATTEMPTS = 6


class PublishError(RuntimeError):
    """Entries EventBridge would not take, after every retry: never dropped silently."""


def call_entry(charge_point_id: str, frame: list, sent_at: datetime) -> dict:
    return _frame_entry(CHARGER_SOURCE, CALL_DETAIL_TYPE, charge_point_id, frame, frame[2], sent_at)


def reply_entry(charge_point_id: str, frame: list, action: str | None, sent_at: datetime) -> dict:
    detail_type = RESULT_DETAIL_TYPE if frame[0] == ocpp_frames.CALLRESULT else ERROR_DETAIL_TYPE
    return _frame_entry(CENTRAL_SYSTEM_SOURCE, detail_type, charge_point_id, frame, action, sent_at)


def command_entry(charge_point_id: str, frame: list, sent_at: datetime) -> dict:
    """A command (the central system's CALL) for a simulated charger."""
    return _frame_entry(CENTRAL_SYSTEM_SOURCE, COMMAND_DETAIL_TYPE, charge_point_id, frame, frame[2], sent_at)


def command_answer_entry(charge_point_id: str, frame: list, action: str, sent_at: datetime) -> dict:
    """A simulated charger's CALLRESULT or CALLERROR to a command."""
    return _frame_entry(CHARGER_SOURCE, COMMAND_ANSWER_DETAIL_TYPE, charge_point_id, frame, action, sent_at)


def export_entry(job_id: str, step: int = 1) -> dict:
    """A step of an export job for the export worker: the job's id and the step's number (the job's range
    and where the last step stopped are in its stored item)."""
    return _entry(CENTRAL_SYSTEM_SOURCE, EXPORT_DETAIL_TYPE, {"jobId": job_id, "step": step})


def _frame_entry(
    source: str, detail_type: str, charge_point_id: str, frame: list, action: str | None, sent_at: datetime
) -> dict:
    return _entry(
        source,
        detail_type,
        {
            "chargePointId": charge_point_id,
            "messageId": frame[1],
            "action": action,
            "timestamp": ocpp_frames.format_timestamp(sent_at),
            "message": frame,
        },
    )


def _entry(source: str, detail_type: str, detail: dict) -> dict:
    entry = {
        "Source": source,
        "DetailType": detail_type,
        "Detail": json.dumps(detail, separators=(",", ":")),
        "EventBusName": settings_module.get().event_bus_name,
    }
    size = len(json.dumps(entry).encode())
    if size > MAX_ENTRY_BYTES:
        raise PublishError(f"event for {detail.get('chargePointId')} is {size} bytes; EventBridge takes 256 KB")
    return entry


def matches(pattern: dict, event: dict) -> bool:
    """EventBridge's matching for the patterns this app uses: every key lists allowed values, and
    nested objects match nested fields."""
    for key, allowed in pattern.items():
        value = event.get(key)
        if isinstance(allowed, dict):
            if not isinstance(value, dict) or not matches(allowed, value):
                return False
        elif value not in allowed:
            return False
    return True


def envelope(entry: dict, region: str = "local") -> dict:
    """The event as EventBridge hands it to a rule's target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": "000000000000",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": json.loads(entry["Detail"]),
    }


class EventBridgePublisher:
    """PutEvents in batches of 10. PutEvents answers 200 even when entries fail, so FailedEntryCount is
    checked and only the failed entries are re-sent, with jittered back-off."""

    def __init__(self, client_factory: Callable[[], Any] | None = None, sleep: Callable[[float], None] = time.sleep):
        self._client_factory = client_factory or _events_client
        self._sleep = sleep
        self.calls = 0

    def publish(self, entries: list[dict]) -> None:
        for start in range(0, len(entries), BATCH):
            self._put(entries[start : start + BATCH])

    def _put(self, batch: list[dict]) -> None:
        for attempt in range(MAX_ATTEMPTS):
            self.calls += 1
            response = self._client_factory().put_events(Entries=batch)
            if not response.get("FailedEntryCount"):
                return
            failed = [
                (entry, result)
                for entry, result in zip(batch, response["Entries"], strict=True)
                if result.get("ErrorCode")
            ]
            batch = [entry for entry, _ in failed]
            self._sleep(random.uniform(0, min(0.1 * 2**attempt, 5)))
        codes = sorted({result["ErrorCode"] for _, result in failed})
        raise PublishError(f"{len(batch)} events not accepted by EventBridge after {MAX_ATTEMPTS} tries: {codes}")


_client_lock = threading.Lock()
_client: Any = None


def _events_client() -> Any:
    global _client
    with _client_lock:
        if _client is None:
            import boto3

            _client = boto3.client("events")
        return _client


class LocalBus:
    """The bus offline: events reach the same handler functions the cloud rules invoke, in the same
    envelope. `deferred` holds them until flush(), as an asynchronous bus would."""

    def __init__(self, deferred: bool = False) -> None:
        self.subscribers: list[tuple[dict, Callable[[dict], Any]]] = []
        self.deferred = deferred
        self.queue: list[dict] = []
        self.calls = 0
        self._lock = threading.RLock()

    def subscribe(self, pattern: dict, target: Callable[[dict], Any], background: bool = False) -> None:
        """background: each event on a thread of its own, as a Lambda invoked asynchronously runs beside its
        caller (the export worker: the API's 202 must not wait for it)."""
        if background:
            self.subscribers.append((pattern, functools.partial(_in_background, target)))
        else:
            self.subscribers.append((pattern, target))

    def publish(self, entries: list[dict]) -> None:
        self.calls += (len(entries) + BATCH - 1) // BATCH
        events = [envelope(entry) for entry in entries]
        if self.deferred:
            self.queue.extend(events)
        else:
            self.deliver(events)

    def flush(self) -> int:
        """Deliver what was held back (and what that delivery publishes in turn); returns the count."""
        delivered = 0
        while self.queue:
            events, self.queue = self.queue, []
            self.deliver(events)
            delivered += len(events)
        return delivered

    def deliver(self, events: Iterable[dict]) -> None:
        with self._lock:
            for event in events:
                for pattern, target in self.subscribers:
                    if matches(pattern, event):
                        target(event)


def _in_background(target: Callable[[dict], Any], event: dict) -> None:
    threading.Thread(target=target, args=(event,), daemon=True, name=event["detail-type"]).start()


_publisher: EventBridgePublisher | LocalBus | None = None


def publisher() -> EventBridgePublisher | LocalBus:
    global _publisher
    if _publisher is None:
        _publisher = EventBridgePublisher()
    return _publisher


def use(bus: EventBridgePublisher | LocalBus | None) -> None:
    """Choose where events go: local mode and tests install a LocalBus; None returns to EventBridge."""
    global _publisher, _client
    _publisher = bus
    _client = None


def publish(entries: list[dict]) -> None:
    if entries:
        publisher().publish(entries)


def answer_call_event(event: dict, answer: Callable[[str, Any, datetime], list]) -> list | None:
    """The bus transport of the central system: take a CALL event, answer it, and publish the answer
    back on the bus for the charger. An event naming no valid charger is logged and dropped: there is
    nobody to answer, and retrying it would only fill the dead-letter queue with the same event."""
    detail = event.get("detail") or {}
    charge_point_id, frame = detail.get("chargePointId"), detail.get("message")
    try:
        if not isinstance(charge_point_id, str) or frame is None:
            raise ValueError("event detail has no chargePointId or message")
        reply = answer(charge_point_id, frame, _sent_at(detail.get("timestamp")))
    except ValueError as error:
        log.error(json.dumps({"event": "undeliverable", "eventId": event.get("id"), "error": str(error)}))
        return None
    action = frame[2] if isinstance(frame, list) and len(frame) > 2 and isinstance(frame[2], str) else None
    publish([reply_entry(charge_point_id, reply, action, ocpp_frames.now())])
    return reply


def _sent_at(value: Any) -> datetime:
    """When the charger sent the message. The answer and lastSeen are stamped with it, so that a
    redelivered event gets exactly the same answer. A missing or future time falls back to now."""
    now = ocpp_frames.now()
    try:
        sent = ocpp_frames.parse_timestamp(value, "detail.timestamp")
    except ocpp_frames.FrameError:
        return now
    return min(sent, now)
