"""`make run` stops everything it started (issue 12): on SIGINT, SIGTERM and SIGHUP to its process group,
started as a background job (SIGINT ignored) or not, and when make itself is killed with SIGKILL: no
process of it remains and its ports are free again, within 5 s (the one timing promise tested here).
A port already in use is said plainly and `make run` fails."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests import figures
from tests.live_server import REPO, free_port, live_env

STOP_WITHIN_SECONDS = 5
# The dependencies are installed already (make test built them): do not let a test rebuild a shared venv.
MAKE_RUN = ["make", "--no-print-directory", "-o", ".venv/.installed", "-o", "node_modules/.installed", "run"]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has stopped; it only waits for its parent to collect it


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class MakeRun:
    def __init__(self, tmp_path: Path, ignore_sigint: bool, **env: str) -> None:
        environment = live_env(**{"PORT": str(free_port()), "LOCAL_DATA_DIR": str(tmp_path / "dynamodb"), **env})
        self.port, self.ocpp_port = int(environment["PORT"]), int(environment["OCPP_PORT"])
        # Like a job a script puts in the background: SIGINT ignored, its own process group.
        preexec = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None
        self.make = subprocess.Popen(
            MAKE_RUN,
            cwd=REPO,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=preexec,
        )
        self.output: list[str] = []
        self.up = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.make.stdout:
            self.output.append(line)
            if "is running offline" in line:
                self.up.set()

    def wait_up(self) -> set[int]:
        assert self.up.wait(180), "".join(self.output)[-3000:]
        processes = descendants(self.make.pid)
        commands = " ".join(Path(f"/proc/{pid}/cmdline").read_text() for pid in processes)
        assert "run_local.py" in commands and "chalice" in commands and "java" in commands, commands
        assert listening(self.port) and listening(self.ocpp_port)
        return processes | {self.make.pid}

    def pid_of(self, program: str) -> int:
        (pid,) = [pid for pid in descendants(self.make.pid) if program in Path(f"/proc/{pid}/cmdline").read_text()]
        return pid

    def stopped_within(self, processes: set[int], seconds: float) -> float:
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            if not any(alive(pid) for pid in processes) and not listening(self.port) and not listening(self.ocpp_port):
                return time.monotonic() - start
            time.sleep(0.05)
        left = {pid: Path(f"/proc/{pid}/cmdline").read_text() for pid in processes if alive(pid)}
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        raise AssertionError(
            f"still running after {seconds} s: {left}; listening: {listening(self.port)}, {listening(self.ocpp_port)}"
        )


def _group(signum: int):
    return lambda run: os.killpg(run.make.pid, signum)


@pytest.mark.parametrize(
    "ignore_sigint,stop",
    [
        (True, _group(signal.SIGTERM)),
        (True, _group(signal.SIGHUP)),
        (False, _group(signal.SIGINT)),
        (True, lambda run: os.kill(run.make.pid, signal.SIGKILL)),
        (True, lambda run: os.kill(run.pid_of("run_local.py"), signal.SIGKILL)),
    ],
    ids=[
        "SIGTERM-to-the-group",
        "SIGHUP-to-the-group",
        "SIGINT-to-the-group",
        "SIGKILL-to-make",
        "SIGKILL-to-run_local",
    ],
)
def test_make_run_stops_everything_it_started(request, tmp_path, ignore_sigint, stop):
    run = MakeRun(tmp_path, ignore_sigint)
    processes = run.wait_up()
    stop(run)
    seconds = run.stopped_within(processes, STOP_WITHIN_SECONDS)
    run.make.wait(timeout=5)
    figures.add("make-run-stop-ms", **{request.node.callspec.id: round(seconds * 1000)})


def test_a_port_in_use_is_said_and_make_run_fails(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = MakeRun(tmp_path, ignore_sigint=True, PORT=str(port))
        assert run.make.wait(timeout=60) != 0
    output = "".join(run.output)
    assert f"Port {port} (PORT) on 127.0.0.1 is already in use" in output, output
    assert not descendants(run.make.pid)
