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
from websockets.exceptions import ConnectionClosed

from chalicelib import charger_commands, charger_model, ocpp_frames
from chalicelib.simulated_charger import Charger, Outgoing

CALL_TIMEOUT_SECONDS = 30


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
        meter_interval: int = charger_model.SAMPLE_SECONDS,
    ) -> None:
        self.id, self.url, self.speed, self.seed, self.counts = charge_point_id, url.rstrip("/"), speed, seed, counts
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

    def charger(self) -> Charger:
        """A Charger over this charger's state, sending into the shared outbox."""
        rng = random.Random(f"{self.seed}:{self.id}:{self.state['clock']}#{self.state['seq']}")
        return Charger(self.state, rng, self.speed, self.outbox)

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
                    if self.charger().rebooting:
                        self.charger().reconnected()
                        continue
                return
            except (TimeoutError, OSError, ConnectionClosed):
                self.counts["reconnects"] += 1
                await asyncio.sleep(1)

    async def _live(self, until: float, tick_seconds: float) -> None:
        while time.monotonic() < until and not self.charger().rebooting:
            self.charger().catch_up(ocpp_frames.now())
            await self._flush()
            await asyncio.sleep(tick_seconds)

    async def _flush(self) -> None:
        """Send what the charger has to say, one CALL at a time, each answer fed back to the charger
        (which may add more frames: the announcements after a boot, queued transaction messages)."""
        while self.outbox:
            frame = self.outbox.pop(0).frame
            answer = await self._call(frame)
            if answer is not None:
                self.charger().receive(frame[1], answer)

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
        return charger_commands.answer_frame(self.charger(), frame)


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
) -> dict[str, Any]:
    """Run `count` chargers for `duration` seconds (then let each finish its conversation); returns the counts."""
    counts: Counter = Counter()
    chargers = [
        WsCharger(f"{prefix}{n:04d}", n, url, speed, seed, counts, password, meter_interval)
        for n in range(1, count + 1)
    ]
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
    parser.add_argument(
        "--meter-interval",
        type=int,
        default=charger_model.SAMPLE_SECONDS,
        help="each charger's MeterValueSampleInterval in seconds (the heartbeat interval is the central system's)",
    )
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
            )
        )
    except KeyboardInterrupt:
        return
    print(json.dumps(summary), file=sys.stdout)


if __name__ == "__main__":
    main()
