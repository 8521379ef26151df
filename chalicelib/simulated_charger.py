"""One simulated OCPP 1.6 charge point's behaviour, over its stored state: what it sends and when (boot,
statuses, heartbeats, transactions, meter values), how it reacts to the central system's answers, and how
what a command can make it do. It knows nothing of how frames travel.

The surface a transport uses: `catch_up(now)` lives until now, `out` holds the CALLs to send, `receive`
takes an answer to one of them, `rebooting`/`reconnected` for a Reset; charger_commands answers a CALL from
the central system with it, charger_trigger sends one message type on demand. What commands left it to do
later (a reservation's expiry, a firmware update's steps, a profile's limit) the charger_* modules do at
each step of its life. The bus simulator
(simulator.py) and the WebSocket chargers (scripts/ws_chargers.py) both drive it so.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib import (
    charger_config,
    charger_connectors,
    charger_maintenance,
    charger_messages,
    charger_model,
    charger_smart,
    ocpp_frames,
)
from chalicelib.ocpp_frames import format_timestamp as iso
from chalicelib.ocpp_frames import parse_timestamp as at

RESEND_AFTER_SECONDS = 300
# After a long pause (a stopped process, a lost tick) a charger lives at most this much time at once.
MAX_CATCH_UP_SECONDS = 15 * 60


class NotPossible(ValueError):
    """The charger cannot send that message in its present state."""


@dataclass
class Outgoing:
    """A frame a charger sends: a CALL, or its answer to the central system's command `answering`."""

    charge_point_id: str
    frame: list
    answering: str | None = None


class Charger:
    """One simulated charge point, over its stored state, for one tick, reaction or command."""

    def __init__(self, state: dict, rng: random.Random, speed: float, out: list[Outgoing] | None = None) -> None:
        self.state = state
        self.rng = rng
        self.speed = speed
        self.out: list[Outgoing] = [] if out is None else out
        self._wall_start = at(state["wall"])
        self._clock_start = at(state["clock"])

    @property
    def moment(self) -> datetime:
        """The charger's present, in simulated time."""
        return at(self.state["clock"])

    @property
    def rebooting(self) -> bool:
        return self.state["boot"] == "rebooting"

    def reconnected(self) -> None:
        self.state["boot"] = "new"

    # -- sending ----------------------------------------------------------------------------------

    def wall(self, moment: datetime) -> datetime:
        """Simulated time mapped onto the wall clock: at SIMULATOR_SPEED k, k simulated seconds pass
        in one real second, and messages carry real times so the central system sees no clock skew."""
        return self._wall_start + (moment - self._clock_start) / self.speed

    def send(self, action: str, payload: dict, awaited: dict | None = None) -> str:
        self.state["seq"] += 1
        unique_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        ocpp_frames.validate(ocpp_frames.CALL, action, payload)
        self.out.append(Outgoing(self.state["id"], [ocpp_frames.CALL, unique_id, action, payload]))
        if awaited is not None:
            self.state["awaiting"][unique_id] = awaited
        return unique_id

    def boot(self, moment: datetime) -> None:
        self.state["boot"] = "sent"
        self.send(
            "BootNotification", charger_messages.boot(self.state), {"action": "BootNotification", "sentAt": iso(moment)}
        )

    def report_status(self, connector: str, moment: datetime, error_code: str = "NoError") -> None:
        entry = self.state["connectors"][connector]
        self.send(
            "StatusNotification",
            charger_messages.status(int(connector), entry["status"], self.wall(moment), error_code),
        )
        entry["reported"] = entry["status"]

    def meter_values(self, connector: str, moment: datetime, power_w: float) -> dict:
        return charger_messages.meter_values(connector, self.state["connectors"][connector], self.wall(moment), power_w)

    def _transaction_message(self, connector: str, action: str, payload: dict) -> None:
        """Send now if the transactionId is known, otherwise queue until the answer arrives."""
        tx = self.state["connectors"][connector]["tx"]
        if tx["txId"] is None:
            tx["queue"].append([action, payload])
        else:
            self.send(action, {**payload, "transactionId": tx["txId"]})

    # -- answers ----------------------------------------------------------------------------------

    def receive(self, unique_id: str, frame: list) -> None:
        """The central system's answer (CALLRESULT or CALLERROR) to a CALL this charger sent."""
        awaited = self.state["awaiting"].pop(unique_id, None)
        if awaited is None:
            return
        moment = self.moment
        payload = frame[2] if frame[0] == ocpp_frames.CALLRESULT else None
        if awaited["action"] == "BootNotification":
            if payload and payload["status"] == "Accepted":
                self.state["boot"] = "accepted"
                self.state["heartbeatInterval"] = payload["interval"] or 60
                self._announce(moment)
            else:
                self.state["boot"] = "refused"
                self.state["bootRetry"] = iso(moment + timedelta(seconds=(payload or {}).get("interval") or 60))
        elif awaited["action"] == "StartTransaction":
            self._started(unique_id, payload, moment)
        elif awaited["action"] == "Authorize":
            self._authorized(awaited, payload, moment)

    def _announce(self, moment: datetime) -> None:
        """After an accepted boot: who it is (location, hardware) and every connector's status."""
        self.send("DataTransfer", charger_messages.charger_info(self.state))
        self.send("StatusNotification", charger_messages.status(0, "Available", self.wall(moment)))
        for connector in self.state["connectors"]:
            self.report_status(connector, moment)
        self.state["lastHeartbeat"] = iso(moment)

    def _authorized(self, awaited: dict, payload: dict | None, moment: datetime) -> None:
        """A refused idTag sends the driver away before the transaction starts (a remote start too, OCPP 1.6
        5.11); once it has started, the StartTransaction's answer decides."""
        connector, refused = awaited["connector"], payload is not None and payload["idTagInfo"]["status"] != "Accepted"
        entry = self.state["connectors"][connector]
        if refused and entry["status"] == "Preparing" and entry["idTag"] == awaited["idTag"] and not entry["tx"]:
            self._free(entry, moment)
            if entry["reported"] != entry["status"]:
                self.report_status(connector, moment)

    def _find_tx(self, unique_id: str) -> dict | None:
        """The transaction a StartTransaction uniqueId belongs to: running, or ended but not yet sent."""
        for entry in self.state["connectors"].values():
            if entry["tx"] and entry["tx"]["uid"] == unique_id:
                return entry["tx"]
        return self.state["unfinished"].get(unique_id)

    def _started(self, unique_id: str, payload: dict | None, moment: datetime) -> None:
        tx = self._find_tx(unique_id)
        if tx is None:
            return
        finished = self.state["unfinished"].pop(unique_id, None) is not None
        if payload is None:
            # The central system refused the frame itself: the transaction never existed there.
            tx["queue"] = []
            if not finished:
                connector = str(tx["start"]["connectorId"])
                self.state["connectors"][connector]["tx"] = None
                self._leave(connector, moment)
            return
        tx["txId"] = payload["transactionId"]
        for action, queued in tx["queue"]:
            self.send(action, {**queued, "transactionId": tx["txId"]})
        tx["queue"] = []
        if payload["idTagInfo"]["status"] != "Accepted" and not finished:
            self._stop(str(tx["start"]["connectorId"]), moment, "DeAuthorized")

    # -- behaviour --------------------------------------------------------------------------------

    def catch_up(self, now: datetime) -> None:
        """Live from the last wall-clock time it lived until `now` (SIMULATOR_SPEED times as fast)."""
        elapsed = min((now - at(self.state["wall"])).total_seconds(), MAX_CATCH_UP_SECONDS)
        self.run_until(self.moment + timedelta(seconds=max(elapsed, 0) * self.speed))
        self.state["wall"] = iso(now)

    def run_until(self, target: datetime) -> None:
        moment = self.moment
        if self.state["boot"] == "new" or (self.state["boot"] == "refused" and moment >= at(self.state["bootRetry"])):
            self.boot(moment)
        while moment < target:
            step = min(timedelta(seconds=charger_config.sample_seconds(self.state)), target - moment)
            moment += step
            if self.state["boot"] == "accepted":
                self._live(moment, step.total_seconds())
        self._resend_unanswered(target)
        self.state["clock"] = iso(target)

    def _resend_unanswered(self, moment: datetime) -> None:
        """No answer after a while: the message or its answer was lost. Send it again (a new uniqueId;
        the central system recognises a repeated StartTransaction by its content)."""
        for unique_id, awaited in list(self.state["awaiting"].items()):
            if (moment - at(awaited["sentAt"])).total_seconds() < RESEND_AFTER_SECONDS:
                continue
            del self.state["awaiting"][unique_id]
            if awaited["action"] == "BootNotification":
                self.boot(moment)
            else:
                tx = self._find_tx(unique_id)
                if tx is not None:
                    tx["uid"] = self.send("StartTransaction", tx["start"], {**awaited, "sentAt": iso(moment)})
                    if unique_id in self.state["unfinished"]:
                        self.state["unfinished"][tx["uid"]] = self.state["unfinished"].pop(unique_id)

    def _live(self, moment: datetime, seconds: float) -> None:
        charger_connectors.due(self, moment)
        charger_maintenance.due(self, moment)
        charger_smart.due(self, moment)
        if self.state["boot"] != "accepted":
            return  # a new firmware was installed: it reboots
        connectors = self.state["connectors"]
        drawing = [c for c, e in connectors.items() if e["status"] == "Charging"]
        share_kw = self.state["profile"]["maxPower"] / max(len(drawing), 1)
        for connector, entry in connectors.items():
            limit_kw = charger_smart.limit_kw(self, connector, moment)
            self._advance_connector(connector, entry, moment, seconds, min(share_kw, limit_kw))
            if entry["status"] != entry["reported"]:
                self.report_status(connector, moment, entry.pop("errorCode", "NoError"))
        last = self.state["lastHeartbeat"]
        if last is None or (moment - at(last)).total_seconds() >= self.state["heartbeatInterval"]:
            self.send("Heartbeat", {})
            self.state["lastHeartbeat"] = iso(moment)

    def _advance_connector(
        self, connector: str, entry: dict, moment: datetime, seconds: float, share_kw: float
    ) -> None:
        status, until = entry["status"], entry["until"] and at(entry["until"])
        if status == "Available":
            if self.rng.random() < seconds / charger_model.MEAN_SECONDS_BETWEEN_FAULTS:
                charger_model.fault(entry, self.rng, moment)
            elif moment >= at(entry["nextArrival"]):
                self._arrive(connector, moment)
        elif status == "Faulted" and moment >= until:
            entry.update(status=entry.pop("faultReturn") or "Available", until=None)
        elif status == "Preparing" and moment >= until:
            self.start_transaction(connector, moment)
        elif status in ("Charging", "SuspendedEV"):
            self._charge(connector, entry, moment, seconds, share_kw)
        elif status == "Finishing" and moment >= until:
            self._free(entry, moment)

    def _free(self, entry: dict, moment: datetime) -> None:
        """The car has gone: the connector is Available until the next one arrives."""
        entry.update(
            status="Available",
            car=None,
            until=None,
            nextArrival=iso(moment + timedelta(seconds=self.rng.expovariate(1 / charger_model.MEAN_IDLE_SECONDS))),
        )

    def _arrive(self, connector: str, moment: datetime) -> None:
        car = charger_model.arriving_car(self.rng, moment)
        id_tag = f"DEMO-TAG-{self.rng.randint(1, 20):02d}"
        self.state["connectors"][connector].update(
            status="Preparing", car=car, idTag=id_tag, until=iso(moment + timedelta(seconds=self.rng.uniform(15, 60)))
        )
        self._authorize(connector, id_tag, moment)

    def _authorize(self, connector: str, id_tag: str, moment: datetime) -> None:
        """The local authorization list decides first: a tag it refuses sends the driver away, one it accepts
        starts without asking (LocalPreAuthorize); any other is asked about with Authorize."""
        verdict = charger_config.local_verdict(self.state, id_tag, self.wall(moment))
        if verdict is None:
            awaited = {"action": "Authorize", "connector": connector, "idTag": id_tag, "sentAt": iso(moment)}
            self.send("Authorize", {"idTag": id_tag}, awaited)
        elif not verdict:
            self._free(self.state["connectors"][connector], moment)

    def start_transaction(self, connector: str, moment: datetime) -> None:
        entry = self.state["connectors"][connector]
        reservation = entry.pop("reservation", None)  # a start by its idTag uses the connector's reservation
        reserved = reservation["reservationId"] if reservation and reservation["idTag"] == entry["idTag"] else None
        start = charger_messages.start_transaction(connector, entry, self.wall(moment), reserved)
        unique_id = self.send("StartTransaction", start, {"action": "StartTransaction", "sentAt": iso(moment)})
        entry.update(
            status="Charging",
            until=None,
            lastSample=iso(moment),
            tx={"uid": unique_id, "txId": None, "start": start, "queue": []},
        )

    def _charge(self, connector: str, entry: dict, moment: datetime, seconds: float, share_kw: float) -> None:
        car = entry["car"]
        power_kw = 0.0
        if entry["status"] == "Charging":
            power_kw = charger_model.draw(entry, share_kw, seconds)
            if car["soc"] >= car["targetSoc"]:
                entry["status"] = "SuspendedEV"  # the car is full: it stops drawing, the driver is away
            elif self.rng.random() < charger_model.PAUSE_CHANCE_PER_HOUR * seconds / 3600:
                entry.update(status="SuspendedEV", until=iso(moment + timedelta(seconds=self.rng.uniform(60, 300))))
        elif entry["until"] and moment >= at(entry["until"]) and car["soc"] < car["targetSoc"]:
            entry.update(status="Charging", until=None)
        if (moment - at(entry["lastSample"])).total_seconds() >= charger_config.sample_seconds(self.state):
            entry["lastSample"] = iso(moment)
            self._transaction_message(connector, "MeterValues", self.meter_values(connector, moment, power_kw * 1000))
        if moment >= at(car["departure"]):
            self._stop(connector, moment, "EVDisconnected")

    def _stop(self, connector: str, moment: datetime, reason: str) -> None:
        entry = self.state["connectors"][connector]
        tx = entry["tx"]
        self._transaction_message(
            connector, "StopTransaction", charger_messages.stop_transaction(entry, self.wall(moment), reason)
        )
        if tx["txId"] is None:
            # Its StopTransaction waits in the queue for the transactionId.
            self.state["unfinished"][tx["uid"]] = tx
        entry["tx"] = None
        self._leave(connector, moment)

    def _leave(self, connector: str, moment: datetime) -> None:
        self.state["connectors"][connector].update(
            status="Finishing", until=iso(moment + timedelta(seconds=self.rng.uniform(10, 60)))
        )

    def stop(self, connector: str, reason: str) -> None:
        """The transaction on this connector ends now (a remote stop, a reset, an unlock)."""
        self._stop(connector, self.moment, reason)

    def plug_in(self, connector: str, id_tag: str) -> None:
        """A driver is plugged in already and a remote start names the idTag: authorized, it starts in 5 s."""
        self.plug_in_car(connector, self.moment)
        self.state["connectors"][connector].update(
            status="Preparing", idTag=id_tag, until=iso(self.moment + timedelta(seconds=5))
        )
        if charger_config.value(self.state, "AuthorizeRemoteTxRequests") == "true":
            self._authorize(connector, id_tag, self.moment)

    def reboot(self) -> None:
        """A Reset accepted: the transport closes the connection, reconnects, then calls `reconnected` (the bus
        has no connection: the simulator boots it at once)."""
        self.state["boot"] = "rebooting"

    def report_changes(self) -> None:
        """Statuses a command changed, reported now rather than at the next step."""
        for connector, entry in self.state["connectors"].items():
            if entry["status"] != entry["reported"]:
                self.report_status(connector, self.moment)

    def plug_in_car(self, connector: str, moment: datetime) -> None:
        """A car plugged in at once, for a transaction started on demand."""
        self.state["connectors"][connector].update(
            car=charger_model.plugged_in_car(self.rng, moment), idTag="DEMO-TAG-01"
        )
