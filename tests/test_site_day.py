"""Site load management end to end: the three demo chargers (222 kW between them) on a 60 kW site, a
simulated stretch of a day on the in-process bus (commands answered by the simulated chargers' own logic).

Proven from what the chargers themselves report in MeterValues: the sum of their power never exceeds the
limit, except in the meter interval in which a session started (the new car draws at the safe default
until the others' TxProfiles are lowered, which they are at once); and the energy delivered is within the
stated margin of the best possible under the limit: each interval, the least of the limit and what the
cars present could take (each car's own curve at its SoC, within its charger's share)."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import timedelta

import pytest

from chalicelib import charger_model, events, ocpp_frames, simulator, storage
from tests.ocpp_builders import Clock

LIMIT_W = 60_000
HOURS = 2
INTERVAL = timedelta(seconds=charger_model.SAMPLE_SECONDS)  # one tick per meter interval
MARGIN = 0.9  # the energy delivered is at least this share of the best possible under the limit
CHARGERS = ["CP-DEMO-001", "CP-DEMO-002", "CP-DEMO-003"]


def _best_possible_w() -> float:
    """What the cars plugged in now could take together under the limit, from the chargers' own state:
    each charging car's curve at its SoC, within its charger's power shared among its charging cars."""
    states = storage.load_simulator_items(CHARGERS)
    wanted = 0.0
    for cp in CHARGERS:
        state = json.loads(states[cp]["state"])
        charging = [e for e in state["connectors"].values() if e["status"] == "Charging" and e["car"]]
        for entry in charging:
            car = entry["car"]
            car_kw = car["maxKw"] * charger_model._curve(car["curve"], car["soc"])
            wanted += min(car_kw, state["profile"]["maxPower"] / len(charging)) * 1000
    return min(wanted, LIMIT_W)


@pytest.mark.slow
def test_a_site_of_the_demo_fleet_stays_within_its_limit_and_delivers_near_the_best_possible(client, aws, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(ocpp_frames, "now", clock)
    powers: dict[int, dict[str, float]] = defaultdict(dict)  # tick -> connector -> reported W
    starts: list[int] = []  # the tick of each StartTransaction
    tick = 0

    def heard(event: dict) -> None:
        frame = event["detail"]["message"]
        if frame[0] != ocpp_frames.CALL or frame[2] not in ("MeterValues", "StartTransaction"):
            return
        if frame[2] == "StartTransaction":
            starts.append(tick)
            return
        for sample in frame[3]["meterValue"][-1]["sampledValue"]:
            if sample.get("measurand") == "Power.Active.Import":
                powers[tick][f"{event['detail']['chargePointId']}/{frame[3]['connectorId']}"] = float(sample["value"])

    aws.subscribe({"source": [events.CHARGER_SOURCE]}, heard)
    simulator.run_tick(now=clock.now)  # the fleet boots and reports its connectors
    body = {"name": "Depot", "maxPowerKw": LIMIT_W / 1000, "chargePointIds": CHARGERS}
    response = client.http.put("/sites/depot", body=json.dumps(body), headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.body

    began, best, over = time.monotonic(), [], []
    for tick in range(1, int(HOURS * 3600 / INTERVAL.total_seconds()) + 1):
        clock.now += INTERVAL
        best.append(_best_possible_w())  # what the cars present could take during this interval
        simulator.run_tick(now=clock.now)
        total = sum(powers[tick].values())
        if total > LIMIT_W and not {tick, tick - 1} & set(starts):
            over.append((tick, total, powers[tick]))
    delivered = sum(sum(p.values()) for p in powers.values())
    print(
        f"\nsite day: {HOURS} h, {len(starts)} sessions started, delivered {delivered / 60_000:.1f} kWh of "
        f"{sum(best) / 60_000:.1f} kWh best possible ({delivered / sum(best):.1%}); "
        f"peak {max(sum(p.values()) for p in powers.values()) / 1000:.1f} kW; {time.monotonic() - began:.1f} s"
    )
    assert len(starts) >= 5 and max(sum(p.values()) for p in powers.values()) > 0.9 * LIMIT_W, "a busy site"
    assert over == [], "above the limit beyond the meter interval of a start"
    assert delivered >= MARGIN * sum(best)
