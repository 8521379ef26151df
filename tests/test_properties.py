"""Property-based proof of the message handling: a hypothesis state machine drives central_system.handle
with sequences of OCPP messages from a few charge points (boots, statuses, transactions with meter
values) mixed with duplicates (the same event again; a StartTransaction resent with a new uniqueId),
reordering (messages held back and delivered late), drops (held messages never delivered) and garbage
(malformed frames, bad timestamps, absurd values), and checks the invariants after every step:

- an event delivered twice changes no DynamoDB item and gets the same answer;
- a session's energy and its register never decrease; completed sessions never reopen;
- /stats equals what the lists show (counts and sums);
- every CALLRESULT validates against the official OCPP 1.6 schema;
- malformed input writes nothing but the rejected-messages counter.

On moto, one fresh set of tables per generated case. The figures (cases, steps, duplicates,
reorderings, malformed inputs) go to tests/artifacts/reliability-figures.json for docs/reliability.md.
"""

from __future__ import annotations

import itertools
import json
import os
import uuid
from datetime import timedelta
from decimal import Decimal

import boto3
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from chalicelib import central_system, charging_rules, meter_history, ocpp_frames, rest, storage
from chalicelib import settings as settings_module
from tests import backends, figures
from tests.ocpp_builders import boot, meter, send, start, stop
from tests.support import T0

CHARGE_POINTS = ("CP-A", "CP-B", "CP-C")
STATUSES = ("Available", "Preparing", "Charging", "SuspendedEV", "Finishing", "Unavailable", "Faulted")
# OCPP-J 1.6 section 4.2.3, with the errata's spellings.
SPEC_ERROR_CODES = {
    "NotImplemented",
    "NotSupported",
    "InternalError",
    "ProtocolError",
    "SecurityError",
    "FormatViolation",
    "FormationViolation",
    "PropertyConstraintViolation",
    "OccurrenceConstraintViolation",
    "OccurenceConstraintViolation",
    "TypeConstraintViolation",
    "GenericError",
}
TABLE_VARIABLES = {
    "CHARGE_POINTS_TABLE": "cp",
    "SESSIONS_TABLE": "sessions",
    "SIMULATOR_TABLE": "sim",
    "STATS_TABLE": "stats",
    "COMMANDS_TABLE": "commands",
    "HISTORY_TABLE": "history",
    "SITES_TABLE": "sites",
}


def ts(moment) -> str:
    return ocpp_frames.format_timestamp(moment)


BAD_UNIT = {"value": "5", "unit": "MWh"}
# Samples a charger with a broken meter sends: each is acknowledged, left out and counted as an anomaly.
BAD_SAMPLES = [
    {"value": "-5"},
    {"value": "1e12"},
    {"value": "1e9", "unit": "kWh"},
    {"value": "NaN"},
    {"value": "twelve"},
    {"value": "9e9", "measurand": "Power.Active.Import"},
    {"value": "150", "measurand": "SoC"},
]


def garbage_frames() -> st.SearchStrategy[str]:
    """Frames a broken or hostile charger sends: every one must get a CALLERROR and write nothing."""
    uid = st.text(min_size=1, max_size=36)
    payloads = st.one_of(
        st.just({"connectorId": 1, "status": "Sleeping", "errorCode": "NoError"}),
        st.integers(min_value=33).map(lambda n: {"connectorId": n, "status": "Available", "errorCode": "NoError"}),
        st.just({"connectorId": "1", "status": "Available", "errorCode": "NoError"}),
    ).map(lambda p: ["StatusNotification", p])
    starts = st.one_of(
        st.sampled_from(
            [
                "1970-01-01T00:00:00Z",
                "2009-12-31T23:59:59Z",
                "2999-01-01T00:00:00Z",
                "yesterday",
                "2026-13-45T99:00:00Z",
            ]
        ).map(lambda t: {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": t}),
        st.one_of(st.integers(max_value=-1), st.integers(min_value=10**11 + 1, max_value=10**15)).map(
            lambda m: {"connectorId": 1, "idTag": "T", "meterStart": m, "timestamp": ts(T0)}
        ),
        st.just({"connectorId": 0, "idTag": "T", "meterStart": 0, "timestamp": ts(T0)}),
        st.just({"connectorId": 1, "idTag": "T" * 21, "meterStart": 0, "timestamp": ts(T0)}),
    ).map(lambda p: ["StartTransaction", p])
    # A unit outside the schema's list refuses the whole frame; bad values inside it are the next rule's.
    meters = st.just(
        ["MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": ts(T0), "sampledValue": [BAD_UNIT]}]}]
    )
    structured = st.tuples(uid, st.one_of(payloads, starts, meters)).map(
        lambda t: json.dumps([2, t[0], t[1][0], t[1][1]])
    )
    shapes = st.sampled_from(
        [
            "",
            "not json",
            "{}",
            "[]",
            "[2]",
            '[3, "x", {}]',
            '[2, "x", "Heartbeat"]',
            '[2, 7, "Heartbeat", {}]',
            '[2, "x", "FlyToTheMoon", {}]',
            '[2, "x", "SignCertificate", {"csr": "c"}]',
            '[2, "x", "Heartbeat", []]',
            '[2, "x", "Heartbeat", {"extra": 1}]',
            '[2, "' + "u" * 37 + '", "Heartbeat", {}]',
            # One byte over the frame limit (the data alone is as long as the limit).
            json.dumps(
                [2, "big", "DataTransfer", {"vendorId": "v", "data": "x" * settings_module.get().ocpp_max_frame_bytes}]
            ),
            '[2, "x", "BootNotification", {"chargePointVendor": "V"}]',
        ]
    )
    return st.one_of(shapes, structured, st.text(max_size=60))


class ChargingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        from moto import mock_aws

        self.mock = mock_aws()
        self.mock.start()
        boto3.setup_default_session(botocore_session=backends.botocore_session())
        self.saved_env = {name: os.environ.get(name) for name in TABLE_VARIABLES}
        suffix = uuid.uuid4().hex[:8]
        for variable, stem in TABLE_VARIABLES.items():
            os.environ[variable] = f"prop-{stem}-{suffix}"
        settings_module.get.cache_clear()
        storage.reset_client()
        storage.ensure_tables()
        self.dynamodb = storage.client()
        self.tables = [spec.name for spec in storage.table_specs()]
        self.clock = T0
        self.ids = itertools.count()
        self.delivered: list[tuple[str, str, object, list]] = []  # (cp, raw, received_at, answer)
        self.held: list[tuple[str, str]] = []  # (cp, raw) sent but not yet delivered
        self.transactions: dict[int, dict] = {}  # transactionId -> what the charger knows of it
        self.energy_seen: dict[str, tuple[int, float]] = {}  # sessionId -> (register, energy)
        self.completed: set[str] = set()
        figures.add("state-machine", cases=1)

    def teardown(self) -> None:
        for name, value in self.saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        settings_module.get.cache_clear()
        storage.reset_client()
        self.mock.stop()

    # --- helpers ---------------------------------------------------------------------------------

    def scan(self, table: str) -> list[dict]:
        """Every item of a table (a Scan: fine in a test, never in the app)."""
        return [
            item for page in self.dynamodb.get_paginator("scan").paginate(TableName=table) for item in page["Items"]
        ]

    def snapshot(self) -> dict[str, list]:
        """Every item of every table, but the meter history as each session's readings: a reading applied
        (kept on its session or in a chunk) and delivered again after a newer one is written as a row of
        its own too, which the read side merges by key (chalicelib/meter_history.py), so it shows once."""
        items = {table: self.scan(table) for table in self.tables}
        history, sessions = os.environ["HISTORY_TABLE"], os.environ["SESSIONS_TABLE"]
        snapshot = {
            table: sorted(json.dumps(item, sort_keys=True) for item in items[table])
            for table in self.tables
            if table != history
        }
        rows: dict[str, list[dict]] = {}
        for row in map(storage.from_item, items[history]):
            rows.setdefault(row["sessionId"], []).append(row)
        stored = {item["sessionId"]: item for item in map(storage.from_item, items[sessions]) if "fleet" in item}
        snapshot[history] = [
            json.dumps(
                meter_history.readings(
                    stored.get(session_id, {"sessionId": session_id}), rows.get(session_id, []), ocpp_frames.now()
                ),
                sort_keys=True,
                default=str,  # a row's expiresAt (meter history retention) is a Decimal as DynamoDB answers it
            )
            for session_id in sorted(set(rows) | set(stored))
        ]
        return snapshot

    def rejected(self) -> int:
        return rest.stats()["rejectedMessages"]

    def deliver(self, cp: str, raw: str) -> list:
        # Each message is heard at its own millisecond, as on a charger's connection. (Two messages of
        # one charger stamped with the same millisecond and then one redelivered would rewrite the
        # guard's lastCallId/lastAnswer, though no state: see docs/reliability.md.)
        self.clock += timedelta(milliseconds=1)
        received_at = self.clock
        answer = central_system.handle(cp, raw, received_at=received_at)
        assert answer[0] in (ocpp_frames.CALLRESULT, ocpp_frames.CALLERROR), answer
        if answer[0] == ocpp_frames.CALLRESULT:
            call = json.loads(raw)
            assert answer[1] == call[1]
            ocpp_frames.validate(ocpp_frames.CALLRESULT, call[2], answer[2])
        self.delivered.append((cp, raw, received_at, answer))
        figures.add("state-machine", messages=1)
        return answer

    def frame(self, action: str, payload: dict) -> str:
        return json.dumps([2, f"u{next(self.ids)}", action, payload])

    # --- the charger's side -------------------------------------------------------------------------

    @initialize(cp=st.sampled_from(CHARGE_POINTS))
    def first_boot(self, cp: str) -> None:
        self.boot(cp)

    @rule(seconds=st.integers(1, 120))
    def time_passes(self, seconds: int) -> None:
        self.clock += timedelta(seconds=seconds)

    @rule(cp=st.sampled_from(CHARGE_POINTS))
    def boot(self, cp: str) -> None:
        answer = self.deliver(cp, self.frame("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}))
        assert answer[2]["status"] == "Accepted"

    @rule(cp=st.sampled_from(CHARGE_POINTS))
    def heartbeat(self, cp: str) -> None:
        self.deliver(cp, self.frame("Heartbeat", {}))

    @rule(
        cp=st.sampled_from(CHARGE_POINTS),
        connector=st.integers(0, 2),
        status=st.sampled_from(STATUSES),
        hold=st.booleans(),
    )
    def status_notification(self, cp: str, connector: int, status: str, hold: bool) -> None:
        if connector == 0 and status not in charging_rules.WHOLE_CHARGE_POINT_STATUSES:
            status = "Available"
        raw = self.frame(
            "StatusNotification",
            {"connectorId": connector, "status": status, "errorCode": "NoError", "timestamp": ts(self.clock)},
        )
        self.send(cp, raw, hold)

    @rule(
        cp=st.sampled_from(CHARGE_POINTS),
        connector=st.integers(1, 2),
        meter_start=st.integers(0, 10**6),
        tag=st.sampled_from(["TAG-1", "TAG-2"]),
    )
    def start_transaction(self, cp: str, connector: int, meter_start: int, tag: str) -> None:
        payload = {"connectorId": connector, "idTag": tag, "meterStart": meter_start, "timestamp": ts(self.clock)}
        answer = self.deliver(cp, self.frame("StartTransaction", payload))
        if answer[0] == ocpp_frames.CALLRESULT:
            self.transactions[answer[2]["transactionId"]] = {"cp": cp, "payload": payload, "register": meter_start}

    @precondition(lambda self: self.transactions)
    @rule(data=st.data(), rise=st.integers(0, 50_000), hold=st.booleans())
    def meter_values(self, data, rise: int, hold: bool) -> None:
        tx = data.draw(st.sampled_from(sorted(self.transactions)))
        known = self.transactions[tx]
        known["register"] += rise
        raw = self.frame(
            "MeterValues",
            {
                "connectorId": known["payload"]["connectorId"],
                "transactionId": tx,
                "meterValue": [
                    {
                        "timestamp": ts(self.clock),
                        "sampledValue": [
                            {"value": str(known["register"]), "unit": "Wh"},
                            {"value": "7400", "measurand": "Power.Active.Import", "unit": "W"},
                        ],
                    }
                ],
            },
        )
        self.send(known["cp"], raw, hold)

    @precondition(lambda self: self.transactions)
    @rule(data=st.data(), rise=st.integers(0, 50_000), hold=st.booleans())
    def stop_transaction(self, data, rise: int, hold: bool) -> None:
        tx = data.draw(st.sampled_from(sorted(self.transactions)))
        known = self.transactions[tx]
        raw = self.frame(
            "StopTransaction",
            {
                "transactionId": tx,
                "meterStop": known["register"] + rise,
                "timestamp": ts(self.clock),
                "reason": "Local",
            },
        )
        self.send(known["cp"], raw, hold)

    @rule(cp=st.sampled_from(CHARGE_POINTS), transaction=st.integers(1, 2**31 - 1))
    def stop_unknown_transaction(self, cp: str, transaction: int) -> None:
        answer = self.deliver(
            cp,
            self.frame("StopTransaction", {"transactionId": transaction, "meterStop": 5, "timestamp": ts(self.clock)}),
        )
        if answer[0] == ocpp_frames.CALLRESULT:  # acknowledged, never refused (a booted charger)
            assert answer[2] == {}

    def send(self, cp: str, raw: str, hold: bool) -> None:
        if hold:
            self.held.append((cp, raw))  # delivered late, or never: a drop
        else:
            self.deliver(cp, raw)

    # --- the network's side: duplicates, reordering, garbage ---------------------------------------

    @precondition(lambda self: self.delivered)
    @rule(data=st.data())
    def deliver_an_event_again(self, data) -> None:
        """EventBridge delivers an event twice: same detail, so the same frame and sender's time."""
        cp, raw, received_at, first = data.draw(st.sampled_from(self.delivered))
        if first[0] == ocpp_frames.CALLERROR and first[2] == "SecurityError":
            return  # refused before the charger booted: after its boot the same message is simply new
        before, rejected = self.snapshot(), self.rejected()
        again = central_system.handle(cp, raw, received_at=received_at)
        assert again == first
        if first[0] == ocpp_frames.CALLERROR:
            assert self.rejected() == rejected + 1  # counted as a rejected delivery, nothing else
            rejected += 1
        assert (
            self.snapshot() == before
            if first[0] == ocpp_frames.CALLRESULT
            else {t: v for t, v in self.snapshot().items() if "stats" not in t}
            == {t: v for t, v in before.items() if "stats" not in t}
        )
        figures.add("state-machine", duplicates=1)

    @precondition(lambda self: self.delivered)
    @rule(seconds=st.integers(0, 60))
    def charger_repeats_its_last_call(self, seconds: int) -> None:
        """A charger that got no answer sends the same CALL (same uniqueId) again, later."""
        cp, raw, _, first = self.delivered[-1]
        if first[0] != ocpp_frames.CALLRESULT:
            return
        before = self.snapshot()
        assert central_system.handle(cp, raw, received_at=self.clock + timedelta(seconds=seconds)) == first
        assert self.snapshot() == before
        figures.add("state-machine", duplicates=1)

    @precondition(lambda self: self.transactions)
    @rule(data=st.data())
    def start_resent_with_a_new_unique_id(self, data) -> None:
        """After a reconnect a charger resends a queued StartTransaction under a new uniqueId."""
        tx = data.draw(st.sampled_from(sorted(self.transactions)))
        known = self.transactions[tx]
        before = self.snapshot()
        answer = self.deliver(known["cp"], self.frame("StartTransaction", known["payload"]))
        assert answer[2]["transactionId"] == tx
        assert self.snapshot() == before
        figures.add("state-machine", duplicates=1)

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def deliver_late(self, data) -> None:
        """A message held back arrives now, after newer ones."""
        cp, raw = self.held.pop(data.draw(st.integers(0, len(self.held) - 1)))
        self.deliver(cp, raw)
        figures.add("state-machine", reorderings=1)

    @rule(cp=st.sampled_from(CHARGE_POINTS), sample=st.sampled_from(BAD_SAMPLES))
    def bad_sample(self, cp: str, sample: dict) -> None:
        """Issue 11: one bad sample never rejects the message; it is left out and counted."""
        before = self.anomalies(cp)
        raw = self.frame(
            "MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": ts(self.clock), "sampledValue": [sample]}]}
        )
        answer = self.deliver(cp, raw)
        if answer[0] == ocpp_frames.CALLERROR:
            assert answer[2] == "SecurityError"  # not booted yet
            return
        assert answer[2] == {}
        assert self.anomalies(cp) == before + 1

    def anomalies(self, cp: str) -> int:
        item = storage.get_charge_point(cp, consistent=True) or {}
        return sum(int(v) for k, v in item.items() if k.startswith("anomaly_"))

    @rule(cp=st.sampled_from(CHARGE_POINTS), raw=garbage_frames())
    def garbage(self, cp: str, raw: str) -> None:
        before, rejected = self.snapshot(), self.rejected()
        answer = central_system.handle(cp, raw, received_at=self.clock)
        assert answer[0] == ocpp_frames.CALLERROR and answer[2] in SPEC_ERROR_CODES and answer[3], answer
        assert self.rejected() == rejected + 1
        after = self.snapshot()
        assert {t: v for t, v in after.items() if "stats" not in t} == {
            t: v for t, v in before.items() if "stats" not in t
        }
        figures.add("state-machine", malformed=1)

    # --- invariants ---------------------------------------------------------------------------------

    @invariant()
    def energy_never_decreases_and_completed_sessions_stay_completed(self) -> None:
        sessions = rest.list_sessions({"limit": "100"})["sessions"]
        for view in sessions:
            item = storage.get_session(view["sessionId"])
            register, energy = int(item["lastRegisterWh"]), view["currentEnergy"]
            seen_register, seen_energy = self.energy_seen.get(view["sessionId"], (0, 0.0))
            assert register >= seen_register and energy >= seen_energy, (view, seen_register, seen_energy)
            self.energy_seen[view["sessionId"]] = (register, energy)
            if view["sessionId"] in self.completed:
                assert view["status"] == "Completed", view
            if view["status"] == "Completed":
                self.completed.add(view["sessionId"])

    @invariant()
    def stats_equal_what_the_lists_show(self) -> None:
        stats = rest.stats()
        charge_points = rest.list_charge_points({"limit": "100"})["chargePoints"]
        sessions = rest.list_sessions({"limit": "100"})["sessions"]
        completed = [s for s in sessions if s["status"] == "Completed"]
        assert stats["totalChargePoints"] == len(charge_points)
        assert stats["availableChargePoints"] == sum(cp["status"] == "Available" for cp in charge_points)
        assert stats["chargingChargePoints"] == sum(cp["status"] == "Charging" for cp in charge_points)
        assert stats["activeSessions"] == sum(s["status"] == "Active" for s in sessions)
        assert stats["completedSessions"] == len(completed)
        assert Decimal(str(stats["totalEnergyKwh"])) == sum(Decimal(str(s["currentEnergy"])) for s in completed)
        assert Decimal(str(stats["totalRevenue"])) == sum(Decimal(str(s["cost"])) for s in completed)


# 35 machines of 30 steps in `make test` keep the whole suite within its 15 minutes on 2 cores (each step now
# also reads idTags and writes meter history); PROPERTY_EXAMPLES=500 for a deeper run.
ChargingMachine.TestCase.settings = hypothesis_settings(
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "35")),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestChargingMachine = pytest.mark.slow(ChargingMachine.TestCase)


def test_a_reading_applied_before_the_stop_and_redelivered_after_it_changes_nothing(aws):
    """Found while proving the machine's duplicate invariant: such a redelivery used to be filed as a
    late meter value."""

    boot()
    tx = start(meter=1000)
    first = meter("CP-1", tx, 2000, at=40)
    stop("CP-1", tx, 3000, at=50)
    late = meter("CP-1", tx, 2500, at=45)  # newer than any applied reading: arrived after the stop
    snapshot = storage.get_session(rest.list_sessions({})["sessions"][0]["sessionId"])
    assert meter("CP-1", tx, 2000, at=40)[2] == first[2] and meter("CP-1", tx, 2500, at=45)[2] == late[2]
    assert storage.get_session(snapshot["sessionId"]) == snapshot
    assert snapshot["lateSampleTimes"] == {ts(T0 + timedelta(seconds=45))}


def test_a_status_redelivered_after_a_newer_one_stamped_alike_changes_nothing(aws):
    """Found while proving the machine's duplicate invariant (deliver_an_event_again): a charger stamps
    Preparing and Charging alike (a clock of one-second resolution does); Preparing, redelivered after
    Charging was applied, came back."""
    boot()
    at = T0 + timedelta(seconds=5)

    def status(name: str) -> dict:
        return {"connectorId": 1, "status": name, "errorCode": "NoError", "timestamp": ts(at)}

    first = send("CP-1", "StatusNotification", status("Preparing"), at, uid="s1")
    send("CP-1", "StatusNotification", status("Charging"), at + timedelta(milliseconds=1), uid="s2")
    applied, stats = storage.get_charge_point("CP-1", consistent=True), rest.stats()
    assert applied["connectorStatus"]["1"]["status"] == "Charging"  # a tie heard later is applied
    assert send("CP-1", "StatusNotification", status("Preparing"), at, uid="s1") == first
    assert storage.get_charge_point("CP-1", consistent=True) == applied and rest.stats() == stats


def test_a_reading_redelivered_after_a_newer_one_shows_once(aws):
    """Found while proving the machine's duplicate invariant (deliver_an_event_again): a reading older
    than the one last applied, delivered again, is kept as a row of its own beside its copy on the
    session (the storage's design: chalicelib/meter_history.py); the session and its readings stay."""
    boot()
    tx = start(meter=1000)
    first = meter("CP-1", tx, 2000, at=20)
    meter("CP-1", tx, 3000, at=30)
    session_id = rest.list_sessions({})["sessions"][0]["sessionId"]
    session, readings = storage.get_session(session_id), rest.session_meter_values(session_id, {})
    assert meter("CP-1", tx, 2000, at=20)[2] == first[2]
    assert storage.get_session(session_id) == session
    assert rest.session_meter_values(session_id, {}) == readings and len(readings["meterValues"]) == 2


def test_a_stop_redelivered_after_a_later_stop_of_its_closed_session_changes_nothing(aws):
    """Found while proving the machine's duplicate invariant (deliver_an_event_again): stops at 50, 60
    and 70 s for one transaction (the first closes it, the others are kept beside it); the one at 60 s,
    delivered again, was counted again and displaced the one at 70 s."""
    boot()
    tx = start(meter=1000)
    stop("CP-1", tx, 3000, at=50)
    second = stop("CP-1", tx, 3100, at=60)
    stop("CP-1", tx, 3200, at=70)
    session_id = rest.list_sessions({})["sessions"][0]["sessionId"]
    session = storage.get_session(session_id)
    assert stop("CP-1", tx, 3100, at=60)[2] == second[2]
    assert storage.get_session(session_id) == session
    assert session["anomaly_stopAfterClose"] == 2 and session["reportedStop"]["meterStop"] == "3200"
