"""What real chargers send, as raw OCPP-J frames on both transports: a plain `websockets` client against the
real gateway, and `POST /ocpp/{id}` (chalice's test client). Nothing a charger reports is lost, every
conformant message gets a conformant answer, and bad values are flagged rather than billed (issue 11, and
issue 12's bounds on what one charger can make the system store)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from websockets.sync.client import connect

from chalicelib import central_system, charging_rules, ocpp_frames, settings, storage, transactions

_ids = itertools.count(1)


def when(seconds: float = 0) -> str:
    """A charger's clock, `seconds` from now (the gateway and POST /ocpp stamp messages with the real clock)."""
    return ocpp_frames.format_timestamp(datetime.now(UTC) + timedelta(seconds=seconds))


class Charger:
    """One charger speaking raw frames over a WebSocket or POST /ocpp/{id}."""

    def __init__(self, transport: str, cp_id: str, client, gateway) -> None:
        self.cp_id, self.client, self.socket = cp_id, client, None
        if transport == "ws":
            self.socket = connect(gateway.url + cp_id, subprotocols=["ocpp1.6"], open_timeout=10)

    def raw(self, frame: list) -> list:
        if self.socket:
            self.socket.send(json.dumps(frame))
            return json.loads(self.socket.recv(timeout=20))
        response = self.client.http.post(
            f"/ocpp/{self.cp_id}", headers={"Content-Type": "application/json"}, body=json.dumps(frame)
        )
        return json.loads(response.body)

    def send(self, action: str, payload: dict, uid: str | None = None) -> list:
        frame = [2, uid or f"u{next(_ids)}", action, payload]
        answer = self.raw(frame)
        assert answer[1] == frame[1], answer
        if answer[0] == ocpp_frames.CALLRESULT:
            ocpp_frames.validate(ocpp_frames.CALLRESULT, action, answer[2])
        return answer

    def ok(self, action: str, payload: dict, uid: str | None = None) -> dict:
        answer = self.send(action, payload, uid)
        assert answer[0] == ocpp_frames.CALLRESULT, answer
        return answer[2]

    def boot(self, **extra) -> dict:
        return self.ok("BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "W1", **extra})

    def start(self, connector: int = 1, meter: int = 1000, at: float = -60, uid: str | None = None) -> int:
        return self.ok(
            "StartTransaction",
            {"connectorId": connector, "idTag": "TAG", "meterStart": meter, "timestamp": when(at)},
            uid,
        )["transactionId"]

    def meter(
        self, tx: int | None, samples: list[dict], at: float = -30, connector: int = 1, uid: str | None = None
    ) -> list:
        payload = {"connectorId": connector, "meterValue": [{"timestamp": when(at), "sampledValue": samples}]}
        if tx is not None:
            payload["transactionId"] = tx
        return self.send("MeterValues", payload, uid)

    def stop(self, tx: int, meter_stop: int, timestamp: str | None = None, uid: str | None = None, **extra) -> dict:
        return self.ok(
            "StopTransaction",
            {"transactionId": tx, "meterStop": meter_stop, "timestamp": timestamp or when(-1), **extra},
            uid,
        )

    def close(self) -> None:
        if self.socket:
            self.socket.close()


@pytest.fixture(params=["ws", "http"])
def charger(request, client, gateway):
    made: list[Charger] = []

    def make(cp_id: str = "CP-REAL", boot: bool = True) -> Charger:
        one = Charger(request.param, f"{cp_id}-{request.param}", client, gateway)
        made.append(one)
        if boot:
            one.boot()
        return one

    yield make
    for one in made:
        one.close()


def api(client, path: str) -> dict:
    response = client.http.get(path)
    assert response.status_code == 200, (path, response.body)
    return json.loads(response.body)


def session_of(client, cp: Charger, tx: int) -> dict:
    return api(client, f"/sessions/{charging_rules.session_id(cp.cp_id, tx)}")


def energy(value: str, unit: str = "Wh") -> dict:
    return {"value": value, "measurand": "Energy.Active.Import.Register", "unit": unit}


def power(value: str) -> dict:
    return {"value": value, "measurand": "Power.Active.Import", "unit": "W"}


# --- duplicates: the same message, not the same uniqueId ---------------------------------------------


def test_a_reused_unique_id_with_another_payload_is_processed(charger, client):
    cp = charger()
    first = cp.start(connector=1, uid="1")
    second = cp.start(connector=2, meter=50, uid="1")  # the charger's counter restarted on reconnect
    assert first != second
    assert cp.meter(second, [energy("900")], uid="2")[0] == ocpp_frames.CALLRESULT
    assert cp.meter(second, [energy("1400")], at=-20, uid="2")[0] == ocpp_frames.CALLRESULT
    assert session_of(client, cp, second)["currentEnergy"] == 1.35
    cp.stop(first, 3000, uid="3")
    cp.stop(second, 2000, uid="3")
    assert {session_of(client, cp, tx)["status"] for tx in (first, second)} == {"Completed"}
    # Another action with a reused id gets its own (schema-valid) answer.
    assert "currentTime" in cp.ok("Heartbeat", {}, uid="3")


def test_the_same_message_again_gets_the_same_answer_and_changes_nothing(charger, client):
    cp = charger()
    payload = {"connectorId": 1, "idTag": "TAG", "meterStart": 1000, "timestamp": when(-60)}
    tx = cp.ok("StartTransaction", payload, uid="7")["transactionId"]
    assert cp.ok("StartTransaction", payload, uid="7")["transactionId"] == tx
    cp.stop(tx, 2000, uid="8", timestamp=when(-1))
    stats = api(client, "/stats")
    assert cp.send("StopTransaction", {"transactionId": tx, "meterStop": 2000, "timestamp": when(-1)}, uid="8")[0] == 3
    assert api(client, "/stats") == stats and stats["completedSessions"] == 1


# --- acknowledged facts are stored even when a later message was applied first -------------------------


def test_facts_heard_before_a_later_applied_message_are_still_stored(charger, client):
    cp = charger()
    # Another path (the bus, a racing HTTP client) already applied a message heard 5 s from now.
    central_system.handle(
        cp.cp_id,
        json.dumps([2, "later", "Heartbeat", {}]),
        received_at=datetime.now(UTC) + timedelta(seconds=5),
    )
    cp.ok("FirmwareStatusNotification", {"status": "Downloaded"})
    cp.ok("DiagnosticsStatusNotification", {"status": "Uploaded"})
    info = {"location": "Depot 4", "maxPower": 22, "connectors": 2}
    assert cp.ok(
        "DataTransfer",
        {"vendorId": ocpp_frames.INFO_VENDOR_ID, "messageId": ocpp_frames.INFO_MESSAGE_ID, "data": json.dumps(info)},
    ) == {"status": "Accepted"}
    cp.boot(firmwareVersion="2.0.1", meterType="EM24")
    assert cp.meter(None, [energy("777")], connector=2)[0] == ocpp_frames.CALLRESULT
    view = api(client, f"/chargepoints/{cp.cp_id}")
    assert (view["firmwareStatus"], view["diagnosticsStatus"], view["location"], view["maxPower"]) == (
        "Downloaded",
        "Uploaded",
        "Depot 4",
        22,
    )
    assert view["firmwareVersion"] == "2.0.1" and view["meterType"] == "EM24"
    assert storage.get_charge_point(cp.cp_id)["connectorMeter"]["2"]["lastRegisterWh"] == 777


def test_connector_readings_without_a_transaction_are_ordered_by_their_own_time(charger):
    cp = charger()
    cp.meter(None, [energy("2000")], at=-10)
    cp.meter(None, [energy("1000")], at=-50)  # an older reading resent from the charger's queue
    assert storage.get_charge_point(cp.cp_id)["connectorMeter"]["1"]["lastRegisterWh"] == 2000


# --- no exception ends a connection or loses a message -----------------------------------------------


def test_values_that_once_crashed_the_handler_are_applied_or_flagged(charger, client):
    cp = charger()
    tx = cp.start()
    tiny = cp.meter(tx, [energy("1500"), power("1e-200"), {"value": "1e-140", "measurand": "SoC", "unit": "Percent"}])
    assert tiny[0] == ocpp_frames.CALLRESULT
    cp.stop(tx, 10**40)  # 500 on every retry before: now the session closes on its last register
    session = session_of(client, cp, tx)
    assert session["status"] == "Completed" and session["currentEnergy"] == 0.5 and session["soc"] == 0.0
    assert session["anomalies"]["counts"] == {"meterStopUnusable": 1}


def test_an_unexpected_error_is_an_internal_error_and_the_connection_stays(charger, client, monkeypatch, caplog):
    cp = charger()

    def broken(msg):
        raise ZeroDivisionError("a bug")

    monkeypatch.setitem(central_system._HANDLERS, "Authorize", broken)
    before = api(client, "/stats")["rejectedMessages"]
    answer = cp.send("Authorize", {"idTag": "TAG"})
    assert answer[0] == ocpp_frames.CALLERROR and answer[2] == "InternalError"
    assert "ZeroDivisionError" in caplog.text  # logged with its traceback
    assert api(client, "/stats")["rejectedMessages"] == before + 1
    assert "currentTime" in cp.ok("Heartbeat", {})  # same connection, still served


def test_a_value_dynamodb_refuses_is_a_callerror_not_a_conflict(charger, monkeypatch):
    cp = charger()

    def refuse(*args, **kwargs):
        raise storage.ValueRefused("Item size has exceeded the maximum allowed size")

    monkeypatch.setattr(storage, "touch_charge_point", refuse)
    answer = cp.send("Heartbeat", {})
    assert answer[0] == ocpp_frames.CALLERROR and answer[2] == "PropertyConstraintViolation"
    assert "maximum allowed size" in answer[3]


# --- signed meter values -----------------------------------------------------------------------------

SIGNED = {
    "value": '<?xml version="1.0"?><signedMeterValue><publicKey>AbC</publicKey></signedMeterValue>',
    "format": "SignedData",
    "context": "Transaction.End",
    "measurand": "Energy.Active.Import.Register",
}


def test_signed_values_are_kept_and_the_rest_applied(charger, client):
    cp = charger()
    tx = cp.start()
    assert cp.meter(tx, [energy("1800"), {**SIGNED, "context": "Sample.Periodic"}])[0] == ocpp_frames.CALLRESULT
    stopped_at = when(-2)
    cp.stop(tx, 2500, transactionData=[{"timestamp": stopped_at, "sampledValue": [energy("2500"), SIGNED]}])
    session = session_of(client, cp, tx)
    assert session["status"] == "Completed" and session["currentEnergy"] == 1.5 and session["signedMeterValues"] == 2
    digest = charging_rules._signed(SIGNED, ocpp_frames.parse_timestamp(stopped_at))["digest"]
    kept = storage.client().get_item(
        TableName=settings.get().sessions_table,
        Key=storage.to_item({"sessionId": f"signed#{session['sessionId']}#{digest}"}),
    )
    assert storage.from_item(kept["Item"])["value"] == SIGNED["value"]  # as signed, for a verifier


# --- one bad sample does not reject the message ------------------------------------------------------


def test_bad_samples_are_left_out_and_counted_and_the_rest_applied(charger, client):
    cp = charger()
    tx = cp.start(meter=1000)
    cp.meter(tx, [energy("3000")], at=-40)
    answer = cp.meter(
        tx,
        [
            energy("2900"),
            power("-3.5"),
            {"value": "12", "measurand": "Energy.Active.Import.Register", "unit": "varh"},
            {"value": "55.55", "measurand": "SoC"},
        ],
    )
    assert answer[0] == ocpp_frames.CALLRESULT
    session = session_of(client, cp, tx)
    assert session["currentEnergy"] == 2.0 and session["power"] == 0.0 and session["soc"] == 55.6
    assert session["anomalies"]["counts"] == {"registerWentDown": 1, "negativePower": 1, "wrongUnit": 1}


@pytest.mark.parametrize("clock", ["1970-01-01T00:00:00Z", "ahead"])
def test_a_stop_with_an_unusable_clock_closes_at_the_receive_time(charger, client, clock):
    cp = charger()
    tx = cp.start(meter=1000)
    before = datetime.now(UTC)
    cp.stop(tx, 4000, timestamp=when(600) if clock == "ahead" else clock)
    session = session_of(client, cp, tx)
    assert session["status"] == "Completed" and session["currentEnergy"] == 3.0
    assert ocpp_frames.parse_timestamp(session["stopTime"]) >= before.replace(microsecond=0) - timedelta(seconds=1)
    assert ocpp_frames.parse_timestamp(session["stopTime"]) <= datetime.now(UTC)
    assert session["anomalies"]["counts"] == {"clockUnusable": 1}


# --- implausible energy ------------------------------------------------------------------------------


def test_an_implausible_reading_does_not_override_a_sane_meter_stop(charger, client):
    cp = charger()
    tx = cp.start(meter=1000, at=-3600)
    cp.meter(tx, [energy("1e11")], at=-60)
    cp.stop(tx, 12000)
    session = session_of(client, cp, tx)
    assert session["currentEnergy"] == 11.0 and session["anomalies"]["counts"] == {"implausibleEnergy": 1}
    assert api(client, "/stats")["totalEnergyKwh"] == 11.0


def test_an_implausible_meter_stop_is_flagged_and_kept_out_of_stats(charger, client):
    cp = charger()
    tx = cp.start(meter=1000, at=-2)
    cp.stop(tx, 10**11, timestamp=when(-1))
    session = session_of(client, cp, tx)
    assert session["currentEnergy"] == 0 and session["meterStop"] == 10**11  # the raw value is kept
    assert session["anomalies"]["counts"] == {"implausibleEnergy": 1}
    assert api(client, "/stats")["totalEnergyKwh"] == 0 and api(client, "/stats")["totalRevenue"] < 1


# --- status order --------------------------------------------------------------------------------------


def status(connector: int, value: str, timestamp: str | None) -> dict:
    return {
        "connectorId": connector,
        "status": value,
        "errorCode": "NoError",
        **({"timestamp": timestamp} if timestamp else {}),
    }


def test_same_second_statuses_resolve_to_arrival_order(charger, client):
    cp = charger()
    second = when(-5)[:19] + "Z"
    cp.ok("StatusNotification", status(1, "Preparing", second))
    cp.ok("StatusNotification", status(1, "Charging", second))
    assert api(client, f"/chargepoints/{cp.cp_id}")["connectorStatus"]["1"]["status"] == "Charging"


@pytest.mark.parametrize("skew", [-60, 240])
def test_a_status_without_timestamp_is_ordered_by_arrival_whatever_the_chargers_clock(charger, client, skew):
    cp = charger()
    cp.ok("StatusNotification", status(1, "Preparing", None))
    cp.ok("StatusNotification", status(1, "Charging", when(skew - 1 if skew < 0 else 0)))
    assert api(client, f"/chargepoints/{cp.cp_id}")["connectorStatus"]["1"]["status"] == "Charging"
    cp.ok("StatusNotification", status(1, "Finishing", None))
    assert api(client, f"/chargepoints/{cp.cp_id}")["connectorStatus"]["1"]["status"] == "Finishing"


# --- sessions stuck Active -----------------------------------------------------------------------------


def test_a_new_start_on_a_connector_closes_the_older_session(charger, client):
    cp = charger()
    older = cp.start(connector=1, meter=1000, at=-600)
    cp.meter(older, [energy("2500")], at=-300)
    newer = cp.start(connector=1, meter=2600, at=-60)
    closed = session_of(client, cp, older)
    assert closed["status"] == "Completed" and closed["currentEnergy"] == 1.5
    assert closed["anomalies"]["counts"] == {"supersededByNewStart": 1}
    assert session_of(client, cp, newer)["status"] == "Active"
    assert api(client, f"/sessions?chargePointId={cp.cp_id}&status=Active")["sessions"][0]["transactionId"] == newer


def test_a_stop_heard_before_its_start_completes_the_session_when_the_start_arrives(charger, client):
    cp = charger()
    started_at = when(-120)
    tx = charging_rules.transaction_id(cp.cp_id, 1, "TAG", 1000, started_at)
    assert cp.stop(tx, 5000, idTag="TAG") == {"idTagInfo": {"status": "Accepted"}}
    assert (
        cp.ok("StartTransaction", {"connectorId": 1, "idTag": "TAG", "meterStart": 1000, "timestamp": started_at})[
            "transactionId"
        ]
        == tx
    )
    session = session_of(client, cp, tx)
    assert session["status"] == "Completed" and session["currentEnergy"] == 4.0
    assert session["anomalies"]["counts"] == {"stopBeforeStart": 1}
    assert api(client, "/stats")["activeSessions"] == 0
    assert api(client, f"/chargepoints/{cp.cp_id}")["unknownStopCount"] == 0


# --- registration ----------------------------------------------------------------------------------------


def test_a_pending_charger_is_visible_as_pending_and_may_not_start(charger, client, monkeypatch):
    monkeypatch.setenv("BOOT_POLICY", "allow-list")
    monkeypatch.setenv("BOOT_UNKNOWN_STATUS", "Pending")
    settings.get.cache_clear()
    settings.get()
    cp = charger("CP-WAIT", boot=False)
    assert cp.boot()["status"] == "Pending"
    assert api(client, f"/chargepoints/{cp.cp_id}")["registration"] == "Pending"
    refused = cp.send("StartTransaction", {"connectorId": 1, "idTag": "TAG", "meterStart": 0, "timestamp": when(-1)})
    assert refused[0] == ocpp_frames.CALLERROR and refused[2] == "SecurityError" and "Pending" in refused[3]
    assert api(client, "/stats")["activeSessions"] == 0


# --- small things ----------------------------------------------------------------------------------------


def test_stop_defaults_soc_boot_fields_power_and_connector_shape(charger, client):
    cp = charger()
    cp.boot(chargeBoxSerialNumber="BOX-1", meterType="EM340", meterSerialNumber="M-9", iccid="8931", imsi="2620")
    cp.ok(
        "DataTransfer",
        {
            "vendorId": ocpp_frames.INFO_VENDOR_ID,
            "messageId": ocpp_frames.INFO_MESSAGE_ID,
            "data": json.dumps({"location": "Yard", "maxPower": 11, "connectors": 2}),
        },
    )
    view = api(client, f"/chargepoints/{cp.cp_id}")
    assert [view[k] for k in ("chargeBoxSerialNumber", "meterType", "meterSerialNumber", "iccid", "imsi")] == [
        "BOX-1",
        "EM340",
        "M-9",
        "8931",
        "2620",
    ]
    cp.ok("StatusNotification", status(1, "Charging", when(-100)))
    tx = cp.start(at=-90)
    cp.meter(tx, [energy("1500"), power("7400")], at=-80)
    assert session_of(client, cp, tx)["power"] == 7.4
    cp.ok("StatusNotification", status(1, "SuspendedEV", when(-70)))
    assert session_of(client, cp, tx)["power"] == 0.0
    cp.stop(
        tx,
        2000,
        transactionData=[
            {"timestamp": when(-2), "sampledValue": [{"value": "81.26", "measurand": "SoC", "unit": "Percent"}]}
        ],
    )
    session = session_of(client, cp, tx)
    assert session["stopReason"] == "Local" and session["soc"] == 81.3
    cp.ok("StatusNotification", status(7, "Available", when(-1)))
    view = api(client, f"/chargepoints/{cp.cp_id}")
    assert view["connectors"] == 2 and "7" not in view["connectorStatus"]
    assert view["anomalies"]["counts"] == {"connectorBeyondAnnounced": 1}


# --- bounds: one charger cannot fill its record ------------------------------------------------------------


def test_stops_for_unknown_transactions_cannot_fill_the_charge_point(charger, client, monkeypatch):
    monkeypatch.setattr(transactions, "MAX_EARLY_STOPS", 3)
    cp = charger()
    for n in range(5):
        assert cp.stop(int("9" * 4000), 1000 + n) == {}  # acknowledged: refusing makes it resend forever
        assert cp.stop(1000 + n, 1000 + n) == {}
    response = client.http.get(f"/chargepoints/{cp.cp_id}")
    assert response.status_code == 200 and len(response.body) < 4000
    view = json.loads(response.body)
    assert view["unknownStopCount"] == 3  # kept until their start arrives
    assert view["unknownStopsNotKept"] == 5 + 2  # never ours (4000 digits), or beyond the bound: counted only
    assert "currentTime" in cp.ok("Heartbeat", {})


def test_a_pending_charger_can_be_configured_but_not_remotely_started(client, gateway, monkeypatch):
    """Commands need the WebSocket (the central system calls the charger), so this one is WebSocket only."""
    monkeypatch.setenv("BOOT_POLICY", "allow-list")
    monkeypatch.setenv("BOOT_UNKNOWN_STATUS", "Pending")
    settings.get.cache_clear()
    settings.get()
    cp = Charger("ws", "CP-WAIT-CFG", client, gateway)
    try:
        assert cp.boot()["status"] == "Pending"

        def command(action: str, payload: dict):
            return client.http.post(
                f"/chargepoints/{cp.cp_id}/commands",
                headers={"Content-Type": "application/json"},
                body=json.dumps({"action": action, "payload": payload}),
            )

        refused = command("RemoteStartTransaction", {"idTag": "TAG", "connectorId": 1})
        assert refused.status_code == 409 and "Pending" in refused.body.decode()
        queued = command("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"})
        assert queued.status_code == 200, queued.body
        call = json.loads(cp.socket.recv(timeout=20))
        assert call[0] == ocpp_frames.CALL and call[2] == "ChangeConfiguration"
        cp.socket.send(json.dumps([3, call[1], {"status": "Accepted"}]))
    finally:
        cp.close()
