"""Monitoring: every log line is one JSON object naming the charge point and the message, and the
counted facts are CloudWatch Embedded Metric Format records that CloudWatch would accept."""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import timedelta

import pytest

from chalicelib import central_system, events, telemetry
from tests.ocpp_builders import boot, meter, send, start, stop
from tests.support import T0

EMF_MAX_METRICS, EMF_MAX_DIMENSIONS = 100, 30


def lines(capsys) -> list[dict]:
    """Every line the app wrote to stdout, each of which must be a JSON object."""
    out = capsys.readouterr().out
    parsed = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert parsed and all(isinstance(line, dict) for line in parsed)
    return parsed


def emf_metrics(line: dict) -> dict[tuple, float]:
    """The metrics CloudWatch extracts from a line, keyed (name, unit, dimensions), after checking the
    line against the EMF specification's rules."""
    directive = line["_aws"]
    assert isinstance(directive["Timestamp"], int) and directive["Timestamp"] > 1_600_000_000_000  # epoch ms
    extracted = {}
    for block in directive["CloudWatchMetrics"]:
        assert block["Namespace"] == telemetry.NAMESPACE
        assert 0 < len(block["Metrics"]) <= EMF_MAX_METRICS
        for dimension_set in block["Dimensions"]:
            assert len(dimension_set) <= EMF_MAX_DIMENSIONS
            for name in dimension_set:
                assert isinstance(line[name], str) and line[name], f"dimension {name} needs a string value"
        for metric in block["Metrics"]:
            value = line[metric["Name"]]
            assert isinstance(value, (int, float)) and not isinstance(value, bool)
            for dimension_set in block["Dimensions"]:
                key = (metric["Name"], metric["Unit"], tuple((d, line[d]) for d in dimension_set))
                extracted[key] = extracted.get(key, 0) + value
    return extracted


def totals(parsed: list[dict]) -> Counter:
    counter: Counter = Counter()
    for line in parsed:
        if "_aws" in line:
            counter.update(emf_metrics(line))
    return counter


def test_every_line_about_a_message_names_the_charge_point_and_the_message(aws, capsys):
    capsys.readouterr()
    boot("CP-1")
    tx = start("CP-1")
    meter("CP-1", tx, 1500, at=60)
    stop("CP-1", tx, 2000, at=120)
    send("CP-1", "Heartbeat", {"unexpected": 1})  # rejected: payload does not match the schema
    parsed = lines(capsys)
    assert len(parsed) >= 6
    for line in parsed:
        assert line["chargePointId"] == "CP-1" and line["messageId"], line
        assert {"level", "logger", "timestamp", "event"} <= set(line)


def test_messages_processed_and_rejected_are_counted_by_action(aws, capsys):
    capsys.readouterr()
    boot("CP-1")
    send("CP-1", "Heartbeat", {})
    send("CP-1", "Heartbeat", {})
    send("CP-1", "Heartbeat", {"unexpected": 1})
    send("CP-1", "NoSuchAction", {})
    send("CP-1", "AnotherInvention", {})
    counted = totals(lines(capsys))
    stage = (("Stage", "test"),)
    assert counted[("MessagesProcessed", "Count", (("Action", "BootNotification"),) + stage)] == 1
    assert counted[("MessagesProcessed", "Count", (("Action", "Heartbeat"),) + stage)] == 2
    assert counted[("MessagesRejected", "Count", (("Action", "Heartbeat"),) + stage)] == 1
    # Unknown actions share one dimension value: a charger cannot create custom metrics (each is billed).
    assert counted[("MessagesRejected", "Count", (("Action", "Unknown"),) + stage)] == 2


def test_sessions_and_energy_are_counted_once_even_when_the_stop_is_redelivered(aws, capsys):
    boot("CP-1")
    tx = start("CP-1", meter=1000)
    meter("CP-1", tx, 5000, at=60)
    capsys.readouterr()
    stop_frame = [
        2,
        "stop-1",
        "StopTransaction",
        {"transactionId": tx, "meterStop": 8250, "timestamp": "2026-11-24T12:05:00Z"},
    ]
    for _ in range(2):  # EventBridge delivers at least once
        central_system.handle("CP-1", json.dumps(stop_frame), received_at=T0 + timedelta(minutes=5))
    counted = totals(lines(capsys))
    stage = (("Stage", "test"),)
    assert counted[("SessionsCompleted", "Count", stage)] == 1
    assert counted[("EnergyDeliveredWh", "None", stage)] == 7250
    assert counted[("MessagesProcessed", "Count", (("Action", "StopTransaction"),) + stage)] == 2


def test_a_started_session_is_counted(aws, capsys):
    boot("CP-2")
    capsys.readouterr()
    start("CP-2")
    assert totals(lines(capsys))[("SessionsStarted", "Count", (("Stage", "test"),))] == 1


def test_the_charge_point_is_never_a_metric_dimension(aws, capsys):
    """Each dimension value is a separate custom metric, billed monthly: 1,000 chargers would cost
    1,000 times as much. The id is a field of the line, for Logs Insights."""
    boot("CP-1")
    tx = start("CP-1")
    stop("CP-1", tx, 2000, at=120)
    blocks = [block for line in lines(capsys) if "_aws" in line for block in line["_aws"]["CloudWatchMetrics"]]
    assert blocks, "the transaction wrote no metrics"
    for block in blocks:
        assert block["Dimensions"] and all("chargePointId" not in dims for dims in block["Dimensions"])


def test_other_modules_json_lines_and_plain_text_become_json_objects(capsys):
    telemetry.configure()
    telemetry.configure()  # idempotent: one handler, one line per record
    events.log.error(json.dumps({"event": "undeliverable", "eventId": "e-1"}))
    logging.getLogger("ev.something").warning("plain %s", "text")
    parsed = lines(capsys)
    assert parsed[0]["event"] == "undeliverable" and parsed[0]["level"] == "ERROR"
    assert parsed[0]["chargePointId"] is None and parsed[0]["messageId"] is None
    assert parsed[1]["message"] == "plain text"
    assert len(parsed) == 2


def test_an_unknown_metric_is_refused_rather_than_sent_without_a_unit():
    with pytest.raises(ValueError, match="UNITS"):
        telemetry.emf({"Typo": 1}, {"Stage": "test"})


def test_local_lines_are_short_and_human_and_leave_the_metrics_out():
    record = logging.LogRecord(
        "ev.central_system",
        logging.INFO,
        __file__,
        1,
        {
            "event": "answered",
            "chargePointId": "CP-1",
            "messageId": "m-7",
            "action": "Heartbeat",
            **telemetry.emf({"MessagesProcessed": 1}, {"Stage": "local", "Action": "Heartbeat"}),
        },
        None,
        None,
    )
    line = telemetry.HumanFormatter().format(record)
    assert "\n" not in line and not line.startswith("{")
    assert line.split()[1:4] == ["INFO", "CP-1", "answered"]
    assert "messageId=m-7" in line and "action=Heartbeat" in line
    assert "_aws" not in line and "MessagesProcessed" not in line and "Stage" not in line
