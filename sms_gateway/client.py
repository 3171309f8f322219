"""GatewayClient: one SMPP session on smpplib, made safe for a single-owner select loop.

smpplib's traps and what this class does about each:

* Not thread-safe: a client is owned by the gateway's one worker thread; nothing here locks.
* ``read_once``/``listen`` call ``error_pdu_handler`` on any non-zero command_status, whose default
  raises and kills the listen loop: we never use ``listen``; we read PDUs ourselves and the worker
  handles error responses (``error_pdu_handler`` is replaced by a logger, in case anything calls it).
* ``bind_*``/``unbind`` return whatever PDU comes next, so an enquire_link or a deliver_sm arriving
  first would be taken for the response (and the MO never acknowledged): :meth:`bind` reads until the
  matching response and hands the other PDUs back to the caller for normal handling; unbind is done
  by the worker's loop, which keeps dispatching while it waits for unbind_resp.
* An SMSC-initiated ``unbind`` is only logged by ``read_once``: the worker answers unbind_resp
  and reconnects.
* Unknown TLVs raise unless ``allow_unknown_opt_params=True`` (and leaving it unset emits a
  DeprecationWarning): we set it. A TLV that smpplib knows by code but not for that command (e.g.
  network_error_code in a submit_sm_resp) raises KeyError: such PDUs are parsed again with the
  missing TLVs declared as octet strings.
* ``read_pdu`` costs two recv() calls and a hex dump per PDU: we recv in large chunks and split PDUs
  from a buffer; ``send_pdus`` writes a whole batch with one sendall().
* Its PDU constructor sets each of a command's ~50 fields through hasattr/getattr, and ``generate``
  walks every TLV the command could carry: per message, the dearest steps of the gateway
  (``bench/README.md`` has the figures). New PDUs are copies of one made once per command
  (:meth:`blank`), and :meth:`encode` skips the TLVs nobody set. Both still use smpplib's own field
  codec, byte for byte.
"""
from __future__ import annotations

import logging
import select
import socket
import struct
import time
from collections.abc import Iterable
from typing import Any

from smpplib import command as smpp_command
from smpplib import consts, exceptions, smpp
from smpplib.client import Client
from smpplib.pdu import extract_command
from smpplib.ptypes import ostr

__all__ = ["GatewayClient", "Pdu", "BindError", "SessionLostError", "ProtocolError", "describe_status",
           "status_name"]

logger = logging.getLogger(__name__)

#: a PDU object of smpplib (which has no type information), or an ``_Unparsed`` stand-in
Pdu = Any

MAX_PDU = 64 * 1024
RECV_CHUNK = 256 * 1024


class SessionLostError(ConnectionError):
    """The TCP connection is gone (closed by the peer, reset, timed out)."""


class ProtocolError(SessionLostError):
    """The byte stream cannot be trusted any more (bad command_length): drop the session."""


class BindError(RuntimeError):
    """The SMSC refused the bind with ``status`` (e.g. 0x0E invalid password)."""

    def __init__(self, status: int, command: str) -> None:
        self.status = status
        super().__init__("%s refused: 0x%02X %s" % (command, status, describe_status(status)))


def describe_status(status: int) -> str:
    description: str = consts.DESCRIPTIONS.get(status, "unknown status")
    return description


def status_name(status: int) -> str:
    """``ESME_RTHROTTLED`` for 0x58, else ``0xNN``."""
    for name in dir(consts):
        if name.startswith("SMPP_ESME_") and getattr(consts, name) == status:
            return name[5:]
    return "0x%02X" % status


_LENIENT_PARAMS: dict[type, dict[str, Any]] = {}
#: per PDU class: (fields always encoded, TLV fields) in smpplib's params_order
_FIELDS: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _lenient_params(cls: type[Any]) -> dict[str, Any]:
    """``cls.params`` plus every TLV smpplib knows by code, as octet strings (see module doc)."""
    params = _LENIENT_PARAMS.get(cls)
    if params is None:
        params = dict(cls.params)
        for name in consts.OPTIONAL_PARAMS:
            params.setdefault(name, smpp_command.Param(type=ostr, max=65535))
        _LENIENT_PARAMS[cls] = params
    return params


class GatewayClient(Client):
    """An smpplib client with buffered, non-raising reads and batched writes."""

    _socket: socket.socket | None       # smpplib's; None while not connected

    def __init__(self, host: str, port: int, timeout: float, name: str = "smpp") -> None:
        super().__init__(host, port, timeout=timeout, logger_name="%s.%s" % (__name__, name),
                         allow_unknown_opt_params=True)
        self.name = name
        self._rbuf = bytearray()
        self._prototypes: dict[str, Pdu] = {}
        self.set_error_pdu_handler(self._log_error_pdu)

    # smpplib's default raises PDUError and ends listen(); we only log (the worker handles errors)
    def _log_error_pdu(self, pdu: Pdu) -> None:
        logger.debug("%s: %s status 0x%02X", self.name, pdu.command, pdu.status)

    def fileno(self) -> int:
        return self._connected_socket().fileno()

    def _connected_socket(self) -> socket.socket:
        if self._socket is None:
            raise SessionLostError("%s: not connected" % self.name)
        return self._socket

    @property
    def connected(self) -> bool:
        return self._socket is not None

    def close(self) -> None:
        """Close the socket without sending anything (smpplib's disconnect, quietly)."""
        if self._socket is not None:
            try:
                self._socket.close()
            finally:
                self._socket = None
        self.state = consts.SMPP_CLIENT_STATE_CLOSED
        self._rbuf.clear()

    def open(self) -> None:
        """Connect the TCP socket."""
        try:
            self.connect()
        except exceptions.ConnectionError as exc:
            self.close()
            raise SessionLostError("connect to %s:%s failed" % (self.host, self.port)) from exc
        self._connected_socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # ------------------------------------------------------------------ reading
    def read_available(self) -> list[Pdu]:
        """Read what the socket has (call only when select() says readable) and return every
        complete PDU. Raises SessionLostError on EOF or a socket error."""
        sock = self._connected_socket()
        try:
            data = sock.recv(RECV_CHUNK)
        except (TimeoutError, BlockingIOError):
            return []
        except OSError as exc:
            raise SessionLostError("%s: recv failed: %s" % (self.name, exc)) from exc
        if not data:
            raise SessionLostError("%s: connection closed by the SMSC" % self.name)
        self._rbuf += data
        return self._split_pdus()

    def _split_pdus(self) -> list[Pdu]:
        out: list[Pdu] = []
        buf = self._rbuf
        pos = 0
        n = len(buf)
        while n - pos >= 16:
            (length,) = struct.unpack_from(">L", buf, pos)
            if length < 16 or length > MAX_PDU:
                raise ProtocolError("%s: bad command_length %d" % (self.name, length))
            if n - pos < length:
                break
            out.append(self.parse(bytes(buf[pos:pos + length])))
            pos += length
        if pos:
            del buf[:pos]
        return out

    def parse(self, raw: bytes) -> Pdu:
        """Parse one PDU with smpplib's codec. Returns the PDU, or a ``_Unparsed`` stand-in that
        still carries command_id/sequence so the caller can answer generic_nack."""
        try:
            name = extract_command(raw)
        except exceptions.UnknownCommandError:
            return _Unparsed(raw, None)
        pdu = self.blank(name)
        try:
            pdu.parse(raw)
            return pdu
        except KeyError:
            pass
        except Exception:       # a broken PDU must not kill the session loop
            logger.warning("%s: cannot parse %s", self.name, name, exc_info=True)
            return _Unparsed(raw, name)
        pdu = self.blank(name)
        pdu.params = _lenient_params(type(pdu))
        try:
            pdu.parse(raw)
            return pdu
        except Exception:       # not even with every TLV declared: answered with generic_nack
            logger.warning("%s: cannot parse %s", self.name, name, exc_info=True)
            return _Unparsed(raw, name)

    # ------------------------------------------------------------------ writing
    def blank(self, command: str) -> Pdu:
        """A new PDU of ``command`` with every field unset and no sequence number. A PDU's state is
        its ``__dict__`` of immutable values (and the shared client), so a shallow copy of one
        built by smpplib once is as good as a new one, and far cheaper (``bench/README.md``)."""
        proto = self._prototypes.get(command)
        if proto is None:
            proto = self._prototypes[command] = smpp.make_pdu(command, client=self, sequence=0,
                                                              allow_unknown_opt_params=True)
        pdu = object.__new__(type(proto))
        pdu.__dict__.update(proto.__dict__)
        return pdu

    @staticmethod
    def encode(pdu: Pdu) -> bytes:
        """``pdu.generate()``, without smpplib's walk over the TLVs that are not set (they encode to
        nothing, so the bytes are the same)."""
        cls = type(pdu)
        fields = _FIELDS.get(cls)
        if fields is None:
            order = getattr(cls, "params_order", ())
            tlvs = tuple(f for f in order if pdu.field_is_optional(f))
            fields = _FIELDS[cls] = (tuple(f for f in order if f not in tlvs), tlvs)
        always, tlvs = fields
        data: bytes
        if not tlvs or any(getattr(pdu, name, None) is not None for name in tlvs):
            data = pdu.generate()
            return data
        pdu.params_order = always
        try:
            data = pdu.generate()
        finally:
            del pdu.params_order
        return data

    def send_pdus(self, pdus: Iterable[Pdu]) -> None:
        self.send_bytes(b"".join(self.encode(p) for p in pdus))

    def send_bytes(self, data: bytes) -> None:
        if not data:
            return
        sock = self._connected_socket()
        try:
            sock.sendall(data)
        except OSError as exc:
            raise SessionLostError("%s: send failed: %s" % (self.name, exc)) from exc

    def make(self, command: str, **fields: Any) -> Pdu:
        """A request PDU with the next sequence number and ``fields`` set."""
        pdu = self.blank(command)
        pdu.sequence = self.next_sequence()
        for name, value in fields.items():
            setattr(pdu, name, value)
        return pdu

    def response_to(self, pdu: Pdu, status: int = consts.SMPP_ESME_ROK) -> Pdu:
        command = pdu.command + "_resp" if pdu.command else "generic_nack"
        return self.response(command, pdu.sequence, status)

    def response(self, command: str, sequence: int, status: int = consts.SMPP_ESME_ROK) -> Pdu:
        """A response PDU echoing ``sequence``. (smpplib's make_pdu(..., sequence=n) silently keeps the
        client's current sequence: it only sets attributes that are None, and ``sequence`` never is.)"""
        resp = self.blank(command)
        resp.sequence = sequence
        resp.status = status
        return resp

    def generic_nack(self, sequence: int, status: int = consts.SMPP_ESME_RINVCMDID) -> Pdu:
        return self.response("generic_nack", sequence, status)

    # ------------------------------------------------------------------ bind
    def bind(self, mode: str, system_id: str, password: str, system_type: str,
             addr_ton: int = 0, addr_npi: int = 0, timeout: float | None = None) -> list[Pdu]:
        """Send ``bind_<mode>`` and wait for its response, whatever arrives first.

        Returns the other PDUs read meanwhile (they must be handled after the bind, e.g. a deliver_sm
        the SMSC sent early). Raises BindError on a refused bind, SessionLostError on timeout/EOF.
        """
        command = "bind_" + mode
        pdu = self.make(command, system_id=system_id, password=password, system_type=system_type,
                        addr_ton=addr_ton, addr_npi=addr_npi)
        self.send_pdus([pdu])
        early: list[Pdu] = []
        sock = self._connected_socket()
        budget = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SessionLostError("%s: no %s_resp within %.1fs" % (self.name, command, budget))
            readable, _, _ = select.select([sock], [], [], left)
            if not readable:
                continue
            pdus = self.read_available()
            for i, got in enumerate(pdus):
                if got.command == command + "_resp" and got.sequence == pdu.sequence:
                    if got.status != consts.SMPP_ESME_ROK:
                        raise BindError(got.status, command)
                    self.state = consts.STATE_SETTERS[got.command]
                    early.extend(pdus[i + 1:])
                    return early
                if got.command == "generic_nack" and got.sequence == pdu.sequence:
                    raise BindError(got.status or consts.SMPP_ESME_RBINDFAIL, command)
                early.append(got)


class _Unparsed:
    """A PDU smpplib could not parse: enough to answer it (generic_nack) and log it."""

    def __init__(self, raw: bytes, name: str | None) -> None:
        _length, self.command_id, self.status, self.sequence = struct.unpack_from(">LLLL", raw)
        self.command = name
        self.unparsed = True

    def is_response(self) -> bool:
        return bool(self.command_id & 0x80000000)
