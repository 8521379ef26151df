"""The simulated fleet on the bus: its ticks, its inbox for the central system's answers, and the lease
that lets one of them run at a time. They meet the central system only through OCPP messages on the bus.
What one charger does is simulated_charger.py (its physics charger_model.py, its payloads
charger_messages.py).

Each charger lives in real time: a tick advances it by the wall-clock time since its last tick (times
SIMULATOR_SPEED), stepping through cars arriving, authorizing, charging along their charging curve,
pausing, leaving, and the odd fault. Its memory (meter registers, cars, pending calls) is kept in the
simulator table between ticks.

Answers come back asynchronously: the central system publishes them on the bus, and the simulator's
inbox handler has the charger react as soon as one arrives, as a real charger does: a boot accepted, it
sends its charger information and every connector's status; a StartTransaction answered, the messages it
queued for that transaction go out. The answer is filed under the charger and its uniqueId first, so it
is never lost: while a tick or another reaction holds the simulator's lease the answer waits on the lease
and that holder has the charger react before it lets go, and should that fail the charger's next tick
reads it. An answer nothing waits for (late, or delivered twice) changes nothing. Until a
StartTransaction is answered the charger queues that transaction's MeterValues and StopTransaction, as
real chargers do, and sends them, in order, once it knows the transactionId. The in-process bus offline
follows the same path, so both behave alike.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from chalicelib import charger_commands, charger_trigger, events, ocpp_frames, storage
from chalicelib import settings as settings_module
from chalicelib.charger_model import new_charger
from chalicelib.charger_trigger import FORCEABLE
from chalicelib.ocpp_frames import format_timestamp as iso
from chalicelib.ocpp_frames import parse_timestamp as at
from chalicelib.simulated_charger import Charger, Outgoing

LEASE = "#tick-lease"
LEASE_SECONDS = 120
LEASE_TRIES = 5  # an answer's inbox, between taking the lease and waiting on it, when it keeps changing hands
FILED_SECONDS = 86400
# A charger remembers its answers to the last few commands: EventBridge may deliver one twice, and a charger
# answers a repeated CALL again rather than obey it twice.
REMEMBERED_ANSWERS = 20


class TickBusy(RuntimeError):
    """Another tick holds the lease."""


class UnknownChargePoint(LookupError):
    pass


class UnknownMessageType(ValueError):
    pass


def fleet_ids(size: int) -> list[str]:
    return [f"CP-DEMO-{n:03d}" for n in range(1, size + 1)]


def reply_key(charge_point_id: str, unique_id: str) -> str:
    return f"{charge_point_id}#reply#{unique_id}"


def command_key(charge_point_id: str, unique_id: str) -> str:
    return f"{charge_point_id}#command#{unique_id}"


# --- the fleet -----------------------------------------------------------------------------------


def _rng(settings: settings_module.Settings, charge_point_id: str, moment: str) -> random.Random:
    """Seeded: the same seed, charger and state give the same behaviour, so a simulated day repeats
    (and a tick replayed after a failed save sends the very same messages, which the central system
    recognises)."""
    if settings.simulator_seed is None:
        return random.Random()
    return random.Random(f"{settings.simulator_seed}:{charge_point_id}:{moment}")


def _load(ids: list[str], now: datetime, settings: settings_module.Settings) -> tuple[dict[str, dict], dict[str, dict]]:
    items = storage.load_simulator_items(ids)
    states = {}
    for number, charge_point_id in enumerate(ids, start=1):
        item = items.get(charge_point_id)
        states[charge_point_id] = (
            json.loads(item["state"])
            if item
            else new_charger(charge_point_id, number, now, _rng(settings, charge_point_id, "new"))
        )
    wanted = [reply_key(cp, uid) for cp, state in states.items() for uid in state["awaiting"]]
    replies = storage.load_simulator_items(wanted) if wanted else {}
    return states, replies


def run_tick(
    now: datetime | None = None, charge_point_id: str | None = None, message_type: str | None = None
) -> list[dict]:
    """One tick: every charger of the fleet lives until now, or one charger sends one message type.
    Returns every frame it published, as {"chargePointId", "message"}."""
    settings = settings_module.get()
    now = now or ocpp_frames.now()
    ids = fleet_ids(settings.fleet_size)
    if charge_point_id is not None:
        if charge_point_id not in ids:
            raise UnknownChargePoint(
                f"{charge_point_id} is not a simulated charge point (fleet: {ids[0]}..{ids[-1]})"
                if ids
                else "the simulated fleet is empty (FLEET_SIZE=0)"
            )
        if message_type not in FORCEABLE:
            raise UnknownMessageType(f"messageType must be one of {', '.join(FORCEABLE)}")
        ids = [charge_point_id]
    holder = _take_lease()
    if holder is None:
        raise TickBusy("a simulator tick is already running")
    sent: list[Outgoing] = []
    with _holding(holder):
        states, replies = _load(ids, now, settings)
        consumed: list[str] = []
        for state in states.values():
            sent += _tick_charger(state, replies, now, settings, message_type, consumed)
        _publish_and_save(sent, states, consumed, now)
    return [{"chargePointId": out.charge_point_id, "message": out.frame} for out in sent]


def _take_lease() -> str | None:
    """The simulator's lease (one tick or reaction at a time): its holder id, or None when it is taken."""
    holder = str(uuid.uuid4())
    return holder if storage.acquire_lease(LEASE, holder, time.time(), LEASE_SECONDS) else None


@contextmanager
def _holding(holder: str) -> Iterator[None]:
    """Work under the lease. Before letting go, the chargers react to the answers that waited on it."""
    try:
        yield
        while waiting := storage.release_lease(LEASE, holder):
            _react(waiting)
    except BaseException:
        storage.give_up_lease(LEASE, holder)
        raise


def _publish_and_save(sent: list[Outgoing], states: dict[str, dict], deletes: list[str], now: datetime | None) -> None:
    """Publish first, then save: a save that fails leaves the state as it was, and the seeded replay sends
    the very same messages, which the central system recognises."""
    events.publish(_entries(sent, states, now))
    storage.save_simulator_items(
        [{"pk": cp, "state": json.dumps(state)} for cp, state in states.items()], deletes=deletes
    )


def _entries(sent: list[Outgoing], states: dict[str, dict], now: datetime | None) -> list[dict]:
    """The bus events for what the chargers sent. A charger sends one message after another: each gets its
    own millisecond after the charger's previous one, so that the central system can tell a redelivered
    older message from the latest one of the charger. A tick's start at now; a reaction (now None) follows
    the charger's last message."""
    entries = []
    for out in sent:
        state = states[out.charge_point_id]
        sent_at = now or at(state["wall"])
        if state.get("sentAt"):
            sent_at = max(sent_at, at(state["sentAt"]) + timedelta(milliseconds=1))
        state["sentAt"] = iso(sent_at)
        if out.answering is None:
            entries.append(events.call_entry(out.charge_point_id, out.frame, sent_at))
        else:
            entries.append(events.command_answer_entry(out.charge_point_id, out.frame, out.answering, sent_at))
    return entries


def _tick_charger(
    state: dict,
    replies: dict[str, dict],
    now: datetime,
    settings: settings_module.Settings,
    message_type: str | None,
    consumed: list[str],
) -> list[Outgoing]:
    """One charger's tick: the answers filed for it (those no reaction took), then its life until now. A
    forced message is sent alone."""
    charger = _charger(state, settings)
    if message_type:
        charger_trigger.force(charger, message_type)
    else:
        _read_answers(charger, replies, consumed, settings)
        charger.catch_up(now)
    return charger.out


def _charger(state: dict, settings: settings_module.Settings) -> Charger:
    return Charger(state, _rng(settings, state["id"], f"{state['clock']}#{state['seq']}"), settings.simulator_speed)


def _read_answers(
    charger: Charger, filed: dict[str, dict], consumed: list[str], settings: settings_module.Settings
) -> None:
    """The charger reacts to each filed answer to a message it still waits for, at its present moment."""
    state = charger.state
    for unique_id in list(state["awaiting"]):
        answer = filed.get(reply_key(state["id"], unique_id))
        if answer:
            # A random stream per answer: the same reaction whether answers come one by one or together.
            charger.rng = _rng(settings, state["id"], f"{state['clock']}#{state['seq']}")
            charger.receive(unique_id, json.loads(answer["message"]))
            consumed.append(answer["pk"])


def receive_reply(detail: dict) -> None:
    """The simulator's inbox: the charger reacts to the central system's answer now (see the module's
    docstring). After LEASE_TRIES hand-overs of the lease in a row the answer stays filed for the
    charger's next tick."""
    _file_and_serve(reply_key(detail["chargePointId"], detail["messageId"]), detail["message"])


def receive_command(detail: dict) -> None:
    """A command from the central system (its CALL): the charger lives until now, answers it on the bus,
    and what it does about it follows as its own CALLs. A command still filed after LEASE_TRIES hand-overs
    goes unanswered and times out at the central system, as one to a busy charger would."""
    _file_and_serve(command_key(detail["chargePointId"], detail["messageId"]), detail["message"])


def _file_and_serve(key: str, frame: list) -> None:
    """File a frame for its charger, then have the charger take it, taking turns with ticks and other
    reactions on the lease."""
    storage.put_simulator_item({"pk": key, "message": json.dumps(frame), "expiresAt": int(time.time()) + FILED_SECONDS})
    for _ in range(LEASE_TRIES):
        holder = _take_lease()
        if holder is not None:
            with _holding(holder):
                _react([key])
            return
        if storage.wait_on_lease(LEASE, key, time.time()):
            return


def _react(keys: list[str]) -> None:
    """Under the lease: the chargers react to the answers and commands filed under these keys. Every key is
    dropped afterwards: an answer nothing waits for any more (late, or delivered twice) changes nothing."""
    settings = settings_module.get()
    ids = sorted({key.split("#", 1)[0] for key in keys})
    filed = storage.load_simulator_items([*ids, *keys])
    reacted: dict[str, dict] = {}
    sent: list[Outgoing] = []
    consumed: list[str] = []
    for charge_point_id in ids:
        if charge_point_id not in filed:
            continue
        charger = _charger(json.loads(filed[charge_point_id]["state"]), settings)
        answered = len(consumed)
        _read_answers(charger, filed, consumed, settings)
        commands = [filed[k] for k in keys if k.startswith(command_key(charge_point_id, "")) and k in filed]
        _obey(charger, commands, consumed)
        if len(consumed) > answered:
            reacted[charge_point_id] = charger.state
            sent += charger.out
    _publish_and_save(sent, reacted, sorted(set(keys)), None)


def _obey(charger: Charger, commands: list[dict], consumed: list[str]) -> None:
    """The charger answers each command, in the order they were filed, after living until now: its answer
    goes out before what it does about the command. A Reset reboots it at once (no connection to reopen)."""
    if not commands:
        return
    charger.catch_up(ocpp_frames.now())
    remembered = charger.state.setdefault("answered", {})
    for item in commands:
        frame = json.loads(item["message"])
        position = len(charger.out)
        answer = remembered.get(frame[1]) or charger_commands.answer_frame(charger, frame)
        charger.out.insert(position, Outgoing(charger.state["id"], answer, frame[2]))
        remembered[frame[1]] = answer
        for old in list(remembered)[:-REMEMBERED_ANSWERS]:
            del remembered[old]
        consumed.append(item["pk"])
        if charger.rebooting:
            charger.boot(charger.moment)
