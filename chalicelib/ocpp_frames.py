"""OCPP-J 1.6 frames: parsing, schema validation with the official schemas, answers and timestamps.

The schemas come from the `ocpp` package. Its validator is imported lazily because jsonschema is
heavy and most cold starts (API routes) never validate a frame.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any, NamedTuple

from chalicelib import settings as settings_module

CALL, CALLRESULT, CALLERROR = 2, 3, 4
OCPP_VERSION = "1.6"
# A uniqueId is at most 36 characters (OCPP-J 1.6, section 4.1.3). A longer one, or a number, is still
# echoed in the CALLERROR that refuses it (up to this length), so that the charger can match the answer.
MAX_UNIQUE_ID = 36
MAX_ECHOED_ID = 1024
NO_ID = "-1"
# The message type, uniqueId and action at the start of a frame, read without parsing the rest.
_HEAD = re.compile(
    r'\s*\[\s*(\d)\s*,\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)'
    r'(?:\s*,\s*"([A-Za-z]{1,64})")?'
)
_HEAD_CHARS = MAX_ECHOED_ID * 6 + 64  # enough for the longest echoed id, written with \uXXXX escapes

# Every action a 1.6 charge point can send to the central system (core, firmware, local auth profiles).
CHARGER_ACTIONS = frozenset(
    {
        "Authorize",
        "BootNotification",
        "DataTransfer",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
    }
)
# Actions of the 1.6 security extension: known to the schemas, not supported by this central system.
KNOWN_UNSUPPORTED_ACTIONS = frozenset(
    {
        "SecurityEventNotification",
        "SignCertificate",
        "LogStatusNotification",
        "SignedFirmwareStatusNotification",
    }
)
# What the central system may send to a charger (remote commands).
CENTRAL_SYSTEM_ACTIONS = frozenset(
    {
        "CancelReservation",
        "ChangeAvailability",
        "ChangeConfiguration",
        "ClearCache",
        "ClearChargingProfile",
        "DataTransfer",
        "GetCompositeSchedule",
        "GetConfiguration",
        "GetDiagnostics",
        "GetLocalListVersion",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "ReserveNow",
        "Reset",
        "SendLocalList",
        "SetChargingProfile",
        "TriggerMessage",
        "UnlockConnector",
        "UpdateFirmware",
    }
)

# The one vendor extension this system defines: a charger tells its location and hardware with
# DataTransfer(vendorId=INFO_VENDOR_ID, messageId=INFO_MESSAGE_ID, data=JSON {location, maxPower kW, connectors}).
INFO_VENDOR_ID = "ev-charging-central-system"
INFO_MESSAGE_ID = "ChargePointInfo"

# The charge point id rule, in one place: the OCPP URL's last segment and every key the system files under it.
CHARGE_POINT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,47}$"
CHARGE_POINT_ID_RULE = "1-48 letters, digits or ._:@-"
_CHARGE_POINT_ID = re.compile(CHARGE_POINT_ID_PATTERN)
_EARLIEST = datetime(2010, 1, 1, tzinfo=UTC)


UniqueId = str | int | float  # as a charger sent it: the spec's string, or whatever a broken charger sends


class FrameError(Exception):
    """A frame that gets a CALLERROR. The code is one of the spec's (OCPP-J 1.6, section 4.2.3)."""

    def __init__(
        self, code: str, description: str, unique_id: UniqueId | None = None, action: str | None = None
    ) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.unique_id = unique_id
        self.action = action

    def frame(self) -> list:
        return call_error(NO_ID if self.unique_id is None else self.unique_id, self.code, self.description)


@dataclass(frozen=True)
class Call:
    unique_id: str
    action: str
    payload: dict[str, Any]

    def frame(self) -> list:
        return [CALL, self.unique_id, self.action, self.payload]


def call_result(unique_id: str, payload: dict[str, Any]) -> list:
    return [CALLRESULT, unique_id, payload]


def call_error(unique_id: UniqueId, code: str, description: str, details: dict | None = None) -> list:
    return [CALLERROR, unique_id, code, description[:255], details or {}]


def is_valid_charge_point_id(charge_point_id: str) -> bool:
    return bool(_CHARGE_POINT_ID.fullmatch(charge_point_id or ""))


class Head(NamedTuple):
    message_type: int | None
    unique_id: UniqueId | None  # when it can be echoed
    action: str | None  # when the third element is a plain word


def peek(raw: str | bytes) -> Head:
    """What the start of a frame says, without parsing the whole frame: how a transport routes a frame
    cheaply, and how a frame too large to parse is still refused with a CALLERROR its sender can match."""
    head = raw[:_HEAD_CHARS]
    if isinstance(head, bytes):
        head = head.decode("utf-8", "ignore")  # the cut may split a character
    match = _HEAD.match(head)
    if match is None:
        return Head(None, None, None)
    try:
        unique_id = json.loads(match.group(2))
    except ValueError:  # a string with an escape JSON does not have
        unique_id = None
    return Head(int(match.group(1)), unique_id if _echoable(unique_id) else None, match.group(3))


def decode(raw: str | bytes | list) -> list:
    """JSON text (or an already decoded list) -> the frame as a list; FrameError when it is not one."""
    limit = settings_module.get().ocpp_max_frame_bytes
    if isinstance(raw, (str, bytes)):
        if len(raw) > limit:
            head = peek(raw)
            raise FrameError(
                "FormatViolation",
                f"frame is larger than {limit} bytes",
                head.unique_id if head.message_type == CALL else None,
            )
        try:
            raw = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise FrameError("FormatViolation", "frame is not valid JSON (or nested too deep)") from None
    elif len(json.dumps(raw)) > limit:
        raise FrameError("FormatViolation", f"frame is larger than {limit} bytes", frame_unique_id(raw))
    if not isinstance(raw, list) or not raw:
        raise FrameError("FormatViolation", "frame must be a non-empty JSON array")
    return raw


def _echoable(value: Any) -> bool:
    """Whether a uniqueId, valid or not, can be sent back in a CALLERROR (bool is an int to Python)."""
    if isinstance(value, str):
        return 0 < len(value) <= MAX_ECHOED_ID
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) < 10**MAX_UNIQUE_ID
    return isinstance(value, float) and math.isfinite(value)


def frame_unique_id(frame: list) -> UniqueId | None:
    """The frame's uniqueId as sent, when it can be echoed, so that even a broken CALL can be answered."""
    if len(frame) > 1 and _echoable(frame[1]):
        return frame[1]
    return None


def parse_call(raw: str | bytes | list) -> Call:
    """A CALL frame from a charger, shape- and schema-checked; FrameError otherwise."""
    frame = decode(raw)
    unique_id = frame_unique_id(frame)
    if frame[0] != CALL:
        raise FrameError("ProtocolError", "expected a CALL frame [2, uniqueId, action, payload]", unique_id)
    if len(frame) != 4:
        raise FrameError("ProtocolError", "a CALL frame has exactly 4 elements", unique_id)
    if not isinstance(unique_id, str) or len(unique_id) > MAX_UNIQUE_ID:
        raise FrameError("ProtocolError", f"uniqueId must be a string of 1 to {MAX_UNIQUE_ID} characters", unique_id)
    _, _, action, payload = frame
    if not isinstance(action, str):
        raise FrameError("ProtocolError", "action must be a string", unique_id)
    if action in KNOWN_UNSUPPORTED_ACTIONS:
        raise FrameError("NotSupported", f"action {action} is recognised but not supported", unique_id)
    if action not in CHARGER_ACTIONS:
        raise FrameError("NotImplemented", f"unknown action {action!r}", unique_id)
    if not isinstance(payload, dict):
        raise FrameError("FormatViolation", "payload must be a JSON object", unique_id)
    try:
        validate(CALL, action, payload, unique_id)
    except FrameError as error:
        error.action = action
        raise
    return Call(unique_id, action, payload)


# jsonschema keyword -> the spec's error code for a payload that breaks it.
_SCHEMA_ERROR_CODES = {
    "required": "ProtocolError",
    "type": "TypeConstraintViolation",
    "maxLength": "TypeConstraintViolation",
    "minLength": "TypeConstraintViolation",
    "enum": "PropertyConstraintViolation",
    "minimum": "PropertyConstraintViolation",
    "maximum": "PropertyConstraintViolation",
    "multipleOf": "PropertyConstraintViolation",
    "minItems": "OccurrenceConstraintViolation",
    "maxItems": "OccurrenceConstraintViolation",
    "additionalProperties": "FormatViolation",
}


# Charging limits are `multipleOf: 0.1`, which binary floats fail (10.6 / 0.1 is not whole): as the `ocpp`
# package does, these payloads and their schemas are read with decimal numbers.
_DECIMAL_PAYLOADS = {
    (CALL, "SetChargingProfile"),
    (CALL, "RemoteStartTransaction"),
    (CALLRESULT, "GetCompositeSchedule"),
}


@cache
def _validator(message_type: int, action: str) -> Any:
    """The official schema's validator, looked up once per message type and action: the simulator
    checks every frame it sends and the central system every frame it gets and answers."""
    from ocpp.messages import get_validator

    parse_float = Decimal if (message_type, action) in _DECIMAL_PAYLOADS else float
    return get_validator(message_type, action, OCPP_VERSION, parse_float=parse_float)


def request_schema(action: str) -> dict:
    """The official 1.6 JSON schema of an action's CALL payload (a copy: the validator keeps its own)."""
    return json.loads(json.dumps(_validator(CALL, action).schema, default=float))


def validate(message_type: int, action: str, payload: dict, unique_id: str | None = None) -> None:
    """Check a CALL (message_type CALL) or CALLRESULT payload against the official 1.6 schema."""
    if (message_type, action) in _DECIMAL_PAYLOADS:
        payload = json.loads(json.dumps(payload, default=float), parse_float=Decimal)
    errors = list(_validator(message_type, action).iter_errors(payload))
    if errors:
        from jsonschema.exceptions import best_match

        error = best_match(errors)
        where = "/".join(str(p) for p in error.absolute_path) or "payload"
        code = _SCHEMA_ERROR_CODES.get(str(error.validator), "FormatViolation")
        raise FrameError(code, f"{action} {where}: {error.message}", unique_id)


def parse_timestamp(value: str, field: str = "timestamp") -> datetime:
    """An OCPP dateTime as an aware UTC datetime. A value without offset is taken as UTC."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        raise FrameError("TypeConstraintViolation", f"{field} must be an ISO 8601 date-time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise FrameError("TypeConstraintViolation", f"{field} is not an ISO 8601 date-time: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def check_timestamp(value: str, received_at: datetime, drift_seconds: int, field: str = "timestamp") -> datetime:
    """Parse a charger timestamp and refuse the absurd: before 2010 (a charger with no clock) or ahead
    of the central system's clock by more than the tolerated drift."""
    moment = parse_timestamp(value, field)
    if moment < _EARLIEST:
        raise FrameError(
            "PropertyConstraintViolation", f"{field} {value} is before 2010: the charger's clock is not set"
        )
    if (moment - received_at).total_seconds() > drift_seconds:
        raise FrameError("PropertyConstraintViolation", f"{field} {value} is in the future")
    return moment


def format_timestamp(moment: datetime) -> str:
    """UTC, millisecond precision, trailing Z: the form every OCPP implementation parses."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now() -> datetime:
    return datetime.now(UTC)
