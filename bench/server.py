"""The real server, started the way scripts/run.sh starts it, and stopped however the run ends."""

import http.client
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from .context import ROOT, server_secret_key

APPLICATION = "auditlog.asgi:application"
ERROR_MARKERS = ("Traceback", "Internal Server Error", "ERROR")


RATE_LIMIT_VARIABLES = (
    "RATE_INGEST_PER_SECOND",
    "RATE_INGEST_PER_SECOND_PER_CREDENTIAL",
    "RATE_READ_PER_MINUTE",
    "RATE_READ_PER_MINUTE_PER_CREDENTIAL",
)


class Server:
    """`with Server(port, workers, log_path):` runs uvicorn until the block is left (also on error or Ctrl-C)."""

    def __init__(self, port: int, workers: int, log_path, app: str = APPLICATION):
        self.port, self.workers, self.log_path, self.app = port, workers, log_path, app
        self.process: subprocess.Popen | None = None

    def __enter__(self):
        if _port_open(self.port):
            raise SystemExit(f"Port {self.port} is already in use; choose another with --port.")
        command = [
            str(ROOT / ".venv" / "bin" / "uvicorn"), self.app, "--port", str(self.port),
            "--workers", str(self.workers), "--no-access-log", "--lifespan", "off", "--ws-per-message-deflate", "false",
        ]  # fmt: skip
        # Throughput is measured here, not the rate limits: lift them far above what one machine can do.
        limits = {name: "100000000" for name in RATE_LIMIT_VARIABLES}
        env = {**os.environ, "DEBUG": "0", "SECRET_KEY": server_secret_key(), **limits}
        with open(self.log_path, "wb") as log:
            # Own session: Ctrl-C reaches only this script, which then stops the server in order.
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def _wait_healthy(self, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"The server exited with code {self.process.returncode}; see {self.log_path}.")
            if _healthz(self.port):
                return
            time.sleep(0.2)
        raise SystemExit(f"The server did not answer /healthz within {timeout:.0f} s; see {self.log_path}.")

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # the group of the server we started
            self.process.wait()

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server's processes alive now: uvicorn and its workers, the
        process group it leads. A figure per event that the other work on a shared machine hardly moves."""
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            if int(fields[2]) == self.process.pid:  # pgrp (fields after the command name start at state)
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / os.sysconf("SC_CLK_TCK")

    def error_lines(self) -> list[str]:
        """Lines of the server's output that report errors."""
        text = self.log_path.read_text(errors="replace")
        return [line for line in text.splitlines() if any(marker in line for marker in ERROR_MARKERS)]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _healthz(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()
