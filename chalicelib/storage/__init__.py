"""DynamoDB: the only code that talks to it, one module per aggregate.

- dynamo: the client, the table names, (de)serialisation, the expression builder
- operations: the requests (conditional updates, transactions, batches, pages), refusals made answers
- guard: the guard on the charge point every write that applies an OCPP message carries, and its outcomes
- charge_points, charger_config, charging_profiles, sessions, meter_history, early_stops, stats,
  energy_snapshots, export_jobs, commands, reservations, id_tags, sites, simulator_state: the aggregates
- tables: table creation from .chalice/resources.json, and the health probe

Callers use the package (`storage.touch_charge_point(...)`): everything public is re-exported here.
Request counts per operation are in the docstrings and are pinned by tests/test_request_budget.py.
"""

from chalicelib.storage.charge_points import (
    CHARGE_POINT_FLEET,
    SESSION_POINTER,
    apply_status,
    create_charge_point,
    get_charge_point,
    get_password_hash,
    list_charge_points,
    newest_sessions,
    note_charge_point,
    online_connections,
    put_password_hash,
    set_online,
    touch_charge_point,
)
from chalicelib.storage.charger_config import (
    get_charge_point_and_configuration,
    get_configuration,
    put_configuration,
    set_availability,
    set_configuration_key,
)
from chalicelib.storage.charging_profiles import change_charging_profiles, get_charge_point_and_profiles
from chalicelib.storage.commands import (
    create_command,
    delete_waiting,
    get_command,
    hand_over_command,
    list_commands,
    outbox,
    put_waiting,
    release_command_slot,
    update_command,
)
from chalicelib.storage.dynamo import (
    READ_OPERATIONS,
    Tables,
    ValueRefused,
    client,
    counting_capacity,
    counting_requests,
    from_item,
    item_bytes,
    reset_client,
    tables,
    timing_requests,
    to_item,
)
from chalicelib.storage.early_stops import EARLY_STOP_PREFIX, forget_early_stop, get_early_stop, keep_early_stop
from chalicelib.storage.energy_snapshots import (
    active_session_ids,
    claim_live,
    live_figure,
    put_snapshot,
    shard_counters,
    snapshots_between,
    store_live,
)
from chalicelib.storage.export_jobs import claim_job, create_job, get_job, hand_over_job, update_job
from chalicelib.storage.guard import Outcome, Result, Stamp, classify
from chalicelib.storage.id_tags import (
    active_transaction_update,
    changed_since,
    count_live,
    delete_id_tag,
    get_id_tag,
    list_id_tags,
    note_local_list,
    put_id_tag,
    registry_version,
)
from chalicelib.storage.meter_history import (
    HISTORY_EXPIRES_AT,
    ExpiryScan,
    flush_buffer,
    history_items,
    keep_history,
    scan_without_expiry,
    set_expiry_if_missing,
)
from chalicelib.storage.operations import Page
from chalicelib.storage.reservations import (
    OPEN_RESERVATION,
    RESERVATION_FLEET,
    create_reservation,
    drop_reservation_pointer,
    get_reservation,
    list_reservations,
    move_reservation,
    reservation_pointer,
)
from chalicelib.storage.schema import TABLES, TableSpec, ensure_tables, ping, table_specs
from chalicelib.storage.sessions import (
    NOT_ACCEPTED_MARK,
    SESSION_FLEET,
    attach_late_samples,
    clear_not_accepted,
    complete_session,
    completed_sessions,
    get_session,
    get_sessions,
    keep_signed_values,
    list_sessions,
    load_sessions,
    mark_not_accepted,
    note_session,
    note_session_once,
    record_meter,
    signed_values_kept,
    start_session,
)
from chalicelib.storage.simulator_state import (
    acquire_lease,
    give_up_lease,
    load_simulator_items,
    put_simulator_item,
    release_lease,
    save_simulator_items,
    wait_on_lease,
)
from chalicelib.storage.sites import (
    charge_points_by_id,
    get_site,
    list_sites,
    note_site_default,
    put_site,
    save_allocation,
    sessions_by_id,
    site_of,
)
from chalicelib.storage.stats import add_to_stats, read_stats

__all__ = [
    # the shared machinery
    "Page",
    "Tables",
    "ValueRefused",
    "client",
    "READ_OPERATIONS",
    "counting_capacity",
    "item_bytes",
    "counting_requests",
    "from_item",
    "reset_client",
    "tables",
    "timing_requests",
    "to_item",
    # the guard
    "Outcome",
    "Result",
    "Stamp",
    "classify",
    # charge points
    "CHARGE_POINT_FLEET",
    "SESSION_POINTER",
    "apply_status",
    "create_charge_point",
    "get_charge_point",
    "get_password_hash",
    "list_charge_points",
    "newest_sessions",
    "note_charge_point",
    "online_connections",
    "put_password_hash",
    "set_online",
    "touch_charge_point",
    # what chargers answered about their settings
    "get_charge_point_and_configuration",
    "get_configuration",
    "put_configuration",
    "set_availability",
    "set_configuration_key",
    # the charging profiles set on each charger
    "change_charging_profiles",
    "get_charge_point_and_profiles",
    # sessions and the stops heard before their start
    "SESSION_FLEET",
    "attach_late_samples",
    "complete_session",
    "completed_sessions",
    # the export jobs
    "create_job",
    "get_job",
    "claim_job",
    "hand_over_job",
    "update_job",
    "get_session",
    "get_sessions",
    "NOT_ACCEPTED_MARK",
    "clear_not_accepted",
    "keep_signed_values",
    "list_sessions",
    "load_sessions",
    "mark_not_accepted",
    "note_session",
    "note_session_once",
    "record_meter",
    "signed_values_kept",
    "start_session",
    "EARLY_STOP_PREFIX",
    "forget_early_stop",
    "get_early_stop",
    "keep_early_stop",
    # meter history
    "HISTORY_EXPIRES_AT",
    "history_items",
    "flush_buffer",
    "keep_history",
    "ExpiryScan",
    "scan_without_expiry",
    "set_expiry_if_missing",
    # stats, and the fleet energy snapshots beside them
    "add_to_stats",
    "read_stats",
    "active_session_ids",
    "claim_live",
    "live_figure",
    "put_snapshot",
    "shard_counters",
    "snapshots_between",
    "store_live",
    # remote commands
    "create_command",
    "delete_waiting",
    "hand_over_command",
    "put_waiting",
    "get_command",
    "list_commands",
    "outbox",
    "release_command_slot",
    "update_command",
    # reservations
    "OPEN_RESERVATION",
    "RESERVATION_FLEET",
    "create_reservation",
    "drop_reservation_pointer",
    "get_reservation",
    "list_reservations",
    "move_reservation",
    "reservation_pointer",
    # the idTag registry and the local lists
    "active_transaction_update",
    "changed_since",
    "delete_id_tag",
    "get_id_tag",
    "count_live",
    "list_id_tags",
    "note_local_list",
    "put_id_tag",
    "registry_version",
    # sites and their allocation
    "charge_points_by_id",
    "get_site",
    "list_sites",
    "note_site_default",
    "put_site",
    "save_allocation",
    "sessions_by_id",
    "site_of",
    # the simulator's memory and lease
    "acquire_lease",
    "give_up_lease",
    "load_simulator_items",
    "put_simulator_item",
    "release_lease",
    "save_simulator_items",
    "wait_on_lease",
    # tables
    "TABLES",
    "TableSpec",
    "ensure_tables",
    "ping",
    "table_specs",
]
