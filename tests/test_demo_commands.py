"""The demo fleet answers every command: a command to a simulated charger travels as an OCPP CALL on the
bus (the in-process bus here, delivering at once as `make run` does), the charger's own logic answers it,
and what it does about it follows as its own CALLs to the central system."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from chalicelib import ocpp_frames, rest, simulator, storage
from tests.ocpp_builders import get_command, post_command
from tests.support import T0

CP = "CP-DEMO-001"  # two connectors
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def watched() -> str:
    return CP


ACCEPTED = {"status": "Accepted"}


def limit(watts: float, purpose: str = "ChargePointMaxProfile") -> dict:
    """A charging profile with one limit from a minute ago on."""
    return {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "startSchedule": ocpp_frames.format_timestamp(T0 - timedelta(minutes=1)),
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": watts}],
        },
    }


def command(client, action: str, payload: dict) -> dict:
    """A command through the REST API, as it stands once the POST has returned."""
    status, queued = post_command(client, CP, {"action": action, "payload": payload})
    assert status == 200, queued
    status, view = get_command(client, CP, queued["commandId"])
    assert status == 200
    return view


def answered(client, action: str, payload: dict) -> dict:
    view = command(client, action, payload)
    assert view["status"] == "answered", view
    return view["result"]


def connector_status(connector: int) -> str:
    return storage.get_charge_point(CP)["connectorStatus"][str(connector)]["status"]


def sessions() -> list[dict]:
    return rest.list_sessions({"chargePointId": CP})["sessions"]


def test_an_accepted_boot_on_the_bus_makes_the_demo_charger_reachable(fleet):
    item = storage.get_charge_point(CP)
    assert item["online"] is True and item["gatewayId"] == "bus" and item["connectionId"] == "bus"


def test_each_of_the_19_commands_is_answered_by_the_charger_within_the_request(client, fleet):
    clock, wire = fleet
    expected = [
        ("ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}, {"status": "Accepted"}),
        ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}, {"status": "Accepted"}),
        ("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "300"}, {"status": "Accepted"}),
        ("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "0"}, {"status": "Rejected"}),
        ("ChangeConfiguration", {"key": "NumberOfConnectors", "value": "3"}, {"status": "Rejected"}),
        ("ChangeConfiguration", {"key": "Teleport", "value": "on"}, {"status": "NotSupported"}),
        (
            "GetConfiguration",
            {"key": ["HeartbeatInterval", "MeterValueSampleInterval", "Teleport"]},
            {
                "configurationKey": [
                    {"key": "HeartbeatInterval", "value": "120", "readonly": False},
                    {"key": "MeterValueSampleInterval", "value": "300", "readonly": False},
                ],
                "unknownKey": ["Teleport"],
            },
        ),
        ("ClearCache", {}, {"status": "Accepted"}),
        ("DataTransfer", {"vendorId": "someone-else"}, {"status": "UnknownVendorId"}),
        ("GetLocalListVersion", {}, {"listVersion": 0}),
        (
            "SendLocalList",
            {
                "listVersion": 3,
                "updateType": "Full",
                "localAuthorizationList": [{"idTag": "LOCAL-1", "idTagInfo": {"status": "Accepted"}}],
            },
            {"status": "Accepted"},
        ),
        ("GetLocalListVersion", {}, {"listVersion": 3}),
        (
            "ReserveNow",
            {"connectorId": 1, "expiryDate": clock.iso(3600), "idTag": "R-1", "reservationId": 7},
            {"status": "Accepted"},
        ),
        ("CancelReservation", {"reservationId": 7}, {"status": "Accepted"}),
        ("CancelReservation", {"reservationId": 7}, {"status": "Rejected"}),
        ("RemoteStartTransaction", {"idTag": "T-1", "connectorId": 2}, {"status": "Rejected"}),  # Unavailable
        ("RemoteStartTransaction", {"idTag": "T-1"}, {"status": "Accepted"}),
        ("RemoteStopTransaction", {"transactionId": 424242}, {"status": "Rejected"}),
        ("UnlockConnector", {"connectorId": 1}, {"status": "Unlocked"}),
        ("TriggerMessage", {"requestedMessage": "Heartbeat"}, {"status": "Accepted"}),
        ("TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 9}, {"status": "Rejected"}),
        ("GetDiagnostics", {"location": "ftp://nowhere.invalid/"}, None),
        ("UpdateFirmware", {"location": "https://fw.invalid/fw-1.7.0.bin", "retrieveDate": clock.iso(86400)}, {}),
        ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": limit(11000, "TxDefaultProfile")}, ACCEPTED),
        ("GetCompositeSchedule", {"connectorId": 1, "duration": 3600}, None),
        ("ClearChargingProfile", {"id": 1}, {"status": "Accepted"}),
        ("ClearChargingProfile", {"id": 1}, {"status": "Unknown"}),
        ("Reset", {"type": "Soft"}, {"status": "Accepted"}),
    ]
    for action, payload, result in expected:
        got = answered(client, action, payload)
        assert result is None or got == result, (action, payload, got)
    assert connector_status(2) == "Unavailable"
    assert wire.calls("Heartbeat") and wire.calls("BootNotification")[-1:] == [wire.calls("BootNotification")[0]]
    assert [c["status"] for c in wire.calls("DiagnosticsStatusNotification")] == ["Uploading", "UploadFailed"]
    answered_actions = {d["action"] for d in wire.sent if d["message"][0] != ocpp_frames.CALL}
    assert answered_actions == {a for a, _, _ in expected}


def test_remote_start_leads_to_an_active_session_and_remote_stop_closes_it_with_reason_remote(client, fleet):
    clock, wire = fleet
    assert answered(client, "RemoteStartTransaction", {"idTag": "DRIVER-7", "connectorId": 1}) == {"status": "Accepted"}
    assert wire.calls("Authorize") == [{"idTag": "DRIVER-7"}]
    clock.tick(10)
    [session] = [s for s in sessions() if s["idTag"] == "DRIVER-7"]
    assert session["status"] == "Active" and session["connectorId"] == 1
    assert connector_status(1) == "Charging"
    stop = {"transactionId": session["transactionId"]}
    assert answered(client, "RemoteStopTransaction", stop) == {"status": "Accepted"}
    [session] = [s for s in sessions() if s["idTag"] == "DRIVER-7"]
    assert session["status"] == "Completed" and session["stopReason"] == "Remote"
    assert answered(client, "RemoteStopTransaction", stop) == {"status": "Rejected"}


def test_a_remote_start_refused_at_authorize_sends_the_driver_away_before_any_transaction(client, fleet):
    """OCPP 1.6 5.11: with AuthorizeRemoteTxRequests the charger authorizes a remote start as a local one,
    and the central system's Authorize answer decides whether it starts."""
    clock, wire = fleet
    client.http.put("/idtags/STOLEN-1", body=json.dumps({"status": "Blocked"}), headers=JSON)
    assert answered(client, "RemoteStartTransaction", {"idTag": "STOLEN-1", "connectorId": 1}) == ACCEPTED
    clock.tick(10)
    statuses = [c["status"] for c in wire.calls("StatusNotification") if c["connectorId"] == 1]
    assert statuses == ["Available"] and connector_status(1) == "Available", "the driver left before it began"
    assert wire.calls("Authorize") == [{"idTag": "STOLEN-1"}] and wire.calls("StartTransaction") == []
    assert [s for s in sessions() if s["idTag"] == "STOLEN-1"] == []


def test_reset_stops_the_transactions_and_reboots(client, fleet):
    clock, wire = fleet
    answered(client, "RemoteStartTransaction", {"idTag": "DRIVER-8", "connectorId": 1})
    clock.tick(10)
    booted = storage.get_charge_point(CP)["bootedAt"]
    clock.now += timedelta(seconds=5)
    assert answered(client, "Reset", {"type": "Hard"}) == {"status": "Accepted"}
    [session] = [s for s in sessions() if s["idTag"] == "DRIVER-8"]
    assert session["status"] == "Completed" and session["stopReason"] == "HardReset"
    assert len(wire.calls("BootNotification")) == 2
    item = storage.get_charge_point(CP)
    assert item["bootedAt"] > booted and item["online"] and item["gatewayId"] == "bus"


def test_a_reservation_holds_the_connector_and_the_next_start_by_its_idtag_uses_it(client, fleet):
    clock, wire = fleet
    reserve = {"connectorId": 1, "expiryDate": clock.iso(900), "idTag": "RESERVER", "reservationId": 4242}
    assert answered(client, "ReserveNow", reserve) == {"status": "Accepted"}
    assert connector_status(1) == "Reserved"
    assert answered(client, "RemoteStartTransaction", {"idTag": "SOMEONE-ELSE", "connectorId": 1}) == {
        "status": "Rejected"
    }
    assert answered(client, "RemoteStartTransaction", {"idTag": "RESERVER"}) == {"status": "Accepted"}
    clock.tick(10)
    [start] = [s for s in wire.calls("StartTransaction") if s["idTag"] == "RESERVER"]
    assert start["connectorId"] == 1 and start["reservationId"] == 4242
    occupied = {**reserve, "reservationId": 4243}
    assert answered(client, "ReserveNow", occupied) == {"status": "Occupied"}
    answered(client, "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"})
    assert answered(client, "ReserveNow", {**reserve, "connectorId": 2, "reservationId": 4244}) == {
        "status": "Unavailable"
    }


def test_a_reservation_expires(client, fleet):
    clock, wire = fleet
    reserve = {"connectorId": 2, "expiryDate": clock.iso(120), "idTag": "LATE", "reservationId": 9}
    assert answered(client, "ReserveNow", reserve) == {"status": "Accepted"}
    clock.tick(60)
    assert connector_status(2) == "Reserved"
    clock.tick(90)
    statuses = [c["status"] for c in wire.calls("StatusNotification") if c["connectorId"] == 2]
    assert statuses[statuses.index("Reserved") + 1] == "Available", "the reservation's end is reported"


def test_a_firmware_update_runs_its_sequence_then_reboots_into_the_new_version(client, fleet):
    clock, wire = fleet
    answered(client, "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"})  # no car gets in the way
    update = {"location": "https://firmware.invalid/fastcharge-2.1.0.bin", "retrieveDate": clock.iso(30)}
    assert answered(client, "UpdateFirmware", update) == {}
    for _ in range(6):
        clock.tick(60)
    statuses = [c["status"] for c in wire.calls("FirmwareStatusNotification")]
    assert statuses == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert wire.calls("BootNotification")[-1]["firmwareVersion"] == "2.1.0"
    item = storage.get_charge_point(CP)
    assert item["firmwareVersion"] == "2.1.0" and item["firmwareStatus"] == "Installed"
    assert connector_status(1) == "Unavailable", "availability outlives a reboot"


class Uploads(BaseHTTPRequestHandler):
    received: dict[str, bytes] = {}

    def do_PUT(self) -> None:
        Uploads.received[self.path] = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_a_diagnostics_upload_reaches_the_http_server_given(client, fleet):
    _, wire = fleet
    server = HTTPServer(("127.0.0.1", 0), Uploads)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        location = f"http://127.0.0.1:{server.server_address[1]}/uploads/"
        result = answered(client, "GetDiagnostics", {"location": location})
    finally:
        server.shutdown()
    body = Uploads.received[f"/uploads/{result['fileName']}"]
    assert CP in body.decode()
    assert [c["status"] for c in wire.calls("DiagnosticsStatusNotification")] == ["Uploading", "Uploaded"]
    assert storage.get_charge_point(CP)["diagnosticsStatus"] == "Uploaded"


def test_the_local_list_is_kept_by_version_and_decides_authorization(client, fleet):
    clock, wire = fleet
    full = {
        "listVersion": 5,
        "updateType": "Full",
        "localAuthorizationList": [
            {"idTag": "BLOCKED-1", "idTagInfo": {"status": "Blocked"}},
            {"idTag": "FRIEND-1", "idTagInfo": {"status": "Accepted"}},
        ],
    }
    assert answered(client, "SendLocalList", full) == {"status": "Accepted"}
    stale = {"listVersion": 5, "updateType": "Differential", "localAuthorizationList": []}
    assert answered(client, "SendLocalList", stale) == {"status": "VersionMismatch"}
    removal = {"listVersion": 6, "updateType": "Differential", "localAuthorizationList": [{"idTag": "FRIEND-1"}]}
    assert answered(client, "SendLocalList", removal) == {"status": "Accepted"}
    assert answered(client, "GetLocalListVersion", {}) == {"listVersion": 6}
    # Listed as Blocked: the charger refuses the driver itself, without asking.
    assert answered(client, "RemoteStartTransaction", {"idTag": "BLOCKED-1", "connectorId": 1})["status"] == "Accepted"
    clock.tick(10)
    assert wire.calls("Authorize") == [] and wire.calls("StartTransaction") == []
    assert connector_status(1) == "Available"


def test_a_local_list_from_the_registry_is_accepted_by_the_demo_charger_and_shown_in_sync(client, fleet):
    """The bus answers inside the POST: what the POST records as sent must not hide the charger's answer."""
    client.http.put("/idtags/FRIEND-2", body=json.dumps({"status": "Accepted"}), headers=JSON)
    response = client.http.post(f"/chargepoints/{CP}/localList", body=json.dumps({"updateType": "Full"}), headers=JSON)
    assert response.status_code == 200, response.body
    held = json.loads(client.http.get(f"/chargepoints/{CP}/localList").body)
    assert (held["status"], held["inSync"], held["chargerVersion"]) == ("Accepted", True, held["registryVersion"])


def test_trigger_message_is_accepted_first_then_the_message_follows(client, fleet):
    _, wire = fleet
    wire.sent.clear()
    assert answered(client, "TriggerMessage", {"requestedMessage": "StatusNotification"}) == {"status": "Accepted"}
    assert [d["message"][0] for d in wire.sent] == [ocpp_frames.CALLRESULT, ocpp_frames.CALL, ocpp_frames.CALL]
    assert [c["connectorId"] for c in wire.calls("StatusNotification")] == [1, 2]


def test_a_command_delivered_twice_is_answered_twice_and_obeyed_once(client, fleet):
    _, wire = fleet
    view = command(client, "RemoteStartTransaction", {"idTag": "TWICE", "connectorId": 1})
    call = [ocpp_frames.CALL, view["commandId"], "RemoteStartTransaction", {"idTag": "TWICE", "connectorId": 1}]
    simulator.receive_command({"chargePointId": CP, "messageId": view["commandId"], "message": call})
    answers = [d["message"] for d in wire.sent if d["message"][0] == ocpp_frames.CALLRESULT]
    assert answers == [[ocpp_frames.CALLRESULT, view["commandId"], {"status": "Accepted"}]] * 2
    assert len(wire.calls("Authorize")) == 1


def test_a_charging_profile_caps_what_the_charger_draws_and_its_composite_schedule(client, fleet):
    clock, wire = fleet
    assert answered(client, "SetChargingProfile", {"connectorId": 0, "csChargingProfiles": limit(4000)}) == ACCEPTED
    composite = answered(client, "GetCompositeSchedule", {"connectorId": 1, "duration": 600})
    assert composite["status"] == "Accepted"
    assert composite["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 4000
    answered(client, "RemoteStartTransaction", {"idTag": "CAPPED", "connectorId": 1})
    for _ in range(5):
        clock.tick(60)
    powers = [
        float(sample["value"])
        for values in wire.calls("MeterValues")
        if values["connectorId"] == 1
        for sample in values["meterValue"][0]["sampledValue"]
        if sample["measurand"] == "Power.Active.Import"
    ]
    assert powers and max(powers) <= 4000
    too_deep = {**limit(9000, "TxDefaultProfile"), "stackLevel": 99}
    assert answered(client, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": too_deep}) == {
        "status": "Rejected"
    }
