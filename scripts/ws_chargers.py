"""N simulated chargers as real OCPP 1.6J clients over WebSocket, against any central system.

    python -m scripts.ws_chargers --url ws://127.0.0.1:9000/ocpp --count 10 [--speed 20] [--duration 60]

Each charger is chalicelib.simulator's Charger (cars arriving, charging curves, faults), with the
socket as its transport: it sends one CALL at a time and feeds each answer straight back to
Charger.receive. It also answers the central system's commands the way a charger does
(RemoteStart -> Accepted, then Authorize and StartTransaction; RemoteStop -> Accepted, then
StopTransaction; Reset -> Accepted, stop, reconnect and boot again). It never imports the central system.
Prints a JSON summary (calls, answers, messages per second) at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from chalicelib import ocpp_frames, simulator

CALL_TIMEOUT_SECONDS = 30
READ_WRITE_KEYS = ("HeartbeatInterval",)


class Refused(Exception):
    """A central-system CALL this charger answers with a CALLERROR."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code


class WireCharger(simulator.Charger):
    """The simulator's charger, plus what a charger does when the central system calls it."""

    def on_call(self, action: str, payload: dict, moment: datetime) -> dict:
        handler = {
            "RemoteStartTransaction": self._remote_start,
            "RemoteStopTransaction": self._remote_stop,
            "Reset": self._reset,
            "ChangeAvailability": self._change_availability,
            "UnlockConnector": self._unlock,
            "TriggerMessage": self._trigger,
            "ChangeConfiguration": self._change_configuration,
            "GetConfiguration": self._get_configuration,
        }.get(action)
        if handler is None:
            code = "NotSupported" if action in ocpp_frames.CENTRAL_SYSTEM_ACTIONS else "NotImplemented"
            raise Refused(code, f"{action} is not supported by this simulated charger")
        return handler(payload, moment)

    def _connectors_with_tx(self) -> dict[str, dict]:
        return {c: e for c, e in self.state["connectors"].items() if e["tx"]}

    def _remote_start(self, payload: dict, moment: datetime) -> dict:
        connectors = self.state["connectors"]
        wanted = (
            str(payload["connectorId"])
            if "connectorId" in payload
            else next((c for c, e in connectors.items() if e["status"] == "Available"), None)
        )
        if self.state["boot"] != "accepted" or wanted not in connectors or connectors[wanted]["status"] != "Available":
            return {"status": "Rejected"}
        # A driver is plugged in already: the car arrives at once with the remote idTag.
        self._arrive_silently(wanted, moment)
        connectors[wanted].update(
            status="Preparing", idTag=payload["idTag"], until=simulator._iso(moment + timedelta(seconds=5))
        )
        self._send("Authorize", {"idTag": payload["idTag"]})
        return {"status": "Accepted"}

    def _remote_stop(self, payload: dict, moment: datetime) -> dict:
        for connector, entry in self._connectors_with_tx().items():
            if entry["tx"]["txId"] == payload["transactionId"]:
                self._stop(connector, moment, "Remote")
                return {"status": "Accepted"}
        return {"status": "Rejected"}

    def _reset(self, payload: dict, moment: datetime) -> dict:
        for connector in self._connectors_with_tx():
            self._stop(connector, moment, "HardReset" if payload["type"] == "Hard" else "SoftReset")
        self.state["boot"] = "rebooting"  # the client closes the socket, reconnects and boots
        return {"status": "Accepted"}

    def _change_availability(self, payload: dict, moment: datetime) -> dict:
        connectors = self.state["connectors"]
        chosen = list(connectors) if payload["connectorId"] == 0 else [str(payload["connectorId"])]
        if any(c not in connectors for c in chosen):
            return {"status": "Rejected"}
        target = "Unavailable" if payload["type"] == "Inoperative" else "Available"
        idle = [c for c in chosen if connectors[c]["status"] in ("Available", "Unavailable")]
        for connector in idle:
            connectors[connector]["status"] = target  # reported by the next tick's StatusNotification
        return {"status": "Accepted" if len(idle) == len(chosen) else "Scheduled"}

    def _unlock(self, payload: dict, moment: datetime) -> dict:
        connector = str(payload["connectorId"])
        if connector not in self.state["connectors"]:
            return {"status": "NotSupported"}
        if self.state["connectors"][connector]["tx"]:
            self._stop(connector, moment, "UnlockCommand")
        return {"status": "Unlocked"}

    def _trigger(self, payload: dict, moment: datetime) -> dict:
        try:
            self.force(payload["requestedMessage"], moment)
        except simulator.NotPossible:
            return {"status": "Rejected"}
        return {"status": "Accepted"}

    def _configuration(self) -> dict[str, tuple[str, bool]]:
        return {
            "HeartbeatInterval": (str(self.state["heartbeatInterval"]), False),
            "MeterValueSampleInterval": (str(simulator.SAMPLE_SECONDS), True),
            "NumberOfConnectors": (str(len(self.state["connectors"])), True),
        }

    def _change_configuration(self, payload: dict, moment: datetime) -> dict:
        known = self._configuration()
        if payload["key"] not in known:
            return {"status": "NotSupported"}
        if payload["key"] not in READ_WRITE_KEYS or not payload["value"].isdigit() or int(payload["value"]) < 1:
            return {"status": "Rejected"}
        self.state["heartbeatInterval"] = int(payload["value"])
        return {"status": "Accepted"}

    def _get_configuration(self, payload: dict, moment: datetime) -> dict:
        known = self._configuration()
        wanted = payload.get("key") or list(known)
        return {
            "configurationKey": [
                {"key": k, "value": known[k][0], "readonly": known[k][1]} for k in wanted if k in known
            ],
            **({"unknownKey": unknown} if (unknown := [k for k in wanted if k not in known]) else {}),
        }


class WsCharger:
    """One simulated charger's life on a socket: ticks, one CALL at a time, commands answered."""

    def __init__(
        self,
        charge_point_id: str,
        number: int,
        url: str,
        speed: float,
        seed: int,
        counts: Counter,
        password: str | None = None,
    ) -> None:
        self.id, self.url, self.speed, self.seed, self.counts = charge_point_id, url.rstrip("/"), speed, seed, counts
        self.state = simulator.new_charger(
            charge_point_id, number, ocpp_frames.now(), random.Random(f"{seed}:{charge_point_id}:new")
        )
        self.outbox: list[simulator.Outgoing] = []
        self.waiting: tuple[str, asyncio.Future] | None = None
        self.ws: ClientConnection | None = None
        self.headers = (
            {"Authorization": "Basic " + base64.b64encode(f"{charge_point_id}:{password}".encode()).decode()}
            if password
            else {}
        )

    def charger(self) -> WireCharger:
        """A Charger over this charger's state, sending into the shared outbox."""
        rng = random.Random(f"{self.seed}:{self.id}:{self.state['clock']}#{self.state['seq']}")
        charger = WireCharger(self.state, rng, self.speed)
        charger.out = self.outbox
        return charger

    async def run(self, until: float, tick_seconds: float) -> None:
        while time.monotonic() < until:
            try:
                async with connect(
                    f"{self.url}/{self.id}", subprotocols=["ocpp1.6"], additional_headers=self.headers, open_timeout=30
                ) as ws:
                    self.ws = ws
                    self.counts["connections"] += 1
                    reader = asyncio.create_task(self._read())
                    try:
                        await self._live(until, tick_seconds)
                        await self._flush()  # what the last tick (or a reset) still has to say
                    finally:
                        reader.cancel()
                    if self.state["boot"] == "rebooting":
                        self.state["boot"] = "new"
                        continue
                return
            except (TimeoutError, OSError, ConnectionClosed):
                self.counts["reconnects"] += 1
                await asyncio.sleep(1)

    async def _live(self, until: float, tick_seconds: float) -> None:
        while time.monotonic() < until and self.state["boot"] != "rebooting":
            charger = self.charger()
            now = ocpp_frames.now()
            elapsed = min((now - simulator._at(self.state["wall"])).total_seconds(), simulator.MAX_CATCH_UP_SECONDS)
            charger.run_until(simulator._at(self.state["clock"]) + timedelta(seconds=max(elapsed, 0) * self.speed))
            self.state["wall"] = simulator._iso(now)
            await self._flush()
            await asyncio.sleep(tick_seconds)

    async def _flush(self) -> None:
        """Send what the charger has to say, one CALL at a time, each answer fed back to the charger
        (which may add more frames: the announcements after a boot, queued transaction messages)."""
        while self.outbox:
            frame = self.outbox.pop(0).frame
            answer = await self._call(frame)
            if answer is not None:
                self.charger().receive(frame[1], answer, simulator._at(self.state["clock"]))

    async def _call(self, frame: list) -> list | None:
        future = asyncio.get_running_loop().create_future()
        self.waiting = (frame[1], future)
        await self.ws.send(json.dumps(frame, separators=(",", ":")))
        self.counts["calls"] += 1
        self.counts[f"call:{frame[2]}"] += 1
        try:
            answer = await asyncio.wait_for(future, CALL_TIMEOUT_SECONDS)
        except TimeoutError:
            self.counts["unanswered"] += 1
            return None
        self.counts["answers" if answer[0] == ocpp_frames.CALLRESULT else "callErrors"] += 1
        return answer

    async def _read(self) -> None:
        async for message in self.ws:
            frame = json.loads(message)
            if frame[0] in (ocpp_frames.CALLRESULT, ocpp_frames.CALLERROR):
                if self.waiting and self.waiting[0] == frame[1] and not self.waiting[1].done():
                    self.waiting[1].set_result(frame)
                else:
                    self.counts["unexpectedAnswers"] += 1
            elif frame[0] == ocpp_frames.CALL:
                await self.ws.send(json.dumps(self._answer_command(frame), separators=(",", ":")))

    def _answer_command(self, frame: list) -> list:
        self.counts["commands"] += 1
        _, unique_id, action, payload = frame
        try:
            return ocpp_frames.call_result(
                unique_id, self.charger().on_call(action, payload, simulator._at(self.state["clock"]))
            )
        except Refused as refused:
            return ocpp_frames.call_error(unique_id, refused.code, str(refused))
        except (KeyError, TypeError, ValueError) as error:
            return ocpp_frames.call_error(unique_id, "FormatViolation", f"{action}: {error!r}")


async def run_fleet(
    url: str,
    count: int,
    prefix: str = "CP-WS-",
    speed: float = 1.0,
    duration: float = 60.0,
    tick_seconds: float = 1.0,
    seed: int = 1,
    password: str | None = None,
) -> dict[str, Any]:
    """Run `count` chargers for `duration` seconds (then let each finish its conversation); returns the counts."""
    counts: Counter = Counter()
    chargers = [WsCharger(f"{prefix}{n:04d}", n, url, speed, seed, counts, password) for n in range(1, count + 1)]
    started = time.monotonic()
    await asyncio.gather(*(c.run(started + duration, tick_seconds) for c in chargers))
    elapsed = time.monotonic() - started
    zeros = dict.fromkeys(
        ("calls", "answers", "callErrors", "unanswered", "unexpectedAnswers", "commands", "connections", "reconnects"),
        0,
    )
    return {
        "chargers": count,
        "seconds": round(elapsed, 1),
        **zeros,
        **counts,
        "callsPerSecond": round(counts["calls"] / elapsed, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url", default="ws://127.0.0.1:9000/ocpp", help="the central system's OCPP URL, without the id"
    )
    parser.add_argument("--count", type=int, default=10, help="how many chargers")
    parser.add_argument("--prefix", default="CP-WS-", help="charge point ids are PREFIX0001, PREFIX0002, ...")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    parser.add_argument(
        "--duration", type=float, default=3600 * 24 * 365, help="seconds to run (default: until Ctrl-C)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--password", help="HTTP Basic password (security profile 1), the same for every charger")
    args = parser.parse_args(argv)
    try:
        summary = asyncio.run(
            run_fleet(
                args.url, args.count, args.prefix, args.speed, args.duration, seed=args.seed, password=args.password
            )
        )
    except KeyboardInterrupt:
        return
    print(json.dumps(summary), file=sys.stdout)


if __name__ == "__main__":
    main()
