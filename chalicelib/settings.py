"""Configuration, read once from environment variables (set per stage in .chalice/config.json).

Every variable, its default and its meaning is listed in docs/configuration.md; a bad value
fails loudly at start-up with the variable's name rather than deep inside a request.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache


class SettingsError(ValueError):
    """A configuration variable holds a value the system cannot use."""


BOOT_POLICIES = ("accept-all", "allow-list")
BOOT_REFUSALS = ("Pending", "Rejected")
OCPP_AUTH_MODES = ("none", "basic")
OPERATOR_AUTH_MODES = ("none", "api-key", "iam")
UNKNOWN_ID_TAG_POLICIES = ("accept", "invalid")


@dataclass(frozen=True)
class Tariff:
    price_per_kwh: Decimal
    session_fee: Decimal
    currency: str


@dataclass(frozen=True)
class Settings:
    stage: str
    charge_points_table: str
    sessions_table: str
    simulator_table: str
    stats_table: str
    commands_table: str
    reservations_table: str
    id_tags_table: str
    history_table: str
    sites_table: str
    event_bus_name: str
    boot_policy: str
    known_charge_points: tuple[str, ...]
    boot_refusal: str
    unknown_id_tags: str
    local_list_max_length: int
    heartbeat_interval: int
    tariff: Tariff
    stats_shards: int
    max_clock_drift_seconds: int
    pagination_secret: str
    fleet_size: int
    simulator_speed: float
    simulator_seed: int | None
    simulator_interval_seconds: float
    schedule_minutes: int
    ocpp_port: int  # 0: local mode starts no WebSocket gateway
    ocpp_host: str
    ocpp_auth: str
    ocpp_max_frame_bytes: int
    operator_auth: str
    cors_allow_origin: str
    command_timeout_seconds: int
    outbox_poll_seconds: float
    diagnostics_bucket: str  # empty: uploads go to diagnostics_dir through this app's own route
    diagnostics_dir: str
    diagnostics_max_bytes: int
    export_part_bytes: int  # an export past one part goes to a file (S3 multipart: 5 MiB at least)
    export_inline_seconds: float  # an export not done within this is handed to the export worker (202)
    meter_history_retention_days: int  # 0: meter history is kept forever
    fleet_energy_live_seconds: int  # how old the shared live figure of /stats/energy may get

    def __post_init__(self) -> None:
        # Production is never left open by a forgotten variable.
        if self.stage == "prod":
            for name, value, open_value in (
                ("OPERATOR_AUTH", self.operator_auth, "none"),
                ("OCPP_AUTH", self.ocpp_auth, "none"),
                ("CORS_ALLOW_ORIGIN", self.cors_allow_origin, "*"),
            ):
                if value == open_value:
                    raise SettingsError(f"{name} must not be {open_value!r} in stage prod")

    def boot_status(self, charge_point_id: str) -> str:
        """Registration status a BootNotification from this charge point receives."""
        if self.boot_policy == "accept-all":
            return "Accepted"
        if any(fnmatch.fnmatchcase(charge_point_id, pattern) for pattern in self.known_charge_points):
            return "Accepted"
        return self.boot_refusal


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, default).strip()
    if not value:
        raise SettingsError(f"{name} must not be empty")
    return value


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float, kind: type = float) -> float:
    raw = env.get(name, str(default))
    try:
        value = kind(raw)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise SettingsError(f"{name} must be {noun}, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    return int(_number(env, name, default, low, high, int))


def _decimal(env: Mapping[str, str], name: str, default: str) -> Decimal:
    raw = env.get(name, default)
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise SettingsError(f"{name} must be a decimal number, got {raw!r}") from None
    if not value.is_finite() or value < 0:
        raise SettingsError(f"{name} must be zero or more, got {raw!r}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, default)
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _list(env: Mapping[str, str], name: str, default: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, default).split(",") if item.strip())


def load(env: Mapping[str, str]) -> Settings:
    stage = _text(env, "STAGE", "local")
    return Settings(
        stage=stage,
        charge_points_table=_text(env, "CHARGE_POINTS_TABLE", f"ev-{stage}-charge-points"),
        sessions_table=_text(env, "SESSIONS_TABLE", f"ev-{stage}-charging-sessions"),
        simulator_table=_text(env, "SIMULATOR_TABLE", f"ev-{stage}-simulator"),
        stats_table=_text(env, "STATS_TABLE", f"ev-{stage}-stats"),
        commands_table=_text(env, "COMMANDS_TABLE", f"ev-{stage}-commands"),
        reservations_table=_text(env, "RESERVATIONS_TABLE", f"ev-{stage}-reservations"),
        id_tags_table=_text(env, "ID_TAGS_TABLE", f"ev-{stage}-id-tags"),
        history_table=_text(env, "HISTORY_TABLE", f"ev-{stage}-meter-history"),
        sites_table=_text(env, "SITES_TABLE", f"ev-{stage}-sites"),
        event_bus_name=_text(env, "EVENT_BUS_NAME", f"ev-bus-{stage}"),
        boot_policy=_choice(env, "BOOT_POLICY", "allow-list", BOOT_POLICIES),
        known_charge_points=_list(env, "KNOWN_CHARGE_POINTS", "CP-DEMO-*"),
        boot_refusal=_choice(env, "BOOT_UNKNOWN_STATUS", "Rejected", BOOT_REFUSALS),
        # Unset means the safe answer: a tag the registry does not know is Invalid.
        unknown_id_tags=_choice(env, "UNKNOWN_ID_TAGS", "invalid", UNKNOWN_ID_TAG_POLICIES),
        # A SendLocalList of 600 entries of the longest kind (153 bytes each) stays under a command's 100 KB.
        local_list_max_length=_int(env, "LOCAL_LIST_MAX_LENGTH", 500, 1, 600),
        heartbeat_interval=_int(env, "HEARTBEAT_INTERVAL_SECONDS", 60, 10, 86400),
        tariff=Tariff(
            price_per_kwh=_decimal(env, "TARIFF_PRICE_PER_KWH", "0.30"),
            session_fee=_decimal(env, "TARIFF_SESSION_FEE", "0.00"),
            currency=_text(env, "TARIFF_CURRENCY", "EUR"),
        ),
        stats_shards=_int(env, "STATS_SHARDS", 16, 1, 100),
        max_clock_drift_seconds=_int(env, "MAX_CLOCK_DRIFT_SECONDS", 300, 0, 86400),
        pagination_secret=_text(env, "PAGINATION_SECRET", f"ev-{stage}-pagination"),
        fleet_size=_int(env, "FLEET_SIZE", 3, 0, 100000),
        simulator_speed=_number(env, "SIMULATOR_SPEED", 1.0, 0.1, 1000.0),
        simulator_seed=_int(env, "SIMULATOR_SEED", 0, 0, 2**63) if env.get("SIMULATOR_SEED") else None,
        simulator_interval_seconds=_number(env, "SIMULATOR_INTERVAL_SECONDS", 5.0, 0.0, 3600.0),
        schedule_minutes=_int(env, "SIMULATOR_SCHEDULE_MINUTES", 2, 1, 1440),
        ocpp_port=_int(env, "OCPP_PORT", 9000, 0, 65535),
        ocpp_host=_text(env, "OCPP_HOST", "127.0.0.1"),
        ocpp_auth=_choice(env, "OCPP_AUTH", "none", OCPP_AUTH_MODES),
        # SteVe's limit: an hour of a StopTransaction's transactionData is ~95 KB.
        ocpp_max_frame_bytes=_int(env, "OCPP_MAX_FRAME_BYTES", 8 * 1024 * 1024, 64 * 1024, 64 * 1024 * 1024),
        operator_auth=_choice(env, "OPERATOR_AUTH", "none", OPERATOR_AUTH_MODES),
        cors_allow_origin=_text(env, "CORS_ALLOW_ORIGIN", "*"),
        command_timeout_seconds=_int(env, "COMMAND_TIMEOUT_SECONDS", 60, 1, 3600),
        outbox_poll_seconds=_number(env, "OUTBOX_POLL_SECONDS", 0.5, 0.05, 60.0),
        diagnostics_bucket=env.get("DIAGNOSTICS_BUCKET", "").strip(),
        diagnostics_dir=_text(env, "DIAGNOSTICS_DIR", ".local/diagnostics"),
        diagnostics_max_bytes=_int(env, "DIAGNOSTICS_MAX_BYTES", 5 * 1024 * 1024, 1024, 5 * 1024 * 1024 * 1024),
        # S3's smallest part but the last; lower only offline or in tests (S3 refuses the upload then).
        export_part_bytes=_int(env, "EXPORT_PART_BYTES", 5 * 1024 * 1024, 1024, 5 * 1024 * 1024 * 1024),
        # Well under the API function's 25 s: past it the API answers 202 and the worker writes the file.
        export_inline_seconds=_number(env, "EXPORT_INLINE_SECONDS", 8.0, 0.0, 20.0),
        # About 13 months: a year of monthly invoices, the last one disputable for a month more. The
        # sessions (the billing records, their signed values among them) are kept whatever this says.
        meter_history_retention_days=_int(env, "METER_HISTORY_RETENTION_DAYS", 400, 0, 3650),
        # A live total costs a snapshot's reads (at 10,000 active sessions about 140 requests and 12,700 read
        # units), so requests share one: at most a minute old, it serves every viewer's ask (the dashboard
        # asks once a minute) at one total a minute however many watch, while the interval under way (a bar
        # 5 minutes wide) lags by at most a fifth of it. Beyond the interval, a snapshot makes it stale anyway.
        fleet_energy_live_seconds=_int(env, "FLEET_ENERGY_LIVE_SECONDS", 60, 1, 300),
    )


@lru_cache(maxsize=1)
def get() -> Settings:
    """The process's settings; tests that change the environment call get.cache_clear()."""
    return load(os.environ)
