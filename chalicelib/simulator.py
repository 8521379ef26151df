"""Simulated OCPP 1.6 charge points. They meet the central system only through OCPP messages on the bus.

Each charger lives in real time: a tick advances it by the wall-clock time since its last tick (times
SIMULATOR_SPEED), stepping through cars arriving, authorizing, charging along their charging curve,
pausing, leaving, and the odd fault. Its memory (meter registers, cars, pending calls) is kept in the
simulator table between ticks.

Answers come back asynchronously: the central system publishes them on the bus, and the simulator's
inbox handler has the charger react as soon as one arrives, as a real charger does: a boot accepted, it
sends its charger information and every connector's status; a StartTransaction answered, the messages it
queued for that transaction go out. The answer is filed under the charger and its uniqueId first, so it
is never lost: while a tick or another reaction holds the simulator's lease the answer waits on the lease
and that holder has the charger react before it lets go, and should that fail the charger's next tick
reads it. An answer nothing waits for (late, or delivered twice) changes nothing. Until a
StartTransaction is answered the charger queues that transaction's MeterValues and StopTransaction, as
real chargers do, and sends them, in order, once it knows the transactionId. The in-process bus offline
follows the same path, so both behave alike.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib import events, ocpp_frames, storage
from chalicelib import settings as settings_module

DEMO_PROFILES = (
    {
        "location": "Demo Location 1",
        "model": "FastCharge Pro",
        "vendor": "EV Solutions Inc",
        "connectors": 2,
        "maxPower": 50,
    },
    {
        "location": "Demo Location 2",
        "model": "CityCharge AC22",
        "vendor": "EV Solutions Inc",
        "connectors": 2,
        "maxPower": 22,
    },
    {
        "location": "Demo Location 3",
        "model": "HyperCharge 150",
        "vendor": "EV Solutions Inc",
        "connectors": 1,
        "maxPower": 150,
    },
)
# Typical cars: capacity, the most they take, and their charging curve as (SoC %, share of max power).
CARS = (
    {"model": "City 40", "capacityKwh": 40, "maxKw": 11, "curve": [[0, 1.0], [75, 1.0], [100, 0.3]]},
    {"model": "Family 77", "capacityKwh": 77, "maxKw": 22, "curve": [[0, 1.0], [80, 1.0], [100, 0.4]]},
    {"model": "Tourer 90", "capacityKwh": 90, "maxKw": 150, "curve": [[0, 1.0], [50, 0.85], [80, 0.45], [100, 0.1]]},
)
FAULT_CODES = ("GroundFailure", "HighTemperature", "PowerSwitchFailure", "OverCurrentFailure")
SAMPLE_SECONDS = 60  # MeterValueSampleInterval: real chargers use 10-60 s
MEAN_IDLE_SECONDS = 15 * 60
MEAN_SECONDS_BETWEEN_FAULTS = 8 * 3600
PAUSE_CHANCE_PER_HOUR = 0.3
RESEND_AFTER_SECONDS = 300
MAX_CATCH_UP_SECONDS = 15 * 60
LEASE = "#tick-lease"
LEASE_SECONDS = 120
LEASE_TRIES = 5  # an answer's inbox, between taking the lease and waiting on it, when it keeps changing hands
FORCEABLE = (
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "MeterValues",
    "Authorize",
    "StartTransaction",
    "StopTransaction",
    "DataTransfer",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
)


class TickBusy(RuntimeError):
    """Another tick holds the lease."""


class UnknownChargePoint(LookupError):
    pass


class NotPossible(ValueError):
    """The charger cannot send that message in its present state."""


class UnknownMessageType(ValueError):
    pass


def fleet_ids(size: int) -> list[str]:
    return [f"CP-DEMO-{n:03d}" for n in range(1, size + 1)]


def reply_key(charge_point_id: str, unique_id: str) -> str:
    return f"{charge_point_id}#reply#{unique_id}"


def _iso(moment: datetime) -> str:
    return ocpp_frames.format_timestamp(moment)


def _at(value: str) -> datetime:
    return ocpp_frames.parse_timestamp(value)


def new_charger(charge_point_id: str, number: int, now: datetime, rng: random.Random) -> dict:
    profile = DEMO_PROFILES[(number - 1) % len(DEMO_PROFILES)]
    connectors = {
        str(c): {
            "status": "Available",
            "reported": None,
            "meterWh": rng.randint(100_000, 2_000_000),
            "nextArrival": _iso(now + timedelta(seconds=rng.uniform(5, 40))),
            "car": None,
            "tx": None,
            "until": None,
            "faultReturn": None,
            "lastSample": None,
        }
        for c in range(1, profile["connectors"] + 1)
    }
    return {
        "id": charge_point_id,
        "profile": profile,
        "clock": _iso(now),
        "wall": _iso(now),
        "seq": 0,
        "boot": "new",
        "heartbeatInterval": 60,
        "lastHeartbeat": None,
        "awaiting": {},
        "unfinished": {},
        "connectors": connectors,
    }


@dataclass
class Outgoing:
    """A frame a charger sends, stamped with the moment it was produced."""

    charge_point_id: str
    frame: list


class Charger:
    """One simulated charge point, over its stored state, for one tick."""

    def __init__(self, state: dict, rng: random.Random, speed: float) -> None:
        self.state = state
        self.rng = rng
        self.speed = speed
        self.out: list[Outgoing] = []
        self._wall_start = _at(state["wall"])
        self._clock_start = _at(state["clock"])

    # -- sending ----------------------------------------------------------------------------------

    def _wall(self, moment: datetime) -> datetime:
        """Simulated time mapped onto the wall clock: at SIMULATOR_SPEED k, k simulated seconds pass
        in one real second, and messages carry real times so the central system sees no clock skew."""
        return self._wall_start + (moment - self._clock_start) / self.speed

    def _send(self, action: str, payload: dict, awaited: dict | None = None) -> str:
        self.state["seq"] += 1
        unique_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        ocpp_frames.validate(ocpp_frames.CALL, action, payload)
        self.out.append(Outgoing(self.state["id"], [ocpp_frames.CALL, unique_id, action, payload]))
        if awaited is not None:
            self.state["awaiting"][unique_id] = awaited
        return unique_id

    def _boot(self, moment: datetime) -> None:
        profile = self.state["profile"]
        self.state["boot"] = "sent"
        self._send(
            "BootNotification",
            {
                "chargePointVendor": profile["vendor"],
                "chargePointModel": profile["model"],
                "chargePointSerialNumber": f"SN-{self.state['id']}",
                "firmwareVersion": "1.6.4",
            },
            {"action": "BootNotification", "sentAt": _iso(moment)},
        )

    def _status(self, connector: str, moment: datetime, error_code: str = "NoError") -> None:
        entry = self.state["connectors"][connector]
        self._send(
            "StatusNotification",
            {
                "connectorId": int(connector),
                "status": entry["status"],
                "errorCode": error_code,
                "timestamp": _iso(self._wall(moment)),
            },
        )
        entry["reported"] = entry["status"]

    def _meter_payload(self, connector: str, moment: datetime, power_w: float) -> dict:
        entry = self.state["connectors"][connector]
        sampled = [
            {
                "value": str(entry["meterWh"]),
                "context": "Sample.Periodic",
                "measurand": "Energy.Active.Import.Register",
                "location": "Outlet",
                "unit": "Wh",
            },
            {
                "value": f"{power_w:.0f}",
                "context": "Sample.Periodic",
                "measurand": "Power.Active.Import",
                "location": "Outlet",
                "unit": "W",
            },
        ]
        if entry["car"]:
            sampled.append(
                {
                    "value": f"{entry['car']['soc']:.1f}",
                    "context": "Sample.Periodic",
                    "measurand": "SoC",
                    "location": "EV",
                    "unit": "Percent",
                }
            )
        return {
            "connectorId": int(connector),
            "meterValue": [{"timestamp": _iso(self._wall(moment)), "sampledValue": sampled}],
        }

    def _transaction_message(self, connector: str, action: str, payload: dict) -> None:
        """Send now if the transactionId is known, otherwise queue until the answer arrives."""
        tx = self.state["connectors"][connector]["tx"]
        if tx["txId"] is None:
            tx["queue"].append([action, payload])
        else:
            self._send(action, {**payload, "transactionId": tx["txId"]})

    # -- answers ----------------------------------------------------------------------------------

    def receive(self, unique_id: str, frame: list, moment: datetime) -> None:
        awaited = self.state["awaiting"].pop(unique_id, None)
        if awaited is None:
            return
        payload = frame[2] if frame[0] == ocpp_frames.CALLRESULT else None
        if awaited["action"] == "BootNotification":
            if payload and payload["status"] == "Accepted":
                self.state["boot"] = "accepted"
                self.state["heartbeatInterval"] = payload["interval"] or 60
                self._announce(moment)
            else:
                self.state["boot"] = "refused"
                self.state["bootRetry"] = _iso(moment + timedelta(seconds=(payload or {}).get("interval") or 60))
        elif awaited["action"] == "StartTransaction":
            self._started(unique_id, payload, moment)

    def _announce(self, moment: datetime) -> None:
        """After an accepted boot: who it is (location, hardware) and every connector's status."""
        profile = self.state["profile"]
        self._send(
            "DataTransfer",
            {
                "vendorId": ocpp_frames.INFO_VENDOR_ID,
                "messageId": ocpp_frames.INFO_MESSAGE_ID,
                "data": json.dumps({k: profile[k] for k in ("location", "maxPower", "connectors")}),
            },
        )
        self._send(
            "StatusNotification",
            {"connectorId": 0, "status": "Available", "errorCode": "NoError", "timestamp": _iso(self._wall(moment))},
        )
        for connector in self.state["connectors"]:
            self._status(connector, moment)
        self.state["lastHeartbeat"] = _iso(moment)

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
            self._send(action, {**queued, "transactionId": tx["txId"]})
        tx["queue"] = []
        if payload["idTagInfo"]["status"] != "Accepted" and not finished:
            self._stop(str(tx["start"]["connectorId"]), moment, "DeAuthorized")

    # -- behaviour --------------------------------------------------------------------------------

    def run_until(self, target: datetime) -> None:
        moment = _at(self.state["clock"])
        if self.state["boot"] == "new" or (self.state["boot"] == "refused" and moment >= _at(self.state["bootRetry"])):
            self._boot(moment)
        while moment < target:
            step = min(timedelta(seconds=SAMPLE_SECONDS), target - moment)
            moment += step
            if self.state["boot"] == "accepted":
                self._live(moment, step.total_seconds())
        self._resend_unanswered(target)
        self.state["clock"] = _iso(target)

    def _resend_unanswered(self, moment: datetime) -> None:
        """No answer after a while: the message or its answer was lost. Send it again (a new uniqueId;
        the central system recognises a repeated StartTransaction by its content)."""
        for unique_id, awaited in list(self.state["awaiting"].items()):
            if (moment - _at(awaited["sentAt"])).total_seconds() < RESEND_AFTER_SECONDS:
                continue
            del self.state["awaiting"][unique_id]
            if awaited["action"] == "BootNotification":
                self._boot(moment)
            else:
                tx = self._find_tx(unique_id)
                if tx is not None:
                    tx["uid"] = self._send("StartTransaction", tx["start"], {**awaited, "sentAt": _iso(moment)})
                    if unique_id in self.state["unfinished"]:
                        self.state["unfinished"][tx["uid"]] = self.state["unfinished"].pop(unique_id)

    def _live(self, moment: datetime, seconds: float) -> None:
        connectors = self.state["connectors"]
        drawing = [c for c, e in connectors.items() if e["status"] == "Charging"]
        share_kw = self.state["profile"]["maxPower"] / max(len(drawing), 1)
        for connector, entry in connectors.items():
            self._advance_connector(connector, entry, moment, seconds, share_kw)
            if entry["status"] != entry["reported"]:
                self._status(connector, moment, entry.pop("errorCode", "NoError"))
        last = self.state["lastHeartbeat"]
        if last is None or (moment - _at(last)).total_seconds() >= self.state["heartbeatInterval"]:
            self._send("Heartbeat", {})
            self.state["lastHeartbeat"] = _iso(moment)

    def _advance_connector(
        self, connector: str, entry: dict, moment: datetime, seconds: float, share_kw: float
    ) -> None:
        status, until = entry["status"], entry["until"] and _at(entry["until"])
        if status == "Available":
            if self.rng.random() < seconds / MEAN_SECONDS_BETWEEN_FAULTS:
                entry.update(
                    status="Faulted",
                    faultReturn="Available",
                    errorCode=self.rng.choice(FAULT_CODES),
                    until=_iso(moment + timedelta(seconds=self.rng.uniform(120, 900))),
                )
            elif moment >= _at(entry["nextArrival"]):
                self._arrive(connector, moment)
        elif status == "Faulted" and moment >= until:
            entry.update(status=entry.pop("faultReturn") or "Available", until=None)
        elif status == "Preparing" and moment >= until:
            self._start(connector, moment)
        elif status in ("Charging", "SuspendedEV"):
            self._charge(connector, entry, moment, seconds, share_kw)
        elif status == "Finishing" and moment >= until:
            entry.update(
                status="Available",
                car=None,
                until=None,
                nextArrival=_iso(moment + timedelta(seconds=self.rng.expovariate(1 / MEAN_IDLE_SECONDS))),
            )

    def _arrive(self, connector: str, moment: datetime) -> None:
        car = dict(self.rng.choice(CARS))
        car.update(
            soc=round(self.rng.uniform(10, 50), 1),
            targetSoc=self.rng.choice([80, 90, 100]),
            departure=_iso(moment + timedelta(minutes=self.rng.uniform(20, 180))),
        )
        id_tag = f"DEMO-TAG-{self.rng.randint(1, 20):02d}"
        self.state["connectors"][connector].update(
            status="Preparing", car=car, idTag=id_tag, until=_iso(moment + timedelta(seconds=self.rng.uniform(15, 60)))
        )
        self._send("Authorize", {"idTag": id_tag})

    def _start(self, connector: str, moment: datetime) -> None:
        entry = self.state["connectors"][connector]
        start = {
            "connectorId": int(connector),
            "idTag": entry["idTag"],
            "meterStart": entry["meterWh"],
            "timestamp": _iso(self._wall(moment)),
        }
        unique_id = self._send("StartTransaction", start, {"action": "StartTransaction", "sentAt": _iso(moment)})
        entry.update(
            status="Charging",
            until=None,
            lastSample=_iso(moment),
            tx={"uid": unique_id, "txId": None, "start": start, "queue": []},
        )

    def _charge(self, connector: str, entry: dict, moment: datetime, seconds: float, share_kw: float) -> None:
        car = entry["car"]
        power_kw = 0.0
        if entry["status"] == "Charging":
            power_kw = min(share_kw, car["maxKw"] * _curve(car["curve"], car["soc"]))
            energy_wh = power_kw * 1000 * seconds * 1 / 3600
            entry["meterWh"] += round(energy_wh)
            car["soc"] = min(100.0, car["soc"] + energy_wh / 10 / car["capacityKwh"])
            if car["soc"] >= car["targetSoc"]:
                entry["status"] = "SuspendedEV"  # the car is full: it stops drawing, the driver is away
            elif self.rng.random() < PAUSE_CHANCE_PER_HOUR * seconds / 3600:
                entry.update(status="SuspendedEV", until=_iso(moment + timedelta(seconds=self.rng.uniform(60, 300))))
        elif entry["until"] and moment >= _at(entry["until"]) and car["soc"] < car["targetSoc"]:
            entry.update(status="Charging", until=None)
        if (moment - _at(entry["lastSample"])).total_seconds() >= SAMPLE_SECONDS:
            entry["lastSample"] = _iso(moment)
            self._transaction_message(connector, "MeterValues", self._meter_payload(connector, moment, power_kw * 1000))
        if moment >= _at(car["departure"]):
            self._stop(connector, moment, "EVDisconnected")

    def _stop(self, connector: str, moment: datetime, reason: str) -> None:
        entry = self.state["connectors"][connector]
        tx = entry["tx"]
        self._transaction_message(
            connector,
            "StopTransaction",
            {
                "idTag": entry["idTag"],
                "meterStop": entry["meterWh"],
                "timestamp": _iso(self._wall(moment)),
                "reason": reason,
            },
        )
        if tx["txId"] is None:
            # Its StopTransaction waits in the queue for the transactionId.
            self.state["unfinished"][tx["uid"]] = tx
        entry["tx"] = None
        self._leave(connector, moment)

    def _leave(self, connector: str, moment: datetime) -> None:
        self.state["connectors"][connector].update(
            status="Finishing", until=_iso(moment + timedelta(seconds=self.rng.uniform(10, 60)))
        )

    # -- on demand (POST /simulate with a messageType) --------------------------------------------

    def force(self, action: str, moment: datetime) -> None:
        connectors = self.state["connectors"]
        if action == "BootNotification":
            self._boot(moment)
        elif action == "Heartbeat":
            self._send("Heartbeat", {})
        elif action == "StatusNotification":
            self._status("1", moment)
        elif action == "Authorize":
            self._send("Authorize", {"idTag": f"DEMO-TAG-{self.rng.randint(1, 20):02d}"})
        elif action == "DataTransfer":
            profile = self.state["profile"]
            self._send(
                "DataTransfer",
                {
                    "vendorId": ocpp_frames.INFO_VENDOR_ID,
                    "messageId": ocpp_frames.INFO_MESSAGE_ID,
                    "data": json.dumps({k: profile[k] for k in ("location", "maxPower", "connectors")}),
                },
            )
        elif action in ("DiagnosticsStatusNotification", "FirmwareStatusNotification"):
            self._send(action, {"status": "Idle"})
        elif action == "StartTransaction":
            free = [c for c, e in connectors.items() if e["status"] == "Available"]
            if not free:
                raise NotPossible(f"{self.state['id']} has no Available connector to start a transaction on")
            self._arrive_silently(free[0], moment)
            self._start(free[0], moment)
        elif action == "MeterValues":
            known = [c for c, e in connectors.items() if e["tx"] and e["tx"]["txId"] is not None]
            if known:
                self._send(
                    "MeterValues",
                    {**self._meter_payload(known[0], moment, 0.0), "transactionId": connectors[known[0]]["tx"]["txId"]},
                )
            else:
                self._send("MeterValues", self._meter_payload("1", moment, 0.0))
        elif action == "StopTransaction":
            known = [c for c, e in connectors.items() if e["tx"] and e["tx"]["txId"] is not None]
            if not known:
                raise NotPossible(f"{self.state['id']} has no transaction with a known transactionId to stop")
            self._stop(known[0], moment, "Local")

    def _arrive_silently(self, connector: str, moment: datetime) -> None:
        car = dict(self.rng.choice(CARS))
        car.update(soc=30.0, targetSoc=90, departure=_iso(moment + timedelta(minutes=60)))
        self.state["connectors"][connector].update(car=car, idTag="DEMO-TAG-01")


def _curve(points: list[list[float]], soc: float) -> float:
    """Linear interpolation of the car's charging curve at this SoC."""
    for (soc_a, share_a), (soc_b, share_b) in zip(points, points[1:]):
        if soc <= soc_b:
            return share_a + (share_b - share_a) * (soc - soc_a) / (soc_b - soc_a)
    return points[-1][1]


# --- the fleet -----------------------------------------------------------------------------------


def _rng(settings: settings_module.Settings, charge_point_id: str, moment: str) -> random.Random:
    """Seeded: the same seed, charger and state give the same behaviour, so a simulated day repeats
    (and a tick replayed after a failed save sends the very same messages, which the central system
    recognises)."""
    if settings.simulator_seed is None:
        return random.Random()
    return random.Random(f"{settings.simulator_seed}:{charge_point_id}:{moment}")


def _load(ids: list[str], now: datetime, settings: settings_module.Settings) -> tuple[dict[str, dict], dict[str, dict]]:
    items = storage.load_simulator_items(ids)
    states = {}
    for number, charge_point_id in enumerate(ids, start=1):
        item = items.get(charge_point_id)
        states[charge_point_id] = (
            json.loads(item["state"])
            if item
            else new_charger(charge_point_id, number, now, _rng(settings, charge_point_id, "new"))
        )
    wanted = [reply_key(cp, uid) for cp, state in states.items() for uid in state["awaiting"]]
    replies = storage.load_simulator_items(wanted) if wanted else {}
    return states, replies


def run_tick(
    now: datetime | None = None, charge_point_id: str | None = None, message_type: str | None = None
) -> list[dict]:
    """One tick: every charger of the fleet lives until now, or one charger sends one message type.
    Returns every frame it published, as {"chargePointId", "message"}."""
    settings = settings_module.get()
    now = now or ocpp_frames.now()
    ids = fleet_ids(settings.fleet_size)
    if charge_point_id is not None:
        if charge_point_id not in ids:
            raise UnknownChargePoint(
                f"{charge_point_id} is not a simulated charge point (fleet: {ids[0]}..{ids[-1]})"
                if ids
                else "the simulated fleet is empty (FLEET_SIZE=0)"
            )
        if message_type not in FORCEABLE:
            raise UnknownMessageType(f"messageType must be one of {', '.join(FORCEABLE)}")
        ids = [charge_point_id]
    holder = _take_lease()
    if holder is None:
        raise TickBusy("a simulator tick is already running")
    sent: list[Outgoing] = []
    with _holding(holder):
        states, replies = _load(ids, now, settings)
        consumed: list[str] = []
        for state in states.values():
            sent += _tick_charger(state, replies, now, settings, message_type, consumed)
        _publish_and_save(sent, states, consumed, now)
    return [{"chargePointId": out.charge_point_id, "message": out.frame} for out in sent]


def _take_lease() -> str | None:
    """The simulator's lease (one tick or reaction at a time): its holder id, or None when it is taken."""
    holder = str(uuid.uuid4())
    return holder if storage.acquire_lease(LEASE, holder, time.time(), LEASE_SECONDS) else None


@contextmanager
def _holding(holder: str) -> Iterator[None]:
    """Work under the lease. Before letting go, the chargers react to the answers that waited on it."""
    try:
        yield
        while waiting := storage.release_lease(LEASE, holder):
            _react(waiting)
    except BaseException:
        storage.give_up_lease(LEASE, holder)
        raise


def _publish_and_save(sent: list[Outgoing], states: dict[str, dict], deletes: list[str], now: datetime | None) -> None:
    """Publish first, then save: a save that fails leaves the state as it was, and the seeded replay sends
    the very same messages, which the central system recognises."""
    events.publish(_entries(sent, states, now))
    storage.save_simulator_items(
        [{"pk": cp, "state": json.dumps(state)} for cp, state in states.items()], deletes=deletes
    )


def _entries(sent: list[Outgoing], states: dict[str, dict], now: datetime | None) -> list[dict]:
    """The bus events for what the chargers sent. A charger sends one message after another: each gets its
    own millisecond after the charger's previous one, so that the central system can tell a redelivered
    older message from the latest one of the charger. A tick's start at now; a reaction (now None) follows
    the charger's last message."""
    entries = []
    for out in sent:
        state = states[out.charge_point_id]
        sent_at = now or _at(state["wall"])
        if state.get("sentAt"):
            sent_at = max(sent_at, _at(state["sentAt"]) + timedelta(milliseconds=1))
        state["sentAt"] = _iso(sent_at)
        entries.append(events.call_entry(out.charge_point_id, out.frame, sent_at))
    return entries


def _tick_charger(
    state: dict,
    replies: dict[str, dict],
    now: datetime,
    settings: settings_module.Settings,
    message_type: str | None,
    consumed: list[str],
) -> list[Outgoing]:
    """One charger's tick: the answers filed for it (those no reaction took), then its life until now. A
    forced message is sent alone."""
    charger = _charger(state, settings)
    moment = _at(state["clock"])
    if message_type:
        charger.force(message_type, moment)
    else:
        _read_answers(charger, replies, consumed, settings)
        elapsed = min((now - _at(state["wall"])).total_seconds(), MAX_CATCH_UP_SECONDS)
        charger.run_until(moment + timedelta(seconds=max(elapsed, 0) * settings.simulator_speed))
        state["wall"] = _iso(now)
    return charger.out


def _charger(state: dict, settings: settings_module.Settings) -> Charger:
    return Charger(state, _rng(settings, state["id"], f"{state['clock']}#{state['seq']}"), settings.simulator_speed)


def _read_answers(
    charger: Charger, filed: dict[str, dict], consumed: list[str], settings: settings_module.Settings
) -> None:
    """The charger reacts to each filed answer to a message it still waits for, at its present moment."""
    state = charger.state
    for unique_id in list(state["awaiting"]):
        answer = filed.get(reply_key(state["id"], unique_id))
        if answer:
            # A random stream per answer: the same reaction whether answers come one by one or together.
            charger.rng = _rng(settings, state["id"], f"{state['clock']}#{state['seq']}")
            charger.receive(unique_id, json.loads(answer["message"]), _at(state["clock"]))
            consumed.append(answer["pk"])


def receive_reply(detail: dict) -> None:
    """The simulator's inbox: the charger reacts to the central system's answer now (see the module's
    docstring). Taking turns with ticks and other reactions on the lease; after LEASE_TRIES hand-overs in
    a row the answer stays filed for the charger's next tick."""
    key = reply_key(detail["chargePointId"], detail["messageId"])
    storage.put_simulator_item(
        {"pk": key, "message": json.dumps(detail["message"]), "expiresAt": int(time.time()) + 86400}
    )
    for _ in range(LEASE_TRIES):
        holder = _take_lease()
        if holder is not None:
            with _holding(holder):
                _react([key])
            return
        if storage.wait_on_lease(LEASE, key, time.time()):
            return


def _react(keys: list[str]) -> None:
    """Under the lease: the chargers react to the answers filed under these keys. Every key is dropped
    afterwards: an answer nothing waits for any more (late, or delivered twice) changes nothing."""
    settings = settings_module.get()
    ids = sorted({key.split("#", 1)[0] for key in keys})
    filed = storage.load_simulator_items([*ids, *keys])
    reacted: dict[str, dict] = {}
    sent: list[Outgoing] = []
    consumed: list[str] = []
    for charge_point_id in ids:
        if charge_point_id not in filed:
            continue
        charger = _charger(json.loads(filed[charge_point_id]["state"]), settings)
        answered = len(consumed)
        _read_answers(charger, filed, consumed, settings)
        if len(consumed) > answered:
            reacted[charge_point_id] = charger.state
            sent += charger.out
    _publish_and_save(sent, reacted, sorted(set(keys)), None)
