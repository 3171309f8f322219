"""In-process SMSC fault simulators for failure modes the node peer cannot produce on demand.

One class per failure mode (as in Jasmin's smsc_simulator.py), each a loopback TCP server on a free
port in a background thread, speaking SMPP with smpplib's PDU classes. They are deliberately small:
normal traffic is the node peer's job.

    with DeliverSmDuringBind() as sim:
        ... GatewayConfig(host="127.0.0.1", port=sim.port, ...)
        sim.wait_for("deliver_sm_resp")
"""
from __future__ import annotations

import socket
import struct
import threading
import time

from smpplib import consts, smpp
from smpplib.client import SimpleSequenceGenerator

__all__ = ["SimulatedSmsc", "DeliverSmDuringBind", "DeliverSmDuringUnbind", "SmscUnbinds",
           "ErrorResponses", "UnknownTlvMo", "BrokenPdu", "SilentAfterBind", "MessagePayloadMo"]


class _Seq:
    """Just enough of a client for smpplib's PDU classes (sequence numbers)."""

    def __init__(self) -> None:
        self._gen = SimpleSequenceGenerator()

    @property
    def sequence(self) -> int:
        return self._gen.sequence

    def next_sequence(self) -> int:
        return self._gen.next_sequence()


class SimulatedSmsc:
    """Accepts ESME connections one at a time and answers like a plain SMSC; subclasses override a
    hook to misbehave. ``events`` lists what happened (``(command, pdu)`` pairs as received)."""

    mo_text = "JF"

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.05)
        self.host, self.port = self._listener.getsockname()
        self.seq = _Seq()
        self.events: list[tuple[str, object]] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conn: socket.socket | None = None
        self._thread = threading.Thread(target=self._serve, name=type(self).__name__, daemon=True)
        self._message_ids = 0

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> SimulatedSmsc:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()

    def __enter__(self) -> SimulatedSmsc:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def commands(self) -> list[str]:
        with self._lock:
            return [c for c, _p in self.events]

    def received(self, command: str) -> list:
        with self._lock:
            return [p for c, p in self.events if c == command]

    def wait_for(self, command: str, count: int = 1, timeout: float = 5.0) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received(command)
            if len(got) >= count:
                return got
            time.sleep(0.01)
        raise AssertionError("%s never saw %d x %s (saw %s)" % (type(self).__name__, count, command,
                                                                self.commands()))

    # ---------------------------------------------------------------- wire
    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _addr = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.settimeout(0.05)
            self._conn = conn
            try:
                self._handle(conn)
            except (ConnectionError, OSError):
                pass
            finally:
                conn.close()
                self._conn = None

    def _read_pdu(self, conn: socket.socket):
        header = self._recv(conn, 4)
        if header is None:
            return None
        (length,) = struct.unpack(">L", header)
        body = self._recv(conn, length - 4, block=True)
        return smpp.parse_pdu(header + body, client=self.seq, allow_unknown_opt_params=True)

    def _recv(self, conn: socket.socket, n: int, block: bool = False) -> bytes | None:
        data = b""
        while len(data) < n:
            if self._stop.is_set():
                raise ConnectionError("stopping")
            try:
                chunk = conn.recv(n - len(data))
            except TimeoutError:
                if not data and not block:
                    return None
                continue
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def send(self, pdu) -> None:
        self.send_raw(pdu.generate())

    def send_raw(self, raw: bytes) -> None:
        if self._conn is not None:
            self._conn.sendall(raw)

    def response(self, pdu, status: int = consts.SMPP_ESME_ROK, **fields):
        resp = smpp.make_pdu(pdu.command + "_resp", client=self.seq, status=status, **fields)
        resp.sequence = pdu.sequence
        return resp

    def request(self, command: str, **fields):
        return smpp.make_pdu(command, client=self.seq, **fields)

    def mo(self, text: str | None = None):
        body = (text if text is not None else self.mo_text).encode("ascii")
        return self.request("deliver_sm", service_type="", source_addr_ton=1, source_addr_npi=1,
                            source_addr="8613800138000", dest_addr_ton=0, dest_addr_npi=0,
                            destination_addr="1065712345", esm_class=0, data_coding=0,
                            short_message=body)

    def _handle(self, conn: socket.socket) -> None:
        while not self._stop.is_set():
            pdu = self._read_pdu(conn)
            if pdu is None:
                self.idle()
                continue
            with self._lock:
                self.events.append((pdu.command, pdu))
            handler = getattr(self, "on_" + pdu.command, None)
            if handler is not None:
                if handler(pdu) is False:
                    return

    # ---------------------------------------------------------------- default behaviour
    def idle(self) -> None:
        """Called every 50 ms without traffic."""

    def on_bind_transceiver(self, pdu):
        self.send(self.response(pdu, system_id="SIM"))

    on_bind_transmitter = on_bind_receiver = on_bind_transceiver

    def on_enquire_link(self, pdu):
        self.send(self.response(pdu))

    def on_submit_sm(self, pdu):
        self._message_ids += 1
        self.send(self.response(pdu, message_id="sim%d" % self._message_ids))

    def on_unbind(self, pdu):
        self.send(self.response(pdu))
        return False


class DeliverSmDuringBind(SimulatedSmsc):
    """Sends an MO deliver_sm *before* the bind_resp: smpplib's bind() would take it for the bind
    response and the MO would never be acknowledged."""

    def on_bind_transceiver(self, pdu):
        self.send(self.mo())
        self.send(self.response(pdu, system_id="SIM"))

    on_bind_receiver = on_bind_transceiver


class DeliverSmDuringUnbind(SimulatedSmsc):
    """Answers the ESME's unbind only after sending one more MO and reading its resp: smpplib's
    unbind() would return the deliver_sm as if it were unbind_resp."""

    def on_unbind(self, pdu):
        self.send(self.mo("TD"))
        self._pending_unbind = pdu
        return None

    def on_deliver_sm_resp(self, pdu):
        pending = getattr(self, "_pending_unbind", None)
        if pending is not None:
            self.send(self.response(pending))
            return False
        return None


class SmscUnbinds(SimulatedSmsc):
    """Sends its own unbind right after the first bind (maintenance); smpplib's read_once only logs it."""

    def on_bind_transceiver(self, pdu):
        self.send(self.response(pdu, system_id="SIM"))
        if self.connections == 1:
            self.send(self.request("unbind"))

    def on_unbind_resp(self, pdu):
        return False                        # close: the ESME must come back


class ErrorResponses(SimulatedSmsc):
    """An unsolicited generic_nack and error responses: smpplib's default error_pdu_handler raises on
    each and ends listen()."""

    def on_bind_transceiver(self, pdu):
        self.send(self.response(pdu, system_id="SIM"))
        nack = smpp.make_pdu("generic_nack", client=self.seq, status=consts.SMPP_ESME_RINVCMDLEN)
        nack.sequence = 424242
        self.send(nack)

    def on_submit_sm(self, pdu):
        if len(self.received("submit_sm")) == 1:
            self.send(self.response(pdu, status=consts.SMPP_ESME_RSYSERR))
        else:
            super().on_submit_sm(pdu)


class UnknownTlvMo(SimulatedSmsc):
    """An MO carrying a vendor TLV (0x1400) and a TLV smpplib knows but not for deliver_sm
    (additional_status_info_text): smpplib raises on both unless told otherwise."""

    def on_bind_transceiver(self, pdu):
        self.send(self.response(pdu, system_id="SIM"))
        raw = self.mo("HELP").generate()
        tlvs = struct.pack(">HH", 0x1400, 3) + b"abc" + struct.pack(">HH", 0x001D, 3) + b"ok\x00"
        raw = struct.pack(">L", len(raw) + len(tlvs)) + raw[4:] + tlvs
        self.send_raw(raw)


class BrokenPdu(SimulatedSmsc):
    """Sends a PDU with an unknown command id after bind, then a normal MO."""

    def on_bind_transceiver(self, pdu):
        self.send(self.response(pdu, system_id="SIM"))
        self.send_raw(struct.pack(">LLLL", 16, 0x00000999, 0, 77))
        self.send(self.mo("DY"))


class SilentAfterBind(SimulatedSmsc):
    """Binds, then never answers anything (a hung SMSC): submit and enquire_link responses time out."""

    def on_submit_sm(self, pdu):
        return None

    def on_enquire_link(self, pdu):
        return None


class MessagePayloadMo(SimulatedSmsc):
    """An MO whose text is in the message_payload TLV with an empty short_message (allowed by
    SMPP 3.4 for long MOs in one PDU)."""

    payload_text = "积分查询 " * 60

    def on_bind_transceiver(self, pdu):
        self.send(self.response(pdu, system_id="SIM"))
        mo = self.request("deliver_sm", service_type="", source_addr_ton=1, source_addr_npi=1,
                          source_addr="8613800138000", dest_addr_ton=0, dest_addr_npi=0,
                          destination_addr="1065712345", esm_class=0, data_coding=8,
                          short_message=b"", message_payload=self.payload_text.encode("utf-16-be"))
        self.send(mo)
