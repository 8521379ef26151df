"""The central system's answers and state, message by message (moto)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from chalicelib import central_system, ocpp_frames, rest, settings, storage
from tests.ocpp_builders import boot, meter, send, start, stop, ts
from tests.support import T0


def test_boot_registers_the_charge_point_and_answers_in_utc(aws):
    answer = boot()
    assert answer[2]["status"] == "Accepted"
    assert answer[2]["currentTime"].endswith("Z")
    item = storage.get_charge_point("CP-1")
    assert item["vendor"] == "V" and item["model"] == "M" and item["status"] == "Unknown"
    assert rest.stats()["totalChargePoints"] == 1


def test_boot_policy_allow_list_rejects_unknown_and_its_messages_are_refused(aws, monkeypatch):
    monkeypatch.setenv("BOOT_POLICY", "allow-list")
    monkeypatch.setenv("KNOWN_CHARGE_POINTS", "CP-KNOWN-*")
    monkeypatch.setenv("BOOT_UNKNOWN_STATUS", "Pending")
    settings.get.cache_clear()
    assert boot("STRANGER")[2]["status"] == "Pending"
    assert boot("CP-KNOWN-7")[2]["status"] == "Accepted"
    refused = send("STRANGER", "Heartbeat", {})
    assert refused[0] == ocpp_frames.CALLERROR and refused[2] == "SecurityError"
    assert storage.get_charge_point("STRANGER")["registration"] == "Pending"  # one truth: as answered at boot
    assert rest.stats()["rejectedMessages"] == 1


def test_heartbeat_updates_last_seen(aws):
    boot()
    later = T0 + timedelta(seconds=60)
    answer = send("CP-1", "Heartbeat", {}, later)
    assert answer[2]["currentTime"] == ocpp_frames.format_timestamp(later)
    assert storage.get_charge_point("CP-1")["lastSeen"] == ocpp_frames.format_timestamp(later)


def test_status_notifications_set_connectors_and_the_charge_point_status(aws):
    boot()
    send(
        "CP-1",
        "StatusNotification",
        {"connectorId": 1, "status": "Available", "errorCode": "NoError", "timestamp": ts(1)},
    )
    send(
        "CP-1",
        "StatusNotification",
        {"connectorId": 2, "status": "Available", "errorCode": "NoError", "timestamp": ts(1)},
    )
    assert rest.stats()["availableChargePoints"] == 1
    send(
        "CP-1",
        "StatusNotification",
        {"connectorId": 1, "status": "Charging", "errorCode": "NoError", "timestamp": ts(2)},
    )
    item = storage.get_charge_point("CP-1")
    assert item["status"] == "Charging" and item["connectors"] == 2
    assert item["connectorStatus"]["1"]["status"] == "Charging"
    stats = rest.stats()
    assert (stats["availableChargePoints"], stats["chargingChargePoints"]) == (0, 1)


def test_an_older_status_notification_does_not_overwrite_a_newer_one(aws):
    boot()
    send(
        "CP-1",
        "StatusNotification",
        {"connectorId": 1, "status": "Charging", "errorCode": "NoError", "timestamp": ts(20)},
    )
    send(
        "CP-1",
        "StatusNotification",
        {"connectorId": 1, "status": "Available", "errorCode": "NoError", "timestamp": ts(10)},
    )
    assert storage.get_charge_point("CP-1")["connectorStatus"]["1"]["status"] == "Charging"


def test_connector_zero_only_takes_whole_charge_point_statuses(aws):
    boot()
    answer = send("CP-1", "StatusNotification", {"connectorId": 0, "status": "Charging", "errorCode": "NoError"})
    assert answer[2] == "PropertyConstraintViolation"


def test_a_transaction_from_start_to_stop(aws):
    boot()
    tx = start(meter=1000)
    assert isinstance(tx, int) and 0 < tx < 2**31
    meter("CP-1", tx, 6000, at=40, power_w=11000, soc=55)
    session = rest.list_sessions({"status": "Active"})["sessions"][0]
    assert session["transactionId"] == tx and session["currentEnergy"] == 5.0
    assert session["power"] == 11.0 and session["soc"] == 55 and session["cost"] == 1.5
    stop("CP-1", tx, 11000, at=100, reason="EVDisconnected")
    done = rest.get_session(session["sessionId"])
    assert done["status"] == "Completed" and done["currentEnergy"] == 10.0 and done["cost"] == 3.0
    assert done["stopReason"] == "EVDisconnected" and done["meterStop"] == 11000
    stats = rest.stats()
    assert stats["activeSessions"] == 0 and stats["completedSessions"] == 1
    assert stats["totalEnergyKwh"] == 10.0 and stats["totalRevenue"] == 3.0


def test_tariff_session_fee_and_price_are_applied(aws, monkeypatch):
    monkeypatch.setenv("TARIFF_PRICE_PER_KWH", "0.45")
    monkeypatch.setenv("TARIFF_SESSION_FEE", "1.00")
    monkeypatch.setenv("TARIFF_CURRENCY", "GBP")
    settings.get.cache_clear()
    boot()
    tx = start(meter=0)
    stop("CP-1", tx, 12345, at=60)
    session = rest.list_sessions({})["sessions"][0]
    assert session["cost"] == 6.56 and session["currency"] == "GBP"  # 1.00 + 12.345 * 0.45 = 6.555 -> 6.56
    assert rest.stats()["totalRevenue"] == 6.56


def test_a_repeated_start_gets_the_same_transaction_id_even_with_a_new_unique_id(aws):
    boot()
    first = start(meter=500, at=10)
    again = start(meter=500, at=10)
    assert first == again
    assert rest.stats()["activeSessions"] == 1
    assert len(rest.list_sessions({})["sessions"]) == 1


def test_a_stop_for_an_unknown_transaction_is_acknowledged_and_recorded(aws):
    boot()
    answer = stop("CP-1", 424242, 1000, at=5, idTag="TAG")
    assert answer[2] == {"idTagInfo": {"status": "Accepted"}}
    assert rest.get_charge_point("CP-1")["unknownStopCount"] == 1  # kept apart, until its start arrives


def test_a_repeated_stop_is_acknowledged_and_counted_once(aws):
    boot()
    tx = start()
    stop("CP-1", tx, 5000, at=50)
    stop("CP-1", tx, 5000, at=50)
    assert rest.stats()["completedSessions"] == 1 and rest.stats()["totalEnergyKwh"] == 4.0


def test_meter_values_after_the_stop_stay_with_the_session(aws):
    boot()
    tx = start(meter=1000)
    stop("CP-1", tx, 3000, at=50)
    meter("CP-1", tx, 2500, at=40)
    session = rest.list_sessions({})["sessions"][0]
    assert session["status"] == "Completed" and session["currentEnergy"] == 2.0 and session["lateMeterValues"] == 1
    assert storage.get_session(session["sessionId"])["lateSampleTimes"] == {ts(40)}


def test_an_absurd_meter_stop_falls_back_to_the_last_register(aws):
    boot()
    tx = start(meter=1000)
    meter("CP-1", tx, 4000, at=30)
    stop("CP-1", tx, 12, at=60)  # a kWh-scaled value reported as Wh
    assert rest.list_sessions({})["sessions"][0]["currentEnergy"] == 3.0


def test_the_energy_register_never_goes_down(aws):
    boot()
    tx = start(meter=1000)
    meter("CP-1", tx, 4000, at=30)
    answer = meter("CP-1", tx, 3000, at=60, power_w=7000)
    assert answer[0] == ocpp_frames.CALLRESULT  # the rest of the reading is applied; the register is not
    session = rest.list_sessions({})["sessions"][0]
    assert session["power"] == 7.0 and session["anomalies"]["counts"] == {"registerWentDown": 1}
    older = meter("CP-1", tx, 2000, at=20)  # an older reading arriving late is simply superseded
    assert older[0] == ocpp_frames.CALLRESULT
    assert rest.list_sessions({})["sessions"][0]["currentEnergy"] == 3.0


def test_kwh_meter_values_are_normalised(aws):
    boot()
    tx = start(meter=1000)
    send(
        "CP-1",
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": tx,
            "meterValue": [
                {
                    "timestamp": ts(30),
                    "sampledValue": [
                        {"value": "3.5", "unit": "kWh"},
                        {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
                    ],
                }
            ],
        },
        T0 + timedelta(seconds=30),
    )
    session = rest.list_sessions({})["sessions"][0]
    assert session["currentEnergy"] == 2.5 and session["power"] == 7.2


def test_a_repeated_frame_gets_the_same_answer_and_changes_nothing(aws):
    boot()
    first = send("CP-1", "Heartbeat", {}, T0 + timedelta(seconds=30), uid="hb-1")
    before = storage.get_charge_point("CP-1")
    again = send("CP-1", "Heartbeat", {}, T0 + timedelta(seconds=90), uid="hb-1")
    assert again == first
    assert storage.get_charge_point("CP-1") == before


def test_data_transfer_records_charge_point_info(aws):
    boot()
    info = {"location": "Depot 4", "maxPower": 22, "connectors": 2}
    answer = send(
        "CP-1",
        "DataTransfer",
        {"vendorId": ocpp_frames.INFO_VENDOR_ID, "messageId": ocpp_frames.INFO_MESSAGE_ID, "data": json.dumps(info)},
    )
    assert answer[2] == {"status": "Accepted"}
    assert {k: storage.get_charge_point("CP-1")[k] for k in info} == info
    assert send("CP-1", "DataTransfer", {"vendorId": "other"})[2] == {"status": "UnknownVendorId"}
    assert (
        send(
            "CP-1",
            "DataTransfer",
            {
                "vendorId": ocpp_frames.INFO_VENDOR_ID,
                "messageId": ocpp_frames.INFO_MESSAGE_ID,
                "data": '{"connectors": 1000000}',
            },
        )[2]["status"]
        == "Rejected"
    )


@pytest.mark.parametrize(
    "action,field",
    [("DiagnosticsStatusNotification", "diagnosticsStatus"), ("FirmwareStatusNotification", "firmwareStatus")],
)
def test_diagnostics_and_firmware_notifications_are_recorded(aws, action, field):
    boot()
    status = "Uploaded" if action.startswith("Diag") else "Installed"
    assert send("CP-1", action, {"status": status})[2] == {}
    assert storage.get_charge_point("CP-1")[field] == status


@pytest.mark.parametrize(
    "raw,code",
    [
        ("not json", "FormatViolation"),
        ('{"a": 1}', "FormatViolation"),
        ('[3, "x", {}]', "ProtocolError"),
        ('[2, "x", "Heartbeat"]', "ProtocolError"),
        ('[2, "x", "FlyToTheMoon", {}]', "NotImplemented"),
        ('[2, "x", "SignCertificate", {"csr": "x"}]', "NotSupported"),
        ('[2, "x", "BootNotification", {"chargePointVendor": "V"}]', "ProtocolError"),
        (
            '[2, "x", "StatusNotification", {"connectorId": "1", "status": "Available", "errorCode": "NoError"}]',
            "TypeConstraintViolation",
        ),
        (
            '[2, "x", "StatusNotification", {"connectorId": 1, "status": "Sleeping", "errorCode": "NoError"}]',
            "PropertyConstraintViolation",
        ),
        (
            '[2, "x", "StatusNotification", {"connectorId": 1000000, "status": "Available", "errorCode": "NoError"}]',
            "PropertyConstraintViolation",
        ),
        (
            '[2, "x", "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 1, '
            '"timestamp": "1970-01-01T00:00:00Z"}]',
            "PropertyConstraintViolation",
        ),
        (
            '[2, "x", "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": -5, '
            '"timestamp": "2026-11-24T12:00:00Z"}]',
            "PropertyConstraintViolation",
        ),
        (
            '[2, "x", "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 1000000000000, '
            '"timestamp": "2026-11-24T12:00:00Z"}]',
            "PropertyConstraintViolation",
        ),
        (
            '[2, "x", "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 1, "timestamp": "yesterday"}]',
            "TypeConstraintViolation",
        ),
        ('[2, "x", "Heartbeat", {"extra": 1}]', "FormatViolation"),
    ],
)
def test_malformed_frames_get_the_specs_error_and_write_nothing(aws, raw, code):
    boot()
    before = storage.get_charge_point("CP-1")
    answer = central_system.handle("CP-1", raw, received_at=T0 + timedelta(seconds=5))
    assert answer[0] == ocpp_frames.CALLERROR and answer[2] == code, answer
    assert storage.get_charge_point("CP-1") == before
    assert rest.stats()["rejectedMessages"] == 1
    assert rest.list_sessions({})["sessions"] == []


def test_an_oversized_frame_is_refused(aws):
    boot()
    raw = json.dumps([2, "big", "DataTransfer", {"vendorId": "v", "data": "x" * 9_000_000}])  # over 8 MiB
    assert central_system.handle("CP-1", raw, received_at=T0)[:3] == [4, "big", "FormatViolation"]


def test_an_invalid_charge_point_id_is_refused_before_anything(aws):
    with pytest.raises(central_system.InvalidChargePointId):
        central_system.handle("bad id/with slash", '[2, "x", "Heartbeat", {}]')
