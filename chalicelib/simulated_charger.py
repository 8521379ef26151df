"""One simulated OCPP 1.6 charge point, over its stored state: its clock, the CALLs it sends and the answers
it awaits (resent when lost), its boot, statuses and heartbeats, and the step by which it lives; at each step
its connectors' transactions (cars arriving, charging, leaving) are charger_transactions.py. It knows nothing
of how frames travel.

The surface a transport uses: `catch_up(now)` lives until now, `out` holds the CALLs to send, `receive`
takes an answer to one of them, `rebooting`/`reconnected` for a Reset; charger_commands answers a CALL from
the central system with it, charger_trigger sends one message type on demand. What commands left it to do
later (a reservation's expiry, a firmware update's steps, a profile's limit) the charger_* modules do at
each step of its life. The bus simulator (simulator.py) and the WebSocket chargers (scripts/ws_chargers.py)
both drive it so.
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
    charger_smart,
    charger_transactions,
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
            charger_transactions.started(self, unique_id, payload, moment)
        elif awaited["action"] == "Authorize":
            charger_transactions.authorized(self, awaited, payload, moment)

    def _announce(self, moment: datetime) -> None:
        """After an accepted boot: who it is (location, hardware) and every connector's status."""
        self.send("DataTransfer", charger_messages.charger_info(self.state))
        self.send("StatusNotification", charger_messages.status(0, "Available", self.wall(moment)))
        for connector in self.state["connectors"]:
            self.report_status(connector, moment)
        self.state["lastHeartbeat"] = iso(moment)

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
                tx = charger_transactions.find(self, unique_id)
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
            charger_transactions.advance(self, connector, entry, moment, seconds, min(share_kw, limit_kw))
            if entry["status"] != entry["reported"]:
                self.report_status(connector, moment, entry.pop("errorCode", "NoError"))
        last = self.state["lastHeartbeat"]
        if last is None or (moment - at(last)).total_seconds() >= self.state["heartbeatInterval"]:
            self.send("Heartbeat", {})
            self.state["lastHeartbeat"] = iso(moment)

    def reboot(self) -> None:
        """A Reset accepted: the transport closes the connection, reconnects, then calls `reconnected` (the bus
        has no connection: the simulator boots it at once)."""
        self.state["boot"] = "rebooting"

    def report_changes(self) -> None:
        """Statuses a command changed, reported now rather than at the next step."""
        for connector, entry in self.state["connectors"].items():
            if entry["status"] != entry["reported"]:
                self.report_status(connector, self.moment)
