"""`sluice serve` as a child process: HTTP on a port the system picks, Flight
on a free port found here, stopped with Ctrl-C (SIGINT) as a person would."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Dict, Optional


def free_port() -> int:
    """A TCP port nothing listens on (bound to port 0, read, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A running `sluice --project DIR serve`; `flight` is its grpc:// URI, `http` its http:// URL."""

    def __init__(self, bin: Path, project: Path, log: Path, env: Optional[Dict[str, str]] = None) -> None:
        self.log = log
        self.flight_port = free_port()
        command = [
            str(bin), "--project", str(project), "serve",
            "--port", "0", "--flight-port", str(self.flight_port),
        ]  # fmt: skip
        self._log_file = open(log, "w")
        self.process = subprocess.Popen(
            command, stdout=self._log_file, stderr=subprocess.STDOUT, env=env
        )
        self.http, self.flight = self._addresses()

    def _addresses(self, timeout: float = 60.0) -> "tuple[str, str]":
        """The two addresses the start-up banner prints."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text()
            http = re.search(r"listening on (http://\S+)", text)
            flight = re.search(r"flight and flight sql listening on (grpc://\S+)", text)
            if http and flight:
                return http.group(1), flight.group(1)
            if self.process.poll() is not None:
                raise RuntimeError(f"sluice serve exited {self.process.returncode}:\n{text}")
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"sluice serve printed no addresses in {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        """Ctrl-C, then a kill if it has not ended in 30 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()
