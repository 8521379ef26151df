"""Monitoring: one JSON object per log line, and CloudWatch metrics in Embedded Metric Format (EMF).

Every line of the app's loggers ("ev.*") carries chargePointId and messageId (null when a line is not
about one message), so CloudWatch Logs Insights can follow one charger or one message across functions.
A line that reports a counted fact also carries the metric: CloudWatch extracts metrics from any log
line that holds an `_aws` block, so one line is both the log and the metric (half the log volume of a
separate metrics line, and log ingestion is what monitoring costs at fleet size).

Written by hand rather than with aws-lambda-powertools: EMF is a small documented JSON shape, and
powertools doubles the deployment archive and adds to every cold start (figures in docs/deployment.md).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

NAMESPACE = "EVCharging"
LOGGER = "ev"
# Metric -> its CloudWatch unit. chargePointId is never a dimension: each value would be a separate
# custom metric, billed monthly; it is a field of the line instead, for Logs Insights.
UNITS = {
    "MessagesProcessed": "Count",
    "MessagesRejected": "Count",
    "SessionsStarted": "Count",
    "SessionsCompleted": "Count",
    "EnergyDeliveredWh": "None",  # CloudWatch has no energy unit
}


class JsonFormatter(logging.Formatter):
    """A record as one JSON object. The message may be a dict, or a string holding a JSON object
    (what the app's modules log), or plain text."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        line = {
            "level": record.levelname,
            "logger": record.name,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "chargePointId": None,
            "messageId": None,
            **fields,
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"), default=str)


class HumanFormatter(logging.Formatter):
    """A record as one short line for a terminal (local mode): time, level, charger, event, the other
    fields as key=value. The EMF block is left out: nothing reads metrics locally."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        metrics = fields.get("_aws", {}).get("CloudWatchMetrics", [{}])[0]
        hidden = {
            "_aws",
            "Stage",
            *metrics.get("Dimensions", [[]])[0],
            *(m["Name"] for m in metrics.get("Metrics", [])),
        }
        head = [
            time.strftime("%H:%M:%S", time.localtime(record.created)),
            f"{record.levelname:<7}",
            fields.get("chargePointId") or "-",
            str(fields.get("event") or fields.get("message") or ""),
        ]
        rest = " ".join(
            f"{key}={value}"
            for key, value in fields.items()
            if key not in hidden and key not in ("chargePointId", "event", "message") and value is not None
        )
        line = " ".join(head) + (f"  {rest}" if rest else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """A record's message as fields: a dict as it is, a string holding a JSON object parsed, else the text."""
    if record.args:
        return {"message": record.getMessage()}
    message = record.msg
    if isinstance(message, dict):
        return message
    text = str(message)
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    return {"message": text}


class StdoutHandler(logging.Handler):
    """Writes to the current sys.stdout (Lambda sends stdout to CloudWatch Logs, one line per event,
    and parses EMF only from lines that are pure JSON: no runtime prefix)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
        except Exception:  # a log line must never fail the message it reports on
            self.handleError(record)


def configure(level: int = logging.INFO, human: bool = False) -> None:
    """Send the app's loggers to stdout as JSON lines, or short human lines for a terminal (once;
    later calls change nothing)."""
    logger = logging.getLogger(LOGGER)
    if any(isinstance(handler, StdoutHandler) for handler in logger.handlers):
        return
    handler = StdoutHandler()
    handler.setFormatter(HumanFormatter() if human else JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    # In Lambda the runtime's root handler would print every line again, prefixed (and no longer pure
    # JSON); elsewhere the root's handlers are the developer's (pytest's caplog, a console).
    logger.propagate = "AWS_LAMBDA_FUNCTION_NAME" not in os.environ


def emf(metrics: dict[str, float], dimensions: dict[str, str]) -> dict:
    """The fields that make a log line an EMF record: the `_aws` block, the dimensions, the values."""
    for name in metrics:
        if name not in UNITS:
            raise ValueError(f"unknown metric {name!r}: add it to telemetry.UNITS")
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [sorted(dimensions)],
                    "Metrics": [{"Name": name, "Unit": UNITS[name]} for name in metrics],
                }
            ],
        },
        **dimensions,
        **metrics,
    }


def event(
    logger: logging.Logger,
    level: int,
    name: str,
    charge_point_id: str | None,
    message_id: str | int | float | None,  # as the charger sent it (ocpp_frames.UniqueId)
    metrics: dict[str, float] | None = None,
    dimensions: dict[str, str] | None = None,
    **fields: Any,
) -> None:
    """One line about one message; with metrics, also the EMF record for them. Dimensions always
    include the stage, so dev and prod never mix on a graph."""
    line: dict[str, Any] = {"event": name, "chargePointId": charge_point_id, "messageId": message_id, **fields}
    if metrics:
        from chalicelib.settings import get as get_settings

        line.update(emf(metrics, {"Stage": get_settings().stage, **(dimensions or {})}))
    logger.log(level, line)
