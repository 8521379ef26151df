"""N simulated chargers as real OCPP 1.6J clients over WebSocket, against any central system.

    python -m scripts.ws_chargers --url ws://127.0.0.1:9000/ocpp --count 10 [--speed 20] [--duration 60]
        [--meter-interval 300]

Each charger is chalicelib.simulated_charger's Charger (cars arriving, charging curves, faults), with the
socket as its transport: it sends one CALL at a time and feeds each answer straight back to
Charger.receive, and answers the central system's commands with chalicelib.charger_commands (RemoteStart
-> Accepted, then Authorize and StartTransaction; RemoteStop -> Accepted, then StopTransaction; Reset ->
Accepted, stop, reconnect and boot again). It never imports the central system. The heartbeat interval is
the central system's (its BootNotification answer); the meter interval is each charger's
MeterValueSampleInterval (--meter-interval; a ChangeConfiguration may change it).
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
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from chalicelib import charger_commands, charger_model, ocpp_frames
from chalicelib.simulated_charger import Charger, Outgoing

CALL_TIMEOUT_SECONDS = 30
# A charger that loses its socket tries again after this many seconds, doubling up to the last (unless the
# central system's refusal says when: Retry-After).
BACK_OFF_SECONDS = (1, 2, 4, 8, 16, 30)


class Dropped(Exception):
    """The reconnect storm has dropped this charger's socket."""


class Fleet:
    """What the chargers of one run share: the counts, every answer's latency, when it ends (monotonic) and
    when its reconnect storm starts (None: none).

    With `hold`, the run ends `hold` seconds after the last charger's first boot was accepted; with `storm`
    as well, every socket drops then, and the run goes on `storm_spread` + `after` seconds."""

    def __init__(
        self,
        count: int,
        until: float,
        hold: float | None = None,
        storm: bool = False,
        storm_spread: float = 60.0,
        after: float = 60.0,
    ) -> None:
        self.count, self.until, self.hold, self.storm, self.after = count, until, hold, storm, after
        self.counts: Counter = Counter()
        self.latencies: list[float] = []
        self.booted: set[str] = set()
        self.last_boot: float | None = None
        self.started: set[int] = set()  # transactionIds given, and those whose StopTransaction was answered
        self.stopped: set[int] = set()
        self.storm_at: float | None = None
        self.storm_spread = storm_spread
        self.storm_waits: list[float] = []

    def booted_one(self, charge_point_id: str) -> None:
        if charge_point_id in self.booted:
            return
        self.booted.add(charge_point_id)
        if len(self.booted) < self.count:
            return
        self.last_boot = time.monotonic()
        if self.hold is None:
            return
        if self.storm:
            self.storm_at = self.last_boot + self.hold
        after = self.storm_spread + self.after if self.storm else 0
        self.until = min(self.until, self.last_boot + self.hold + after)


class WsCharger:
    """One simulated charger's life on a socket: ticks, one CALL at a time, commands answered."""

    def __init__(
        self,
        charge_point_id: str,
        number: int,
        url: str,
        speed: float,
        seed: int,
        fleet: Fleet,
        password: str | None = None,
        meter_interval: int = charger_model.SAMPLE_SECONDS,
    ) -> None:
        self.id, self.url, self.speed, self.seed = charge_point_id, url.rstrip("/"), speed, seed
        self.fleet, self.counts = fleet, fleet.counts
        self.state = charger_model.new_charger(
            charge_point_id, number, ocpp_frames.now(), random.Random(f"{seed}:{charge_point_id}:new")
        )
        self.state.setdefault("configuration", {})["MeterValueSampleInterval"] = str(meter_interval)
        self.outbox: list[Outgoing] = []
        self.waiting: tuple[str, asyncio.Future] | None = None
        self.ws: ClientConnection | None = None
        self.headers = (
            {"Authorization": "Basic " + base64.b64encode(f"{charge_point_id}:{password}".encode()).decode()}
            if password
            else {}
        )
        self.storm_offset = random.Random(f"{seed}:{charge_point_id}:storm").uniform(0, 1)
        self.stormed = False

    def charger(self) -> Charger:
        """A Charger over this charger's state, sending into the shared outbox."""
        rng = random.Random(f"{self.seed}:{self.id}:{self.state['clock']}#{self.state['seq']}")
        return Charger(self.state, rng, self.speed, self.outbox)

    async def run(self, tick_seconds: float) -> None:
        failures, reconnect_after, told_when, slot_kept = 0, None, False, False
        # A charger the storm dropped connects again, whenever the run ends: it has something to finish.
        while time.monotonic() < self.fleet.until or reconnect_after is not None:
            try:
                async with connect(
                    f"{self.url}/{self.id}", subprotocols=["ocpp1.6"], additional_headers=self.headers, open_timeout=30
                ) as ws:
                    self.ws, failures, told_when = ws, 0, False
                    self.counts["connections"] += 1
                    if self.state["boot"] == "new":
                        # Switched on now: the minutes it waited to be admitted are not lived (and its
                        # BootNotification not resent for them) before it has said a word.
                        self.state["clock"] = self.state["wall"] = ocpp_frames.format_timestamp(ocpp_frames.now())
                    if reconnect_after is not None:
                        self.fleet.storm_waits.append(time.monotonic() - reconnect_after)
                        self.counts["stormReconnected"] += 1
                        reconnect_after = None
                    reader = asyncio.create_task(self._read())
                    try:
                        await self._live(tick_seconds)
                        await self._flush()  # what the last tick (or a reset) still has to say
                    finally:
                        reader.cancel()
                    if self.charger().rebooting:
                        self.charger().reconnected()
                        continue
                return
            except Dropped:
                reconnect_after = await self._storm()
            except InvalidStatus as refused:
                self.counts["refusals"] += 1
                self.counts["stormRefusals"] += reconnect_after is not None
                # Refused again after waiting the Retry-After it was told: longer than its back-off; and
                # of those, the ones whose slot the gateway had said it kept (a broken promise).
                self.counts["refusedAfterBackOff"] += told_when
                self.counts["refusedAfterKeptSlot"] += told_when and slot_kept
                retry_after = refused.response.headers.get("Retry-After", "")
                told_when = retry_after.isdigit()
                slot_kept = b"your slot is kept" in (refused.response.body or b"")
                await asyncio.sleep(int(retry_after) if retry_after.isdigit() else self._back_off(failures))
                failures += 1
            except (TimeoutError, OSError, ConnectionClosed, InvalidHandshake):
                self.counts["reconnects"] += 1
                await asyncio.sleep(self._back_off(failures))
                failures += 1

    def _back_off(self, failures: int) -> float:
        return BACK_OFF_SECONDS[min(failures, len(BACK_OFF_SECONDS) - 1)]

    async def _storm(self) -> float:
        """The socket has been dropped (as a network failure does: no closing handshake); the charger waits a
        random moment within the storm's spread, then connects again. Returns when it starts trying: the
        time from then to its socket is its wait (refusals, back-offs and handshake)."""
        self.stormed = True
        self.counts["stormDropped"] += 1
        await asyncio.sleep(random.Random(f"{self.seed}:{self.id}:back").uniform(0, self.fleet.storm_spread))
        return time.monotonic()

    def _storm_due(self) -> bool:
        storm_at = self.fleet.storm_at
        return storm_at is not None and not self.stormed and time.monotonic() >= storm_at + self.storm_offset

    async def _live(self, tick_seconds: float) -> None:
        while time.monotonic() < self.fleet.until and not self.charger().rebooting:
            if self._storm_due() and self.ws is not None:
                self.ws.transport.abort()
                raise Dropped
            self.charger().catch_up(ocpp_frames.now())
            await self._flush()
            await asyncio.sleep(tick_seconds)

    async def _flush(self) -> None:
        """Send what the charger has to say, one CALL at a time, each answer fed back to the charger
        (which may add more frames: the announcements after a boot, queued transaction messages)."""
        while self.outbox:
            frame = self.outbox[0].frame
            answer = await self._call(frame)
            self.outbox.pop(0)
            if answer is not None:
                self.charger().receive(frame[1], answer)
                self._tally(frame, answer)

    def _tally(self, frame: list, answer: list) -> None:
        if answer[0] != ocpp_frames.CALLRESULT:
            return
        if frame[2] == "BootNotification" and self.state["boot"] == "accepted":
            self.fleet.booted_one(self.id)
        elif frame[2] == "StartTransaction":
            self.fleet.started.add(answer[2]["transactionId"])
        elif frame[2] == "StopTransaction":
            self.fleet.stopped.add(frame[3]["transactionId"])

    async def _call(self, frame: list) -> list | None:
        """The answer, or None after CALL_TIMEOUT_SECONDS. A socket lost before the answer raises
        ConnectionClosed with the frame still first in the outbox: it is sent again on the next socket."""
        if self.ws is None:
            raise RuntimeError("no socket")
        future = asyncio.get_running_loop().create_future()
        self.waiting = (frame[1], future)
        sent = time.monotonic()
        await self.ws.send(json.dumps(frame, separators=(",", ":")))
        self.counts["calls"] += 1
        self.counts[f"call:{frame[2]}"] += 1
        try:
            answer = await asyncio.wait_for(future, CALL_TIMEOUT_SECONDS)
        except TimeoutError:
            self.counts["unanswered"] += 1
            return None
        except ConnectionClosed:
            self.counts["resent"] += 1
            raise
        self.fleet.latencies.append(time.monotonic() - sent)
        self.counts["answers" if answer[0] == ocpp_frames.CALLRESULT else "callErrors"] += 1
        return answer

    async def _read(self) -> None:
        if self.ws is None:
            return
        try:
            async for message in self.ws:
                frame = json.loads(message)
                if frame[0] in (ocpp_frames.CALLRESULT, ocpp_frames.CALLERROR):
                    if self.waiting and self.waiting[0] == frame[1] and not self.waiting[1].done():
                        self.waiting[1].set_result(frame)
                    else:
                        self.counts["unexpectedAnswers"] += 1
                elif frame[0] == ocpp_frames.CALL:
                    await self.ws.send(json.dumps(self._answer_command(frame), separators=(",", ":")))
        finally:
            if self.waiting and not self.waiting[1].done():
                self.waiting[1].set_exception(ConnectionClosed(None, None))

    def _answer_command(self, frame: list) -> list:
        self.counts["commands"] += 1
        return charger_commands.answer_frame(self.charger(), frame)


def _percentile_ms(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 1)


async def run_fleet(
    url: str,
    count: int,
    prefix: str = "CP-WS-",
    speed: float = 1.0,
    duration: float = 60.0,
    tick_seconds: float = 1.0,
    seed: int = 1,
    password: str | None = None,
    meter_interval: int = charger_model.SAMPLE_SECONDS,
    hold: float | None = None,
    reconnect_storm: bool = False,
    storm_spread: float = 60.0,
    after: float = 60.0,
) -> dict[str, Any]:
    """Run `count` chargers for `duration` seconds (then let each finish its conversation); returns the counts.
    With `hold`, it ends `hold` seconds after the last charger booted (see Fleet), after a reconnect storm if
    asked for."""
    started = time.monotonic()
    fleet = Fleet(count, started + duration, hold, reconnect_storm, storm_spread, after)
    chargers = [
        WsCharger(f"{prefix}{n:04d}", n, url, speed, seed, fleet, password, meter_interval) for n in range(1, count + 1)
    ]
    await asyncio.gather(*(c.run(tick_seconds) for c in chargers))
    elapsed = time.monotonic() - started
    zeros = dict.fromkeys(
        (
            "calls",
            "answers",
            "callErrors",
            "unanswered",
            "unexpectedAnswers",
            "commands",
            "connections",
            "reconnects",
            "refusals",
            "refusedAfterBackOff",
            "refusedAfterKeptSlot",
            "resent",
        ),
        0,
    )
    storm = {}
    if reconnect_storm:
        storm = {
            "stormDropped": fleet.counts["stormDropped"],
            "stormReconnected": fleet.counts["stormReconnected"],
            "stormRefusals": fleet.counts["stormRefusals"],
            "stormWaitMsP50": _percentile_ms(fleet.storm_waits, 0.5),
            "stormWaitMsMax": _percentile_ms(fleet.storm_waits, 1.0),
        }
    return {
        "chargers": count,
        "seconds": round(elapsed, 1),
        **zeros,
        **{key: value for key, value in fleet.counts.items() if not key.startswith("storm")},
        **storm,
        "transactionsStarted": len(fleet.started),
        "transactionsStopped": len(fleet.stopped),
        "callsPerSecond": round(fleet.counts["calls"] / elapsed, 1),
        "latencyMsP50": _percentile_ms(fleet.latencies, 0.5),
        "latencyMsP99": _percentile_ms(fleet.latencies, 0.99),
        "latencyMsMax": _percentile_ms(fleet.latencies, 1.0),
        "booted": len(fleet.booted),
        "lastBootSeconds": None if fleet.last_boot is None else round(fleet.last_boot - started, 1),
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
    parser.add_argument(
        "--meter-interval",
        type=int,
        default=charger_model.SAMPLE_SECONDS,
        help="each charger's MeterValueSampleInterval in seconds (the heartbeat interval is the central system's)",
    )
    parser.add_argument(
        "--tick", type=float, default=1.0, help="seconds between two looks at each charger's life (its clock's step)"
    )
    parser.add_argument(
        "--hold", type=float, help="end this many seconds after the last charger booted (--duration stays the cap)"
    )
    parser.add_argument(
        "--reconnect-storm",
        action="store_true",
        help="with --hold: then every charger's socket drops, and each reconnects within --storm-spread",
    )
    parser.add_argument("--storm-spread", type=float, default=60.0, help="seconds over which the storm reconnects")
    parser.add_argument("--after", type=float, default=60.0, help="seconds to run after the storm's spread")
    args = parser.parse_args(argv)
    try:
        summary = asyncio.run(
            run_fleet(
                args.url,
                args.count,
                args.prefix,
                args.speed,
                args.duration,
                seed=args.seed,
                password=args.password,
                meter_interval=args.meter_interval,
                tick_seconds=args.tick,
                hold=args.hold,
                reconnect_storm=args.reconnect_storm,
                storm_spread=args.storm_spread,
                after=args.after,
            )
        )
    except KeyboardInterrupt:
        return
    print(json.dumps(summary), file=sys.stdout)


if __name__ == "__main__":
    main()
