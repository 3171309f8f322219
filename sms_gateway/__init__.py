"""sms_gateway: a reusable SMPP (ESME) gateway worker on smpplib.

Imports only the standard library and smpplib. It talks to storage through the
:class:`MessageStore` protocol (``sms_gateway.store``); ``InMemoryMessageStore`` implements it
without a database. ``gateway.py`` runs a transport (``session.py``: SMPP, ``sandbox.py``: no SMSC,
both on the thread and wake pipe of ``worker.py``); ``config.py`` holds the ``SMPP_*`` settings.
"""
from .config import GatewayConfig, GatewayConfigError
from .encoding import (MessageTooLongError, SmsPart, SmsShape, count_parts, decode_payload, is_gsm7,
                       parse_receipt, split)
from .gateway import Gateway, make_transport, run_forever
from .memory import InMemoryMessageStore
from .store import (DeliveryReceipt, InboundSms, MessageStatus, MessageStore, OutboundSms, PartResult,
                    SubmitError)
from .worker import mask_msisdn

__all__ = [
    "GatewayConfig", "GatewayConfigError", "Gateway", "make_transport", "run_forever",
    "MessageStore", "MessageStatus", "OutboundSms", "InboundSms", "DeliveryReceipt", "PartResult",
    "SubmitError", "InMemoryMessageStore", "SmsShape", "SmsPart", "MessageTooLongError", "count_parts",
    "split", "is_gsm7", "decode_payload", "parse_receipt", "mask_msisdn",
]
