"""Python side of mcrm's test SMSC (``smsc_peer.js``, node-smpp): start it, drive it, read it.

    with SmscPeer(system_id="mcrm", password="secret") as smsc:
        smsc.host, smsc.port            # SMPP listener on loopback, free port
        smsc.configure(throttle=5)      # live settings (POST /config)
        smsc.mo("+8613800138000", "1065712345", "你好" * 50)   # concatenated UCS-2 MO
        smsc.records("message")         # what the SMSC received

Needs ``npm ci --prefix tests/smsc_peer`` once (node >= 18). Only loopback addresses are used.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from collections.abc import Callable

__all__ = ["SmscPeer", "PeerNotInstalledError", "wait_until", "PEER_DIR"]

PEER_DIR = Path(__file__).resolve().parent
SCRIPT = PEER_DIR / "smsc_peer.js"
# never through an HTTP proxy from the environment: the control API is on loopback
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class PeerNotInstalledError(RuntimeError):
    """node or the npm package is missing: run ``npm ci --prefix tests/smsc_peer``."""


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02,
               message: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy (returned) or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, message))
        time.sleep(interval)


class SmscPeer:
    """A running ``smsc_peer.js`` process. ``settings`` are its startup options (``system_id``,
    ``password``, ``dlr``, ``throttle``…; see README.md); ``port`` 0 picks a free port."""

    def __init__(self, port: int = 0, **settings: Any) -> None:
        self.settings = settings
        self.requested_port = port
        self.host = "127.0.0.1"
        self.port = 0
        self.control_port = 0
        self.proc: subprocess.Popen | None = None
        self._log = None

    # ------------------------------------------------------------------ process
    @staticmethod
    def available() -> str | None:
        """None when the peer can run, else why not."""
        if shutil.which("node") is None:
            return "node is not installed"
        if not (PEER_DIR / "node_modules" / "smpp").is_dir():
            return "npm package missing: run `npm ci --prefix tests/smsc_peer`"
        return None

    def start(self, timeout: float = 15.0) -> SmscPeer:
        why = self.available()
        if why:
            raise PeerNotInstalledError(why)
        args = ["node", str(SCRIPT), "--port", str(self.requested_port or self.port or 0), "--control-port", "0"]
        for key, value in self.settings.items():
            if isinstance(value, (dict, list)):
                value = json.dumps(value)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            args.append("--%s=%s" % (key, value))
        self._log = tempfile.TemporaryFile(prefix="smsc-peer-", suffix=".log")
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, cwd=str(PEER_DIR))
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                err = self.stderr()
                self.stop()
                raise RuntimeError("smsc peer did not start: %s" % err.strip())
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    continue
                line += chunk
        info = json.loads(line.decode().splitlines()[0])
        self.port = info["smpp_port"]
        self.control_port = info["control_port"]
        return self

    def stderr(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL) and close its pipes."""
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        """Stop and start again on the same SMPP port (an SMSC restart: sessions and records lost)."""
        port = self.port
        self.stop()
        self.requested_port = port
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> SmscPeer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ control API
    def call(self, method: str, path: str, body: dict | None = None, timeout: float = 30.0) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.control_port, path), data=data,
                                     method=method, headers={"content-type": "application/json"})
        try:
            with _OPENER.open(req, timeout=timeout) as resp:
                return json.loads(resp.read().decode())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode()
            exc.close()
            raise RuntimeError("smsc peer %s %s: %s %s" % (method, path, exc.code, detail)) from None

    def configure(self, **settings: Any) -> dict:
        return self.call("POST", "/config", settings)

    def reset(self) -> None:
        """Forget records, counters and queued deliveries; back to the startup settings."""
        self.call("POST", "/reset", {})

    def health(self) -> dict:
        return self.call("GET", "/health")

    def stats(self) -> dict:
        return self.call("GET", "/stats")

    def records(self, type: str | None = None, since: int = 0) -> list[dict]:
        query = "?since=%d" % since + ("&type=%s" % type if type else "")
        return self.call("GET", "/records" + query)["records"]

    def sessions(self) -> list[dict]:
        return self.health()["sessions"]

    def mo(self, source_addr: str, destination_addr: str, text: str = "", **extra: Any) -> dict:
        """Send an MO (split like a handset: ``concat`` = udh8 | udh16 | sar) and wait until each
        part was answered (or queued when nobody is bound)."""
        body = {"from": source_addr, "to": destination_addr, "text": text}
        body.update(extra)
        return self.call("POST", "/mo", body)

    def dlr(self, message_id: str, stat: str = "DELIVRD", **extra: Any) -> dict:
        body = {"message_id": message_id, "stat": stat}
        body.update(extra)
        return self.call("POST", "/dlr", body)

    def drop(self) -> dict:
        """Abort every TCP connection now."""
        return self.call("POST", "/drop", {})

    def unbind(self) -> dict:
        """SMSC-initiated unbind of every bound session."""
        return self.call("POST", "/unbind", {})
