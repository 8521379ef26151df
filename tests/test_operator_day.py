"""An operator's day with the demo fleet, through the REST API only, checked end to end against the API.

The three simulated chargers live on the in-process bus through a few hours of the clock: the operator
registers idTags (one Blocked, one limited to one transaction at a time, one that expires during the day),
sends the registry to CP-DEMO-003 as its local list, reserves connectors (one reservation used, one left
to expire, one cancelled), starts and stops sessions remotely, caps a charger with a TxDefaultProfile,
triggers MeterValues, has CP-DEMO-003 update its firmware and CP-DEMO-001 upload its diagnostics."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from chalicelib import ocpp_frames
from tests.ocpp_builders import Clock, Wire, get_command, post_command

CP1, CP2, CP3 = "CP-DEMO-001", "CP-DEMO-002", "CP-DEMO-003"  # two, two and one connectors
BLOCKED, FLEET, VISITOR, NO_SHOW = "BLOCKED-1", "FLEET-1", "VISITOR-1", "NO-SHOW-1"
JSON = {"Content-Type": "application/json"}
CAP_W = 3680.0
HOUR = 3600


class Api:
    """The operator's side of the day: every request through the Chalice test client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def get(self, path: str) -> Any:
        response = self.client.http.get(path)
        assert response.status_code == 200, (path, response.body)
        return json.loads(response.body)

    def put(self, path: str, body: dict) -> Any:
        response = self.client.http.put(path, body=json.dumps(body), headers=JSON)
        assert response.status_code == 200, (path, response.body)
        return json.loads(response.body)

    def command(self, cp: str, action: str, payload: dict) -> dict:
        """A command, answered within the POST (the bus delivers at once): its result."""
        status, queued = post_command(self.client, cp, {"action": action, "payload": payload})
        assert status == 200, queued
        status, view = get_command(self.client, cp, queued["commandId"])
        assert status == 200 and view["status"] == "answered", view
        return view["result"]

    def every(self, path: str, key: str) -> list[dict]:
        """All pages of a listing."""
        items, token = [], None
        while True:
            page = self.get(
                path + ("&" if "?" in path else "?") + "limit=100" + (f"&nextToken={token}" if token else "")
            )
            items += page[key]
            token = page.get("nextToken")
            if not token:
                return items

    def sessions(self, id_tag: str | None = None) -> list[dict]:
        return [s for s in self.every("/sessions", "sessions") if id_tag in (None, s["idTag"])]


def answers(wire: Wire, action: str, id_tag: str) -> list[str]:
    """The idTagInfo statuses the central system answered the chargers' `action` CALLs naming `id_tag` with."""
    asked = {
        d["message"][1]
        for d in wire.sent
        if d["message"][0] == ocpp_frames.CALL and d["action"] == action and d["message"][3]["idTag"] == id_tag
    }
    return [
        d["message"][2]["idTagInfo"]["status"]
        for d in wire.heard
        if d["message"][0] == ocpp_frames.CALLRESULT and d["message"][1] in asked
    ]


def powers(wire: Wire, cp: str, transaction_id: int) -> list[float]:
    return [
        float(sample["value"])
        for values in wire.calls("MeterValues", cp)
        if values.get("transactionId") == transaction_id
        for value in values["meterValue"]
        for sample in value["sampledValue"]
        if sample.get("measurand") == "Power.Active.Import"
    ]


@pytest.fixture
def upload_forwarder(client):
    """A charger uploads with a plain HTTP PUT: this server hands each one to the app's upload route."""

    class Forward(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {"Content-Type": self.headers["Content-Type"]}
            response = client.http.put(self.path, body=body, headers=headers)
            self.send_response(response.status_code)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Forward)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def reserve(api: Api, clock: Clock, cp: str, connector: int, id_tag: str, reservation_id: int, minutes: int) -> str:
    payload = {
        "connectorId": connector,
        "expiryDate": clock.iso(minutes * 60),
        "idTag": id_tag,
        "reservationId": reservation_id,
    }
    return api.command(cp, "ReserveNow", payload)["status"]


def test_an_operators_day(client, fleet, local_files, upload_forwarder):
    clock, wire = fleet
    api = Api(client)
    day_start = clock.iso()

    # Morning: the registry, and CP-DEMO-003 gets it as its local list.
    api.put(f"/idtags/{BLOCKED}", {"status": "Blocked"})
    api.put(f"/idtags/{FLEET}", {"status": "Accepted", "maxActiveTransactions": 1})
    api.put(f"/idtags/{VISITOR}", {"status": "Accepted", "expiryDate": clock.iso(26 * 60)})
    response = client.http.post(f"/chargepoints/{CP3}/localList", body=json.dumps({"updateType": "Full"}), headers=JSON)
    assert response.status_code == 200, response.body
    held = api.get(f"/chargepoints/{CP3}/localList")
    assert held["inSync"] and held["chargerVersion"] == held["registryVersion"]

    # Reservations: FLEET-1's is used, NO-SHOW-1's expires, VISITOR-1's is cancelled.
    assert reserve(api, clock, CP1, 1, FLEET, 101, 60) == "Accepted"
    assert reserve(api, clock, CP2, 2, NO_SHOW, 102, 20) == "Accepted"
    assert reserve(api, clock, CP1, 2, VISITOR, 103, 60) == "Accepted"
    assert api.command(CP1, "CancelReservation", {"reservationId": 103}) == {"status": "Accepted"}
    assert api.get(f"/chargepoints/{CP2}")["connectorStatus"]["2"]["status"] == "Reserved"
    assert api.command(CP1, "RemoteStartTransaction", {"idTag": FLEET}) == {"status": "Accepted"}
    clock.tick(10)
    [fleet_session] = api.sessions(FLEET)
    assert (fleet_session["chargePointId"], fleet_session["connectorId"]) == (CP1, 1)

    # FLEET-1 may hold one transaction at a time; BLOCKED-1 none, asked about (CP-DEMO-002) or listed (CP-DEMO-003).
    assert api.command(CP1, "RemoteStartTransaction", {"idTag": FLEET, "connectorId": 2}) == {"status": "Accepted"}
    assert api.command(CP2, "RemoteStartTransaction", {"idTag": BLOCKED, "connectorId": 1}) == {"status": "Accepted"}
    assert api.command(CP3, "RemoteStartTransaction", {"idTag": BLOCKED, "connectorId": 1}) == {"status": "Accepted"}

    # CP-DEMO-002 gets a default limit for its transactions; VISITOR-1 charges under it.
    profile = {
        "chargingProfileId": 7,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "startSchedule": day_start,
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": CAP_W}],
        },
    }
    assert api.command(CP2, "SetChargingProfile", {"connectorId": 0, "csChargingProfiles": profile}) == {
        "status": "Accepted"
    }
    assert api.command(CP2, "RemoteStartTransaction", {"idTag": VISITOR, "connectorId": 1}) == {"status": "Accepted"}
    for _ in range(5):
        clock.tick(5 * 60)  # NO-SHOW-1's reservation runs out meanwhile
    [visitor_session] = api.sessions(VISITOR)
    assert visitor_session["status"] == "Active" and visitor_session["chargePointId"] == CP2
    sampled = len(powers(wire, CP2, visitor_session["transactionId"]))
    assert api.command(CP2, "TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1}) == {
        "status": "Accepted"
    }
    capped = powers(wire, CP2, visitor_session["transactionId"])
    assert len(capped) > sampled, "the triggered MeterValues follows the answer"
    assert 0 < max(capped) <= CAP_W
    assert [p["chargingProfileId"] for p in api.get(f"/chargepoints/{CP2}/chargingProfiles")["chargingProfiles"]] == [7]
    stop = {"transactionId": visitor_session["transactionId"]}
    assert api.command(CP2, "RemoteStopTransaction", stop) == {"status": "Accepted"}
    assert api.command(CP1, "RemoteStopTransaction", {"transactionId": fleet_session["transactionId"]}) == {
        "status": "Accepted"
    }

    # VISITOR-1 has expired meanwhile: CP-DEMO-002 asks, and the central system refuses it.
    clock.tick(90)
    assert api.command(CP2, "RemoteStartTransaction", {"idTag": VISITOR, "connectorId": 1}) == {"status": "Accepted"}

    # Afternoon: CP-DEMO-003 is taken out of service for its firmware update, its last session stopped.
    assert api.command(CP3, "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"})["status"] in (
        "Accepted",
        "Scheduled",
    )
    for session in api.every(f"/sessions?chargePointId={CP3}&status=Active", "sessions"):
        stop = {"transactionId": session["transactionId"]}
        assert api.command(CP3, "RemoteStopTransaction", stop) == {"status": "Accepted"}
    update = {"location": "https://firmware.invalid/fastcharge-2.2.0.bin", "retrieveDate": clock.iso(HOUR)}
    assert api.command(CP3, "UpdateFirmware", update) == {}
    clock.tick(HOUR)
    for _ in range(6):
        clock.tick(60)
    given = client.http.get(f"/chargepoints/{CP1}/diagnostics/location", headers={"Host": upload_forwarder})
    location = json.loads(given.body)
    result = api.command(CP1, "GetDiagnostics", {"location": location["location"]})
    assert "fileName" in result

    # The day, as the API tells it.
    for cp in (CP1, CP2, CP3):
        statuses = {(c["action"], c["status"]) for c in api.every(f"/chargepoints/{cp}/commands", "commands")}
        assert {status for _, status in statuses} == {"answered"}, (cp, statuses)
    reservations = {r["reservationId"]: r for r in api.every("/reservations", "reservations")}
    assert {n: reservations[n]["status"] for n in (101, 102, 103)} == {101: "Used", 102: "Expired", 103: "Cancelled"}
    assert reservations[101]["sessionId"] == fleet_session["sessionId"]

    assert api.sessions(BLOCKED) == []
    assert answers(wire, "Authorize", BLOCKED) == ["Blocked"]  # CP-DEMO-003's list refused it without asking
    assert answers(wire, "StartTransaction", BLOCKED) == []
    assert answers(wire, "Authorize", FLEET) == ["Accepted", "ConcurrentTx"]
    [fleet_session] = api.sessions(FLEET)
    assert fleet_session["status"] == "Completed" and fleet_session["stopReason"] == "Remote"
    assert api.get(f"/idtags/{FLEET}")["activeTransactions"] == 0
    assert answers(wire, "Authorize", VISITOR) == ["Accepted", "Expired"]
    [visitor_session] = api.sessions(VISITOR)
    assert visitor_session["status"] == "Completed" and visitor_session["stopReason"] == "Remote"

    cp3 = api.get(f"/chargepoints/{CP3}")
    assert [e["status"] for e in cp3["firmwareHistory"]] == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert cp3["firmwareVersion"] == "2.2.0" and wire.calls("BootNotification", CP3)[-1]["firmwareVersion"] == "2.2.0"
    files = api.get(f"/chargepoints/{CP1}/diagnostics")["files"]
    assert [f["fileName"] for f in files] == [location["fileName"]] and files[0]["size"] > 0
    assert (local_files / "diagnostics" / CP1 / location["fileName"]).read_text().startswith(f"charge point: {CP1}")
    assert [c["status"] for c in wire.calls("DiagnosticsStatusNotification", CP1)] == ["Uploading", "Uploaded"]

    stats, sessions = api.get("/stats"), api.sessions()
    charge_points = api.every("/chargepoints", "chargePoints")
    completed = [s for s in sessions if s["status"] == "Completed"]
    assert stats["completedSessions"] == len(completed)
    assert stats["activeSessions"] == len(sessions) - len(completed)
    assert stats["totalEnergyKwh"] == pytest.approx(sum(s["currentEnergy"] for s in completed), abs=0.002)
    assert stats["totalRevenue"] == pytest.approx(sum(s["cost"] for s in completed), abs=0.001)
    assert stats["totalChargePoints"] == len(charge_points) == 3
    assert stats["availableChargePoints"] == sum(cp["status"] == "Available" for cp in charge_points)
    assert stats["chargingChargePoints"] == sum(cp["status"] == "Charging" for cp in charge_points)

    # Every CALL a charger sent was answered, none with an error (the fleet fixture validates every frame).
    calls = [d["message"][1] for d in wire.sent if d["message"][0] == ocpp_frames.CALL]
    replies = [d["message"] for d in wire.heard if d["message"][0] != ocpp_frames.CALL]
    assert [r for r in replies if r[0] == ocpp_frames.CALLERROR] == []
    assert sorted(r[1] for r in replies) == sorted(calls)
