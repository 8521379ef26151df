"""Builders for what tests send: OCPP 1.6J CALLs handed to `central_system.handle` (the transaction's
steps at seconds after T0) and the REST calls of the remote-command API."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta

from chalicelib import central_system, ocpp_frames, storage
from tests.support import T0

_ids = itertools.count(1)


def valid_answer(call: list, answer: list) -> list:
    """Assert the answer is a CALLRESULT to this CALL and validates against the official 1.6 schema."""
    assert answer[0] == ocpp_frames.CALLRESULT, answer
    assert answer[1] == call[1]
    ocpp_frames.validate(ocpp_frames.CALLRESULT, call[2], answer[2])
    return answer


def send(cp: str, action: str, payload: dict, at: datetime = T0, uid: str | None = None) -> list:
    """One CALL to the central system; a CALLRESULT is checked against the official schema."""
    call = [2, uid or f"m{next(_ids)}", action, payload]
    answer = central_system.handle(cp, json.dumps(call), received_at=at)
    if answer[0] == ocpp_frames.CALLRESULT:
        valid_answer(call, answer)
    return answer


def ts(seconds: float) -> str:
    return ocpp_frames.format_timestamp(T0 + timedelta(seconds=seconds))


def boot(cp: str = "CP-1", at: datetime = T0) -> list:
    return send(cp, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}, at)


def start(cp: str = "CP-1", connector: int = 1, meter: int = 1000, at: float = 10, tag: str = "TAG") -> int:
    answer = send(
        cp,
        "StartTransaction",
        {"connectorId": connector, "idTag": tag, "meterStart": meter, "timestamp": ts(at)},
        T0 + timedelta(seconds=at),
    )
    return answer[2]["transactionId"]


def meter(cp: str, tx: int, wh: int, at: float, power_w: float = 11000, soc: float = 50) -> list:
    return send(
        cp,
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": tx,
            "meterValue": [
                {
                    "timestamp": ts(at),
                    "sampledValue": [
                        {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                        {"value": str(power_w), "measurand": "Power.Active.Import", "unit": "W"},
                        {"value": str(soc), "measurand": "SoC", "unit": "Percent"},
                    ],
                }
            ],
        },
        T0 + timedelta(seconds=at),
    )


def stop(cp: str, tx: int, meter_stop: int, at: float, **extra) -> list:
    return send(
        cp,
        "StopTransaction",
        {"transactionId": tx, "meterStop": meter_stop, "timestamp": ts(at), **extra},
        T0 + timedelta(seconds=at),
    )


def post_command(client, cp: str, body: dict | str) -> tuple[int, dict]:
    """POST /chargepoints/{cp}/commands through chalice's test client: status and JSON body."""
    response = client.http.post(
        f"/chargepoints/{cp}/commands",
        headers={"Content-Type": "application/json"},
        body=body if isinstance(body, str) else json.dumps(body),
    )
    return response.status_code, json.loads(response.body)


def get_command(client, cp: str, command_id: str) -> tuple[int, dict]:
    response = client.http.get(f"/chargepoints/{cp}/commands/{command_id}")
    return response.status_code, json.loads(response.body)


def charging_profile(
    profile_id: int,
    purpose: str,
    periods: list[tuple[int, float]],
    *,
    stack_level: int = 0,
    unit: str = "A",
    kind: str = "Absolute",
    start: datetime | None = T0,
    duration: int | None = None,
    **extra,
) -> dict:
    """A SetChargingProfile `csChargingProfiles` object: periods are (startPeriod, limit); `extra` adds
    top-level fields (validFrom, validTo, recurrencyKind, transactionId) as given."""
    schedule: dict = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": limit} for s, limit in periods],
    }
    if start is not None and kind != "Relative":
        schedule["startSchedule"] = ocpp_frames.format_timestamp(start)
    if duration is not None:
        schedule["duration"] = duration
    return {
        "chargingProfileId": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
        **extra,
    }


def get_json(client, path: str) -> tuple[int, dict]:
    """GET through chalice's test client: status and JSON body."""
    response = client.http.get(path)
    return response.status_code, json.loads(response.body)


BOOT = [2, "b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]


def registered(client, cp: str, online: bool = True, gateway_id: str = "gw-elsewhere") -> None:
    """A booted charge point whose socket is held by a gateway (not this process's)."""
    assert (
        client.http.post(f"/ocpp/{cp}", headers={"Content-Type": "application/json"}, body=json.dumps(BOOT)).status_code
        == 200
    )
    if online:
        assert storage.set_online(cp, True, ocpp_frames.format_timestamp(ocpp_frames.now()), "conn-1", gateway_id)
