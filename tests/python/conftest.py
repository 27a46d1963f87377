"""Shared support: start the real `weir` binary on a free loopback port."""

import os
import socket
import subprocess
import tempfile
import time

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Weir:
    """A running `weir serve` (WEIR_BIN, else target/release/weir)."""

    def __init__(self, *args: str, env: dict | None = None):
        binary = os.environ.get("WEIR_BIN", os.path.join(ROOT, "target", "release", "weir"))
        self.workdir = tempfile.mkdtemp(prefix="weir-test-")
        # A store of its own (none unless a test makes one): never a
        # developer's default store, which would turn auth on.
        env = {**os.environ, "WEIR_DB": os.path.join(self.workdir, "weir.db"), **(env or {})}
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(self.workdir, "server.log")
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [binary, "serve", "--port", str(self.port), "--cache-dir", self.workdir, *args],
            stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weir exited early: {self.log()}")
            try:
                if httpx.get(self.base + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.proc.kill()
        raise RuntimeError("weir did not become healthy in 120 s")

    def log(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
