"""A simulated charge point's transactions, connector by connector: a car arrives, its idTag is authorized
(the local list first, else Authorize), the transaction starts, charges (pausing, full) and stops, and the
car leaves; how the central system's answers to Authorize and StartTransaction change that; and the starts
and stops a command or a trigger asks for. The physics are charger_model.py, the payloads
charger_messages.py; Charger (simulated_charger.py) sends the frames and steps the time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib import charger_config, charger_messages, charger_model
from chalicelib.ocpp_frames import format_timestamp as iso
from chalicelib.ocpp_frames import parse_timestamp as at

if TYPE_CHECKING:
    from chalicelib.simulated_charger import Charger


def authorized(charger: Charger, awaited: dict, payload: dict | None, moment: datetime) -> None:
    """A refused idTag sends the driver away before the transaction starts (a remote start too, OCPP 1.6
    5.11); once it has started, the StartTransaction's answer decides."""
    connector, refused = awaited["connector"], payload is not None and payload["idTagInfo"]["status"] != "Accepted"
    entry = charger.state["connectors"][connector]
    if refused and entry["status"] == "Preparing" and entry["idTag"] == awaited["idTag"] and not entry["tx"]:
        _free(charger, entry, moment)
        if entry["reported"] != entry["status"]:
            charger.report_status(connector, moment)


def find(charger: Charger, unique_id: str) -> dict | None:
    """The transaction a StartTransaction uniqueId belongs to: running, or ended but not yet sent."""
    for entry in charger.state["connectors"].values():
        if entry["tx"] and entry["tx"]["uid"] == unique_id:
            return entry["tx"]
    return charger.state["unfinished"].get(unique_id)


def started(charger: Charger, unique_id: str, payload: dict | None, moment: datetime) -> None:
    tx = find(charger, unique_id)
    if tx is None:
        return
    finished = charger.state["unfinished"].pop(unique_id, None) is not None
    if payload is None:
        # The central system refused the frame itself: the transaction never existed there.
        tx["queue"] = []
        if not finished:
            connector = str(tx["start"]["connectorId"])
            charger.state["connectors"][connector]["tx"] = None
            _leave(charger, connector, moment)
        return
    tx["txId"] = payload["transactionId"]
    for action, queued in tx["queue"]:
        charger.send(action, {**queued, "transactionId": tx["txId"]})
    tx["queue"] = []
    if payload["idTagInfo"]["status"] != "Accepted" and not finished:
        _stop(charger, str(tx["start"]["connectorId"]), moment, "DeAuthorized")


def advance(charger: Charger, connector: str, entry: dict, moment: datetime, seconds: float, share_kw: float) -> None:
    """One step of a connector's life: a car arrives, starts, charges, leaves (or the connector faults)."""
    status, until = entry["status"], entry["until"] and at(entry["until"])
    if status == "Available":
        if charger.rng.random() < seconds / charger_model.MEAN_SECONDS_BETWEEN_FAULTS:
            charger_model.fault(entry, charger.rng, moment)
        elif moment >= at(entry["nextArrival"]):
            _arrive(charger, connector, moment)
    elif status == "Faulted" and moment >= until:
        entry.update(status=entry.pop("faultReturn") or "Available", until=None)
    elif status == "Preparing" and moment >= until:
        start_transaction(charger, connector, moment)
    elif status in ("Charging", "SuspendedEV"):
        _charge(charger, connector, entry, moment, seconds, share_kw)
    elif status == "Finishing" and moment >= until:
        _free(charger, entry, moment)


def _free(charger: Charger, entry: dict, moment: datetime) -> None:
    """The car has gone: the connector is Available until the next one arrives."""
    entry.update(
        status="Available",
        car=None,
        until=None,
        nextArrival=iso(moment + timedelta(seconds=charger.rng.expovariate(1 / charger_model.MEAN_IDLE_SECONDS))),
    )


def _arrive(charger: Charger, connector: str, moment: datetime) -> None:
    car = charger_model.arriving_car(charger.rng, moment)
    id_tag = f"DEMO-TAG-{charger.rng.randint(1, 20):02d}"
    charger.state["connectors"][connector].update(
        status="Preparing", car=car, idTag=id_tag, until=iso(moment + timedelta(seconds=charger.rng.uniform(15, 60)))
    )
    _authorize(charger, connector, id_tag, moment)


def _authorize(charger: Charger, connector: str, id_tag: str, moment: datetime) -> None:
    """The local authorization list decides first: a tag it refuses sends the driver away, one it accepts
    starts without asking (LocalPreAuthorize); any other is asked about with Authorize."""
    verdict = charger_config.local_verdict(charger.state, id_tag, charger.wall(moment))
    if verdict is None:
        awaited = {"action": "Authorize", "connector": connector, "idTag": id_tag, "sentAt": iso(moment)}
        charger.send("Authorize", {"idTag": id_tag}, awaited)
    elif not verdict:
        _free(charger, charger.state["connectors"][connector], moment)


def start_transaction(charger: Charger, connector: str, moment: datetime) -> None:
    entry = charger.state["connectors"][connector]
    reservation = entry.pop("reservation", None)  # a start by its idTag uses the connector's reservation
    reserved = reservation["reservationId"] if reservation and reservation["idTag"] == entry["idTag"] else None
    start = charger_messages.start_transaction(connector, entry, charger.wall(moment), reserved)
    unique_id = charger.send("StartTransaction", start, {"action": "StartTransaction", "sentAt": iso(moment)})
    entry.update(
        status="Charging",
        until=None,
        lastSample=iso(moment),
        tx={"uid": unique_id, "txId": None, "start": start, "queue": []},
    )


def _transaction_message(charger: Charger, connector: str, action: str, payload: dict) -> None:
    """Send now if the transactionId is known, otherwise queue until the answer arrives."""
    tx = charger.state["connectors"][connector]["tx"]
    if tx["txId"] is None:
        tx["queue"].append([action, payload])
    else:
        charger.send(action, {**payload, "transactionId": tx["txId"]})


def _charge(charger: Charger, connector: str, entry: dict, moment: datetime, seconds: float, share_kw: float) -> None:
    car = entry["car"]
    power_kw = 0.0
    if entry["status"] == "Charging":
        power_kw = charger_model.draw(entry, share_kw, seconds)
        if car["soc"] >= car["targetSoc"]:
            entry["status"] = "SuspendedEV"  # the car is full: it stops drawing, the driver is away
        elif charger.rng.random() < charger_model.PAUSE_CHANCE_PER_HOUR * seconds / 3600:
            entry.update(status="SuspendedEV", until=iso(moment + timedelta(seconds=charger.rng.uniform(60, 300))))
    elif entry["until"] and moment >= at(entry["until"]) and car["soc"] < car["targetSoc"]:
        entry.update(status="Charging", until=None)
    if (moment - at(entry["lastSample"])).total_seconds() >= charger_config.sample_seconds(charger.state):
        entry["lastSample"] = iso(moment)
        _transaction_message(
            charger, connector, "MeterValues", charger.meter_values(connector, moment, power_kw * 1000)
        )
    if moment >= at(car["departure"]):
        _stop(charger, connector, moment, "EVDisconnected")


def _stop(charger: Charger, connector: str, moment: datetime, reason: str) -> None:
    entry = charger.state["connectors"][connector]
    tx = entry["tx"]
    _transaction_message(
        charger, connector, "StopTransaction", charger_messages.stop_transaction(entry, charger.wall(moment), reason)
    )
    if tx["txId"] is None:
        # Its StopTransaction waits in the queue for the transactionId.
        charger.state["unfinished"][tx["uid"]] = tx
    entry["tx"] = None
    _leave(charger, connector, moment)


def _leave(charger: Charger, connector: str, moment: datetime) -> None:
    charger.state["connectors"][connector].update(
        status="Finishing", until=iso(moment + timedelta(seconds=charger.rng.uniform(10, 60)))
    )


def stop(charger: Charger, connector: str, reason: str) -> None:
    """The transaction on this connector ends now (a remote stop, a reset, an unlock)."""
    _stop(charger, connector, charger.moment, reason)


def plug_in(charger: Charger, connector: str, id_tag: str) -> None:
    """A driver is plugged in already and a remote start names the idTag: authorized, it starts in 5 s."""
    plug_in_car(charger, connector, charger.moment)
    charger.state["connectors"][connector].update(
        status="Preparing", idTag=id_tag, until=iso(charger.moment + timedelta(seconds=5))
    )
    if charger_config.value(charger.state, "AuthorizeRemoteTxRequests") == "true":
        _authorize(charger, connector, id_tag, charger.moment)


def plug_in_car(charger: Charger, connector: str, moment: datetime) -> None:
    """A car plugged in at once, for a transaction started on demand."""
    charger.state["connectors"][connector].update(
        car=charger_model.plugged_in_car(charger.rng, moment), idTag="DEMO-TAG-01"
    )
