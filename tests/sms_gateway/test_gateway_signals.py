"""run_forever: SIGTERM finishes the window, unbinds and exits 0 (a real child process)."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.smsc_peer import wait_until

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, logging, os, sys
from sms_gateway import GatewayConfig, InMemoryMessageStore, run_forever
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
store = InMemoryMessageStore()
for i in range(40):
    store.add_outbound("+86138000%05d" % i, "sigterm %d" % i)
config = GatewayConfig.from_env(os.environ)
print("started", flush=True)
run_forever(config, store)
print(json.dumps(store.counts()), flush=True)
"""


def test_sigterm_finishes_the_window_unbinds_and_exits(smsc):
    smsc.configure(resp_delay_ms=300, dlr="never")
    env = dict(os.environ, SMPP_TRANSPORT="smpp", SMPP_HOST="127.0.0.1", SMPP_PORT=str(smsc.port),
               SMPP_SYSTEM_ID="mcrm", SMPP_PASSWORD="secret", SMPP_TPS="0", SMPP_WINDOW="5",
               SMPP_POLL_SECS="0.02", SMPP_RESPONSE_TIMEOUT_SECS="3")
    child = subprocess.Popen([sys.executable, "-c", CHILD], cwd=str(ROOT), env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: len(smsc.records("submit_sm")) >= 5, timeout=10, message="window in flight")
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    counts = json.loads(out.strip().splitlines()[-1])
    sent = len(smsc.records("submit_sm"))
    assert counts.get("SUBMITTED") == sent                      # the whole window was answered and kept
    assert counts.get("QUEUED") == 40 - sent and "SENDING" not in counts
    assert [u["by"] for u in smsc.records("unbind")] == ["esme"]
