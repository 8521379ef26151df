"""How many chargers one gateway process holds: DynamoDB Local, the gateway (`python -m chalicelib.ocpp_gateway`)
and the load generator (`python -m scripts.ws_chargers`) as three processes on this machine, and what each of
them costs.

    python -m scripts.capacity --count 10000 --interval 300 --hold 600 --reconnect-storm [--out DIR]

The chargers all come at once (the boot storm), run until `--hold` seconds after the last one booted, then
(with --reconnect-storm) every socket drops and reconnects within 60 s, and they run `--after` seconds more.
Printed as one JSON line: the load generator's own closing line (calls, answers, latency), the gateway's
memory (idle, with every charger connected: per connection), each process's CPU seconds (the gateway's event
loop thread apart from its worker threads: transport apart from handler), the sessions recorded against the
transactions the chargers started, and the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from chalicelib import local_runtime, settings, storage

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_SECONDS = 5.0


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _cpu_seconds(path: str) -> float:
    """utime + stime of /proc/PID or /proc/PID/task/TID."""
    fields = Path(path, "stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def gateway_cpu(pid: int) -> dict[str, float]:
    """The gateway's CPU seconds: its main thread (the event loop: sockets, frames, JSON) and the rest (the
    worker threads: the handler, botocore, the HTTP to DynamoDB)."""
    total = _cpu_seconds(f"/proc/{pid}")
    loop = _cpu_seconds(f"/proc/{pid}/task/{pid}")
    return {"loop": loop, "workers": total - loop}


def _sockets_established(port: int) -> int:
    """TCP connections established to the gateway's port (its /health would queue behind the frames)."""
    local = f":{port:04X}"
    with open("/proc/net/tcp") as table:
        rows = (line.split() for line in table)
        return sum(1 for row in rows if row[1].endswith(local) and row[3] == "01")


def _fresh_tables() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    names = {
        attribute.upper(): f"cap-{attribute.removesuffix('_table')}-{suffix}" for attribute in storage.TABLES.values()
    }
    os.environ.update(names)
    settings.get.cache_clear()
    storage.reset_client()
    storage.ensure_tables()
    return names


class Sampler(threading.Thread):
    """Every SAMPLE_SECONDS: the gateway's RSS and connected chargers; the peak RSS while all are connected."""

    def __init__(self, gateway_pid: int, port: int, count: int, log: Path) -> None:
        super().__init__(daemon=True)
        self.gateway_pid, self.port, self.count, self.log = gateway_pid, port, count, log
        self.full_rss_kb: list[int] = []
        self.first_tenth: tuple[int, int] | None = None  # (connected, RSS KB) once a tenth is connected
        self.stop = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        with self.log.open("w") as out:
            while not self.stop.wait(SAMPLE_SECONDS):
                connected = _sockets_established(self.port)
                rss = _status_kb(self.gateway_pid, "VmRSS")
                if connected == self.count:
                    self.full_rss_kb.append(rss)
                elif self.first_tenth is None and self.count // 10 <= connected < self.count:
                    self.first_tenth = (connected, rss)
                sample = {"t": round(time.monotonic() - started), "connected": connected, "rssKb": rss}
                out.write(json.dumps({**sample, "load": os.getloadavg()[0], **gateway_cpu(self.gateway_pid)}) + "\n")
                out.flush()


def run(args: argparse.Namespace) -> dict[str, Any]:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, value in (("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "local")):
        os.environ.setdefault(name, value)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.update({"LOCAL_RUNTIME": "off", "BOOT_POLICY": "accept-all", "UNKNOWN_ID_TAGS": "accept"})
    os.environ["HEARTBEAT_INTERVAL_SECONDS"] = str(args.interval)
    database, endpoint = local_runtime.start_dynamodb_local(None)
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
    _fresh_tables()
    port = local_runtime.free_port()
    gateway = subprocess.Popen(
        [sys.executable, "-m", "chalicelib.ocpp_gateway", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=(out / "gateway.log").open("w"),
        text=True,
    )
    try:
        if gateway.stdout is None or "listening on" not in gateway.stdout.readline():
            raise RuntimeError("the gateway did not start")
        threading.Thread(target=gateway.stdout.read, daemon=True).start()  # a full pipe would stop it
        time.sleep(2)
        idle_kb = _status_kb(gateway.pid, "VmRSS")
        cpu_before = {"gateway": gateway_cpu(gateway.pid), "dynamodb": _cpu_seconds(f"/proc/{database.pid}")}
        sampler = Sampler(gateway.pid, port, args.count, out / "samples.jsonl")
        sampler.start()
        duration = args.max_seconds
        command = [
            sys.executable,
            "-m",
            "scripts.ws_chargers",
            "--url",
            f"ws://127.0.0.1:{port}/ocpp",
            "--count",
            str(args.count),
            "--duration",
            str(duration),
            "--meter-interval",
            str(args.interval),
            "--tick",
            str(args.tick),
            "--prefix",
            "CP-CAP-",
            "--hold",
            str(args.hold),
            *(
                ["--reconnect-storm", "--storm-spread", str(args.storm_spread), "--after", str(args.after)]
                if args.reconnect_storm
                else []
            ),
        ]
        started = time.monotonic()
        generator = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, check=True, timeout=duration + 600
        )
        (out / "generator.log").write_text(generator.stderr)
        seconds = time.monotonic() - started
        sampler.stop.set()
        loadgen_cpu = _children_cpu_seconds()
        cpu = {
            "gatewayLoop": round(gateway_cpu(gateway.pid)["loop"] - cpu_before["gateway"]["loop"], 1),
            "gatewayWorkers": round(gateway_cpu(gateway.pid)["workers"] - cpu_before["gateway"]["workers"], 1),
            "dynamodbLocal": round(_cpu_seconds(f"/proc/{database.pid}") - cpu_before["dynamodb"], 1),
            "loadGenerator": round(loadgen_cpu, 1),
        }
        summary = json.loads(generator.stdout.strip().splitlines()[-1])
        full_kb = sorted(sampler.full_rss_kb)
        time.sleep(5)  # every close recorded
        totals = storage.read_stats(settings.get().stats_shards)
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)
        database.terminate()
        database.wait(timeout=30)
    result = {
        "command": " ".join(["python -m scripts.capacity", *sys.argv[1:]]),
        "generatorCommand": " ".join(command[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "loadAverageAfter": [round(x, 2) for x in os.getloadavg()],
        "wallSeconds": round(seconds),
        **summary,
        "gatewayIdleRssMb": round(idle_kb / 1024, 1),
        "gatewayConnectedRssMb": round(full_kb[-1] / 1024, 1) if full_kb else None,
        "kbPerConnection": round((full_kb[-1] - idle_kb) / args.count, 1) if full_kb else None,
        # The same between a tenth and all of them connected: without the process's warm-up (boto3's
        # models, the threads' arenas), which the figure above spreads over the connections.
        "kbPerConnectionMarginal": (
            round((full_kb[-1] - sampler.first_tenth[1]) / (args.count - sampler.first_tenth[0]), 1)
            if full_kb and sampler.first_tenth
            else None
        ),
        "cpuSeconds": cpu,
        "sessionsRecorded": totals.get("activeSessions", 0) + totals.get("completedSessions", 0),
        "sessionsCompleted": totals.get("completedSessions", 0),
        "chargePoints": totals.get("totalChargePoints", 0),
        "rejectedMessages": totals.get("rejectedMessages", 0),
    }
    (out / "result.json").write_text(json.dumps(result, indent=2))
    return result


def _children_cpu_seconds() -> float:
    """CPU seconds of this process's waited-for children: the load generator (the others are still running)."""
    times = os.times()
    return times.children_user + times.children_system


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=300, help="heartbeat and meter interval, seconds")
    parser.add_argument("--hold", type=float, default=600, help="seconds to run after the last charger booted")
    parser.add_argument("--max-seconds", type=float, default=3600, help="the run's cap, boot storm included")
    parser.add_argument("--reconnect-storm", action="store_true")
    parser.add_argument("--storm-spread", type=float, default=60)
    parser.add_argument("--after", type=float, default=60, help="seconds to run after the storm's spread")
    parser.add_argument("--tick", type=float, default=5, help="the load generator's tick (see ws_chargers)")
    parser.add_argument("--out", default="/tmp/capacity", help="logs and samples")
    print(json.dumps(run(parser.parse_args(argv))))  # noqa: T201 (the result line)


if __name__ == "__main__":
    main()
