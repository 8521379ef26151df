"""The simulated fleet over the bus, end to end: a seeded simulated day, with the central system's answers
delivered only after each tick returns, as an asynchronous bus does."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise

import pytest

from chalicelib import events, local_runtime, ocpp_frames, rest, settings, simulator, storage
from tests.backends import fresh_tables

# In the past, so that no simulated timestamp is ever ahead of the central system's clock.
DAY_START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
TICK = timedelta(minutes=5)
NEXT = {  # OCPP 1.6 section 4.9, as the simulated chargers use it
    "Available": {"Preparing", "Faulted", "Unavailable"},
    "Preparing": {"Charging", "Available", "Faulted"},
    "Charging": {"SuspendedEV", "SuspendedEVSE", "Finishing", "Faulted"},
    "SuspendedEV": {"Charging", "Finishing", "Faulted"},
    "Finishing": {"Available", "Faulted"},
    "Faulted": {"Available", "Preparing", "Charging", "SuspendedEV", "Finishing", "Unavailable"},
}


class Recorder:
    """Listens on the bus like any other rule target: every CALL and every answer."""

    def __init__(self, bus: events.LocalBus) -> None:
        self.calls: list[dict] = []
        self.answers: list[dict] = []
        bus.subscribe({"source": [events.CHARGER_SOURCE]}, lambda e: self.calls.append(e["detail"]))
        bus.subscribe({"source": [events.CENTRAL_SYSTEM_SOURCE]}, lambda e: self.answers.append(e["detail"]))


def simulate(app_module, hours: float, deferred: bool) -> Recorder:
    bus = local_runtime.local_bus(app_module.app, deferred=deferred)
    recorder = Recorder(bus)
    events.use(bus)
    now = DAY_START
    while now <= DAY_START + timedelta(hours=hours):
        simulator.run_tick(now=now)
        if deferred:
            assert bus.queue, "deferred delivery holds the tick's events until it has returned"
            bus.flush()
        now += TICK
    return recorder


@pytest.fixture(scope="module")
def day(app_module, dynamodb_local):
    """One seeded simulated day (5-minute ticks, answers deferred) on DynamoDB Local, shared by the checks
    below. (moto copies every table on each transaction: a day there takes minutes.)"""
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local)
    fresh_tables(monkeypatch)
    recorder = simulate(app_module, 24, deferred=True)
    yield recorder, rest.stats(), _all_sessions(), rest.list_charge_points({"limit": "100"})["chargePoints"]
    events.use(None)
    monkeypatch.undo()
    settings.get.cache_clear()
    storage.reset_client()


def _all_sessions() -> list[dict]:
    sessions, token = [], None
    while True:
        page = rest.list_sessions({"limit": "100", **({"nextToken": token} if token else {})})
        sessions += page["sessions"]
        token = page["nextToken"]
        if not token:
            return sessions


def test_every_frame_sent_and_every_answer_validates_against_the_official_schemas(day):
    recorder, *_ = day
    actions = defaultdict(int)
    for detail in recorder.calls:
        frame = detail["message"]
        ocpp_frames.validate(ocpp_frames.CALL, frame[2], frame[3])
        actions[frame[2]] += 1
    assert set(actions) >= {
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "MeterValues",
        "Authorize",
        "StartTransaction",
        "StopTransaction",
        "DataTransfer",
    }
    errors = [a for a in recorder.answers if a["message"][0] == ocpp_frames.CALLERROR]
    assert errors == []
    for answer in recorder.answers:
        ocpp_frames.validate(ocpp_frames.CALLRESULT, answer["action"], answer["message"][2])
    assert len(recorder.answers) == len(recorder.calls)


def test_sessions_start_and_stop_and_the_stats_agree_with_the_lists(day):
    _, stats, sessions, charge_points = day
    completed = [s for s in sessions if s["status"] == "Completed"]
    active = [s for s in sessions if s["status"] == "Active"]
    assert len(completed) >= 10, "a day of three chargers sees many sessions"
    assert stats["completedSessions"] == len(completed) and stats["activeSessions"] == len(active)
    assert stats["totalEnergyKwh"] == pytest.approx(sum(s["currentEnergy"] for s in completed), abs=0.002)
    assert stats["totalRevenue"] == pytest.approx(sum(s["cost"] for s in completed), abs=0.001)
    assert stats["totalChargePoints"] == len(charge_points) == 3
    assert stats["availableChargePoints"] == sum(cp["status"] == "Available" for cp in charge_points)
    assert stats["chargingChargePoints"] == sum(cp["status"] == "Charging" for cp in charge_points)


def test_costs_follow_the_tariff(day):
    _, _, sessions, _ = day
    for session in sessions:
        if session["status"] == "Completed":
            expected = (Decimal(session["meterStop"] - session["meterStart"]) / 1000 * Decimal("0.30")).quantize(
                Decimal("0.01"), rounding=ROUND_HALF_UP
            )
            assert Decimal(str(session["cost"])) == expected
            assert session["currentEnergy"] == (session["meterStop"] - session["meterStart"]) / 1000


def _meter_samples(recorder: Recorder) -> dict[tuple, list[tuple[datetime, int, float]]]:
    samples = defaultdict(list)
    for detail in recorder.calls:
        _, _, action, payload = detail["message"]
        if action != "MeterValues":
            continue
        for value in payload["meterValue"]:
            readings = {s["measurand"]: float(s["value"]) for s in value["sampledValue"]}
            samples[(detail["chargePointId"], payload["connectorId"], payload.get("transactionId"))].append(
                (
                    ocpp_frames.parse_timestamp(value["timestamp"]),
                    int(readings["Energy.Active.Import.Register"]),
                    readings["Power.Active.Import"],
                )
            )
    return samples


def test_the_register_only_rises_and_energy_matches_power_over_time(day):
    recorder, *_ = day
    registers = defaultdict(list)
    for (cp, connector, tx), series in _meter_samples(recorder).items():
        assert tx is not None, "simulated MeterValues always belong to a transaction"
        series.sort()
        registers[(cp, connector)] += series
        integrated = sum(power * (t1 - t0).total_seconds() / 3600 for (t0, _, _), (t1, _, power) in pairwise(series))
        delivered = series[-1][1] - series[0][1]
        assert delivered == pytest.approx(integrated, rel=0.03, abs=60), (cp, connector, tx)
    assert registers, "the simulated day sent no MeterValues"
    for series in registers.values():
        series.sort()
        assert all(a[1] <= b[1] for a, b in pairwise(series))


def test_connector_statuses_follow_the_state_table(day):
    recorder, *_ = day
    last: dict[tuple, str] = {}
    for detail in recorder.calls:
        _, _, action, payload = detail["message"]
        if action != "StatusNotification" or payload["connectorId"] == 0:
            continue
        key = (detail["chargePointId"], payload["connectorId"])
        if key in last and last[key] != payload["status"]:
            assert payload["status"] in NEXT[last[key]], (key, last[key], payload["status"])
        last[key] = payload["status"]
    assert {"Preparing", "Charging", "Finishing"} <= set(last.values()) | {
        d["message"][3]["status"] for d in recorder.calls if d["message"][2] == "StatusNotification"
    }


def test_power_respects_the_charger_and_soc_stays_within_bounds(day):
    recorder, _, _, charge_points = day
    max_kw = {cp["chargePointId"]: cp["maxPower"] for cp in charge_points}
    for detail in recorder.calls:
        _, _, action, payload = detail["message"]
        if action == "MeterValues":
            for value in payload["meterValue"]:
                readings = {s["measurand"]: float(s["value"]) for s in value["sampledValue"]}
                assert readings["Power.Active.Import"] <= max_kw[detail["chargePointId"]] * 1000 + 1
                assert 0 <= readings.get("SoC", 0) <= 100


@pytest.mark.slow
def test_deferred_and_immediate_delivery_behave_alike(aws, app_module, monkeypatch):
    """A charger reacts to each answer when it arrives: during the tick's publish (immediate delivery,
    the answer waits on the tick's lease) or after the tick (deferred), it sends exactly the same frames."""
    immediate = [d["message"] for d in simulate(app_module, 2, deferred=False).calls]
    fresh_tables(monkeypatch)
    deferred = [d["message"] for d in simulate(app_module, 2, deferred=True).calls]
    assert immediate == deferred
    assert any(frame[2] == "StopTransaction" for frame in deferred)


def _booted(app_module) -> tuple[events.LocalBus, Recorder]:
    bus = local_runtime.local_bus(app_module.app, deferred=True)
    recorder = Recorder(bus)
    events.use(bus)
    simulator.run_tick(now=DAY_START)
    bus.flush()
    return bus, recorder


def test_a_transaction_waits_for_its_id_then_sends_what_it_queued_when_the_answer_arrives(aws, app_module):
    bus, recorder = _booted(app_module)
    started = simulator.run_tick(now=DAY_START, charge_point_id="CP-DEMO-003", message_type="StartTransaction")
    assert [m["message"][2] for m in started] == ["StartTransaction"]
    # Not answered yet: the charger charges, but queues the transaction's meter values.
    during = simulator.run_tick(now=DAY_START + timedelta(minutes=4))
    assert not [m for m in during if m["chargePointId"] == "CP-DEMO-003" and m["message"][2] == "MeterValues"]
    recorder.calls.clear()
    bus.flush()  # the answer arrives: what was queued goes out now, not at the next tick
    queued = [
        d["message"] for d in recorder.calls if d["chargePointId"] == "CP-DEMO-003" and d["message"][2] == "MeterValues"
    ]
    transaction = next(
        a["message"][2]["transactionId"]
        for a in recorder.answers
        if a["action"] == "StartTransaction" and a["chargePointId"] == "CP-DEMO-003"
    )
    assert len(queued) >= 3 and all(frame[3]["transactionId"] == transaction for frame in queued)
    stamps = [frame[3]["meterValue"][0]["timestamp"] for frame in queued]
    assert stamps == sorted(stamps) and stamps[0] < ocpp_frames.format_timestamp(DAY_START + timedelta(minutes=4))


def test_an_unanswered_start_is_resent_and_gets_the_same_transaction_id(aws, app_module):
    bus, recorder = _booted(app_module)
    simulator.run_tick(now=DAY_START, charge_point_id="CP-DEMO-003", message_type="StartTransaction")
    calls, bus.queue = bus.queue, []
    bus.deliver(calls)  # delivered and answered...
    lost, bus.queue = bus.queue, []  # ...but the answer is lost on its way back
    answer = next(e["detail"] for e in lost if e["detail"]["action"] == "StartTransaction")
    resent = simulator.run_tick(now=DAY_START + timedelta(minutes=6))
    bus.flush()
    starts = [
        m["message"] for m in resent if m["message"][2] == "StartTransaction" and m["chargePointId"] == "CP-DEMO-003"
    ]
    assert len(starts) == 1 and starts[0][1] != answer["messageId"]
    simulator.run_tick(now=DAY_START + timedelta(minutes=7))
    bus.flush()
    sessions = rest.list_sessions({"chargePointId": "CP-DEMO-003"})["sessions"]
    assert [s["transactionId"] for s in sessions] == [answer["message"][2]["transactionId"]]
    again = next(a for a in recorder.answers if a["messageId"] == starts[0][1])
    assert again["message"][2]["transactionId"] == answer["message"][2]["transactionId"]


@pytest.mark.slow
def test_the_seed_makes_the_day_repeatable(aws, app_module, monkeypatch):
    first = [d["message"] for d in simulate(app_module, 1, deferred=False).calls]
    fresh_tables(monkeypatch)
    second = [d["message"] for d in simulate(app_module, 1, deferred=False).calls]
    assert first == second and len(first) > 50


def test_two_ticks_never_run_at_once(aws):
    assert storage.acquire_lease(simulator.LEASE, "someone-else", time.time(), 120)
    with pytest.raises(simulator.TickBusy):
        simulator.run_tick(now=DAY_START)


def test_forcing_a_message_type_sends_exactly_that(aws):
    simulator.run_tick(now=DAY_START)
    for action in simulator.FORCEABLE:
        if action == "StopTransaction":
            continue
        sent = simulator.run_tick(now=DAY_START, charge_point_id="CP-DEMO-002", message_type=action)
        assert [(m["chargePointId"], m["message"][2]) for m in sent] == [("CP-DEMO-002", action)]
    with pytest.raises(simulator.UnknownChargePoint):
        simulator.run_tick(charge_point_id="CP-DEMO-999", message_type="Heartbeat")
    with pytest.raises(simulator.UnknownMessageType):
        simulator.run_tick(charge_point_id="CP-DEMO-001", message_type="Teleport")


def _complete(charge_point: dict) -> bool:
    """What a newcomer sees on a card: a status from OCPP, the location, max power and every connector."""
    statuses = charge_point.get("connectorStatus", {})
    return (
        charge_point["status"] == "Available"
        and charge_point.get("location", "").startswith("Demo Location")
        and charge_point.get("maxPower", 0) > 0
        and charge_point.get("connectors", 0) > 0
        and all(str(c) in statuses for c in range(1, charge_point["connectors"] + 1))
    )


def _fleet() -> list[dict]:
    return rest.list_charge_points({"limit": "100"})["chargePoints"]


def test_an_accepted_boot_is_followed_at_once_by_the_chargers_information_and_statuses(aws, app_module):
    """Deferred delivery, as EventBridge: the answers arrive after the tick, and each charger reacts to its
    own in the inbox, with no further tick."""
    bus, recorder = _booted(app_module)
    assert len(_fleet()) == 3 and all(_complete(cp) for cp in _fleet())
    announced = defaultdict(list)
    for detail in recorder.calls:
        announced[detail["chargePointId"]].append(detail["message"][2])
    for charge_point_id, actions in announced.items():
        assert actions[0] == "BootNotification" and actions[1] == "DataTransfer"
        assert set(actions[2:]) == {"StatusNotification"}, charge_point_id
    assert not bus.queue and storage.acquire_lease(simulator.LEASE, "next", time.time(), 120), "nothing is left over"


def test_answers_arriving_during_a_tick_wait_on_its_lease_and_the_tick_serves_them(aws, app_module):
    """Immediate delivery, as the in-process bus of `make run`: each answer arrives while the tick that sent
    the boot still holds the lease, waits on it, and the tick has the chargers react before letting go."""
    recorder = Recorder(aws)
    simulator.run_tick(now=DAY_START)
    assert all(_complete(cp) for cp in _fleet()) and len(_fleet()) == 3
    assert sum(d["message"][2] == "DataTransfer" for d in recorder.calls) == 3
    assert storage.acquire_lease(simulator.LEASE, "next", time.time(), 120), "the tick let go of the lease"


def test_an_answer_waits_on_the_lease_until_its_holder_lets_go(aws, app_module):
    bus = local_runtime.local_bus(app_module.app, deferred=True)
    recorder = Recorder(bus)
    events.use(bus)
    simulator.run_tick(now=DAY_START)
    calls, bus.queue = bus.queue, []
    assert storage.acquire_lease(simulator.LEASE, "holder", time.time(), 120)
    bus.deliver(calls)
    bus.flush()  # the answers arrive while "holder" holds the lease: they wait, nobody reacts yet
    assert [d["message"][2] for d in recorder.calls] == ["BootNotification"] * 3
    waiting = storage.release_lease(simulator.LEASE, "holder")
    assert waiting == sorted(simulator.reply_key(a["chargePointId"], a["messageId"]) for a in recorder.answers)
    assert not storage.acquire_lease(simulator.LEASE, "other", time.time(), 120), "still held while serving them"
    assert storage.release_lease(simulator.LEASE, "holder") == []
    assert storage.acquire_lease(simulator.LEASE, "other", time.time(), 120), "given back"


def test_a_late_or_repeated_answer_changes_nothing(aws, app_module):
    bus, recorder = _booted(app_module)
    simulator.run_tick(now=DAY_START, charge_point_id="CP-DEMO-003", message_type="StartTransaction")
    bus.flush()
    ids = simulator.fleet_ids(3)
    states = {pk: item["state"] for pk, item in storage.load_simulator_items(ids).items()}
    calls, fleet = len(recorder.calls), _fleet()
    for answer in list(recorder.answers):
        if answer["action"] in ("BootNotification", "StartTransaction"):
            simulator.receive_reply(answer)  # EventBridge delivers at least once
    bus.flush()
    assert len(recorder.calls) == calls and _fleet() == fleet
    assert {pk: item["state"] for pk, item in storage.load_simulator_items(ids).items()} == states
    keys = [simulator.reply_key(a["chargePointId"], a["messageId"]) for a in recorder.answers]
    assert storage.load_simulator_items(keys) == {}, "a repeated answer is not kept either"
