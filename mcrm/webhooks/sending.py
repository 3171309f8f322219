"""One webhook POST: the signature, the address check, the request. No database.

The signature is HMAC-SHA256, keyed with the endpoint's secret, over ``<timestamp>.<body>``; the
timestamp (Unix seconds) travels in its own header, so a receiver can refuse old replays
(docs/webhooks.md shows how to check both).
"""
import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from mcrm.core.errors import ValidationError

SIGNATURE_HEADER = "X-Mcrm-Signature"
TIMESTAMP_HEADER = "X-Mcrm-Timestamp"
EVENT_HEADER = "X-Mcrm-Event"
EVENT_ID_HEADER = "X-Mcrm-Event-Id"
#: bytes of a receiver's answer read (and thrown away): a huge answer must not hold the job
MAX_ANSWER = 64 * 1024


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``v1=`` and the hex HMAC-SHA256 of ``<timestamp>.<body>``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class Target:
    """A checked URL and the address it resolved to, which the POST connects to (a second
    lookup could answer otherwise: DNS rebinding)."""
    scheme: str
    host: str
    port: int
    path: str
    address: str


def resolve(url: str, *, allow_private: bool) -> Target:
    """Check a webhook URL and resolve its host; ValidationError when it is malformed, unknown, or
    (unless ``allow_private``) any of its addresses is private, loopback, link-local or reserved."""
    parts = urlsplit((url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("A webhook URL starts with http:// or https:// and names a host")
    if parts.username or parts.password:
        raise ValidationError("A webhook URL carries no user name or password: "
                              "the signature proves the sender")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (ValueError, OSError):
        raise ValidationError("The host of this URL cannot be found") from None
    addresses = [info[4][0] for info in found]
    if not allow_private and not all(_is_public(address) for address in addresses):
        # the URL itself stays out of the message: its query may hold the receiver's key, and a
        # failed try's message goes to the log
        raise ValidationError("This URL points into a private network; webhooks go to public addresses only")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port, path, addresses[0])


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self.address = target.address

    def connect(self):
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self.address = target.address

    def connect(self):
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


@dataclass(frozen=True)
class Answer:
    """What a try got: the receiver's status code, or None and why there was none."""
    status: int | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(url: str, body: bytes, *, secret: str, event: str, event_id: str, timestamp: int, timeout: float,
         allow_private: bool) -> Answer:
    """POST a signed body; never raises for the receiver's faults (they are the Answer). Redirects
    are not followed: a 3xx is a failed try, so a receiver cannot bounce the POST elsewhere."""
    try:
        target = resolve(url, allow_private=allow_private)
    except ValidationError as error:
        return Answer(None, str(error))
    kind = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = kind(target, timeout)
    headers = {"Content-Type": "application/json", "User-Agent": "mcrm-webhooks/1",
               EVENT_HEADER: event, EVENT_ID_HEADER: event_id, TIMESTAMP_HEADER: str(timestamp),
               SIGNATURE_HEADER: sign(secret, timestamp, body)}
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(MAX_ANSWER)
        return Answer(response.status)
    except TimeoutError:
        return Answer(None, f"no answer within {timeout:g} s")
    except (OSError, http.client.HTTPException) as error:
        return Answer(None, f"{type(error).__name__}: {error}"[:200])
    finally:
        connection.close()
