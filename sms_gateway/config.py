"""GatewayConfig: the gateway's settings, validated once at start-up (Jasmin's SMPPClientConfig).

``GatewayConfig.from_env(os.environ)`` reads these variables (prefix ``SMPP_`` by default); a bad
value raises :class:`GatewayConfigError` naming the variable, at start, never mid-run.

==============================  ===========  ==================================================
variable                        default      meaning
==============================  ===========  ==================================================
SMPP_TRANSPORT                  sandbox      ``smpp`` (a real SMSC) or ``sandbox`` (no SMSC: every MT
                                             is "delivered" at once with a synthetic receipt). The
                                             one name of this setting, in mcrm as well (mcrm still
                                             honours its former ``MCRM_SMS_TRANSPORT``, and needs it
                                             set in production). With ``sandbox``, SMPP_HOST,
                                             SMPP_SYSTEM_ID or SMPP_PASSWORD are refused: they mean
                                             an SMSC was meant.
SMPP_HOST                       (none)       SMSC host; required when SMPP_TRANSPORT=smpp
SMPP_PORT                       2775         SMSC port
SMPP_SYSTEM_ID                  (empty)      bind system_id (max 15 chars); required for smpp
SMPP_PASSWORD                   (empty)      bind password (max 8 chars)
SMPP_SYSTEM_TYPE                (empty)      bind system_type (max 12 chars)
SMPP_BIND                       trx          ``trx`` (one transceiver session) or ``tx+rx`` (a
                                             transmitter and a receiver session)
SMPP_TPS                        10           submit_sm per second (token bucket); 0 = unlimited
SMPP_WINDOW                     10           submit_sm sent but not yet answered, at most
SMPP_BATCH_SIZE                 50           messages claimed from the store at a time
SMPP_ENQUIRE_LINK_SECS          30           idle time before an enquire_link
SMPP_RECONNECT_MIN_SECS         1            first reconnect delay after a lost link/failed bind
SMPP_RECONNECT_MAX_SECS         60           cap of the exponential reconnect delay
SMPP_RESPONSE_TIMEOUT_SECS      10           wait for bind/submit/enquire_link/unbind responses; a
                                             timed-out submit is retried one timeout later, and its
                                             late response on the same link still counts
SMPP_MAX_ATTEMPTS               5            submit attempts before a transient error is final
SMPP_RETRY_DELAY_SECS           5            first retry delay after a transient error (doubles)
SMPP_RETRY_MAX_SECS             600          cap of the retry delay
SMPP_THROTTLE_PAUSE_SECS        1            pause of all submits after ESME_RTHROTTLED/RMSGQFUL
SMPP_POLL_SECS                  0.5          how often an idle worker asks the store for new MT
SMPP_SOURCE_TON / _NPI          0 / 0        TON/NPI of the sender address (5/0 for alphanumeric)
SMPP_DEST_TON / _NPI            1 / 1        TON/NPI of the recipient (international, E.164)
SMPP_MO_REASSEMBLY_SECS         300          how long parts of a concatenated MO wait for the rest
SMPP_MO_REDELIVERY_SECS         600          after a lost link, an MO equal to one acknowledged just
                                             before it (whose ESME_ROK may not have arrived) that comes
                                             again within this time is acknowledged, not stored
                                             twice; 0 stores every copy
SMPP_WORKER_ID                  gateway      claim owner in the store; give each concurrent gateway
                                             process its own, keep it stable across restarts
==============================  ===========  ==================================================

Booleans are not used; numbers must parse and be in range. Unknown ``SMPP_*`` variables are ignored.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["GatewayConfig", "GatewayConfigError", "TRANSPORTS", "BIND_MODES"]

TRANSPORTS = ("sandbox", "smpp")
BIND_MODES = ("trx", "tx+rx")
#: settings that only an SMSC uses: set with the sandbox, they show a transport left at its default
SMSC_FIELDS = ("host", "system_id", "password")


class GatewayConfigError(ValueError):
    """A gateway setting is missing or invalid."""


@dataclass(frozen=True)
class GatewayConfig:
    """Validated gateway settings (see the module docstring for each field's variable)."""

    transport: str = "sandbox"
    host: str = ""
    port: int = 2775
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    bind: str = "trx"
    tps: float = 10.0
    window: int = 10
    batch_size: int = 50
    enquire_link_secs: float = 30.0
    reconnect_min_secs: float = 1.0
    reconnect_max_secs: float = 60.0
    response_timeout_secs: float = 10.0
    max_attempts: int = 5
    retry_delay_secs: float = 5.0
    retry_max_secs: float = 600.0
    throttle_pause_secs: float = 1.0
    poll_secs: float = 0.5
    source_ton: int = 0
    source_npi: int = 0
    dest_ton: int = 1
    dest_npi: int = 1
    mo_reassembly_secs: float = 300.0
    mo_redelivery_secs: float = 600.0
    worker_id: str = "gateway"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise GatewayConfigError for the first bad value."""
        def bad(name: str, why: str) -> GatewayConfigError:
            value = "***" if name == "password" else repr(getattr(self, name))  # errors reach logs
            return GatewayConfigError("SMPP_%s=%s: %s" % (name.upper(), value, why))

        if self.transport not in TRANSPORTS:
            raise bad("transport", "must be one of %s" % ", ".join(TRANSPORTS))
        if self.bind not in BIND_MODES:
            raise bad("bind", "must be one of %s" % ", ".join(BIND_MODES))
        if self.transport == "smpp":
            if not self.host:
                raise bad("host", "required when SMPP_TRANSPORT=smpp")
            if not self.system_id:
                raise bad("system_id", "required when SMPP_TRANSPORT=smpp")
        else:
            for name in SMSC_FIELDS:
                if getattr(self, name):
                    raise bad(name, "set, but SMPP_TRANSPORT is sandbox, which sends to no SMSC and marks "
                                    "every SMS delivered: set SMPP_TRANSPORT=smpp, or unset SMPP_%s"
                              % name.upper())
        for name, limit in (("system_id", 15), ("password", 8), ("system_type", 12)):
            value = getattr(self, name)
            if len(value) > limit:
                raise bad(name, "at most %d characters" % limit)
            if any(not (0x20 <= ord(c) < 0x7F) for c in value):
                raise bad(name, "printable ASCII only")
        if not 1 <= self.port <= 65535:
            raise bad("port", "must be 1..65535")
        if self.tps < 0:
            raise bad("tps", "must be >= 0 (0 = unlimited)")
        for name, lo, hi in (("window", 1, 10000), ("batch_size", 1, 100000), ("max_attempts", 1, 1000),
                             ("source_ton", 0, 255), ("source_npi", 0, 255), ("dest_ton", 0, 255),
                             ("dest_npi", 0, 255)):
            if not lo <= getattr(self, name) <= hi:
                raise bad(name, "must be %d..%d" % (lo, hi))
        for name in ("enquire_link_secs", "reconnect_min_secs", "reconnect_max_secs",
                     "response_timeout_secs", "retry_delay_secs", "retry_max_secs", "poll_secs",
                     "mo_reassembly_secs"):
            if not getattr(self, name) > 0:
                raise bad(name, "must be > 0")
        for name in ("throttle_pause_secs", "mo_redelivery_secs"):
            if getattr(self, name) < 0:
                raise bad(name, "must be >= 0")
        if self.reconnect_max_secs < self.reconnect_min_secs:
            raise bad("reconnect_max_secs", "must be >= SMPP_RECONNECT_MIN_SECS")
        if self.retry_max_secs < self.retry_delay_secs:
            raise bad("retry_max_secs", "must be >= SMPP_RETRY_DELAY_SECS")
        if not self.worker_id or len(self.worker_id) > 64:
            raise bad("worker_id", "1..64 characters")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], prefix: str = "SMPP_", **overrides: Any) -> GatewayConfig:
        """Build from environment variables ``<prefix><FIELD>``; ``overrides`` win over the env."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = prefix + f.name.upper()
            if key not in environ:
                continue
            raw = environ[key].strip()
            try:
                if f.type in ("int", int):
                    values[f.name] = int(raw, 10)
                elif f.type in ("float", float):
                    values[f.name] = float(raw)
                    if values[f.name] != values[f.name] or values[f.name] in (float("inf"), float("-inf")):
                        raise ValueError(raw)
                else:
                    values[f.name] = raw if f.name != "password" else environ[key]
            except ValueError:
                raise GatewayConfigError("%s=%r: not a valid %s" % (key, raw, f.type)) from None
        if "transport" in values:
            values["transport"] = values["transport"].lower()
        values.update(overrides)
        return cls(**values)

    def describe(self) -> dict[str, Any]:
        """Settings for logs and status pages, password masked."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["password"] = "***" if self.password else ""
        return out
