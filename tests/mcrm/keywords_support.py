"""A phone that texts a merchant's service number through the real inbox and keyword engine."""
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from mcrm.core.msisdn import normalize_msisdn
from mcrm.extensions import db
from mcrm.jobs.tasks import process_inbound_sms
from mcrm.messaging.models import InboundMessage, OutboundMessage
from mcrm.messaging.services import store_inbound
from mcrm.messaging.store import SqlMessageStore

CONSUMER = "+8613900139000"


@dataclass
class Phone:
    access_number: str
    merchant: object
    now: object

    def text(self, text, *, msisdn=CONSUMER, extension="", merchant=None, data_coding=8, now=None,
             destination=None) -> list[str]:
        """Text the service number and return the reply bodies to the sender, in order."""
        return [body for to, body in self.exchange(text, msisdn=msisdn, extension=extension, merchant=merchant,
                                                    data_coding=data_coding, now=now, destination=destination)
                if to == normalize_msisdn(msisdn)]

    def exchange(self, text, *, msisdn=CONSUMER, extension="", merchant=None, data_coding=8, now=None,
                 destination=None) -> list[tuple[str, str]]:
        """Text in; every SMS queued because of it, as (recipient, body)."""
        inbound = self.store(text, msisdn=msisdn, extension=extension, merchant=merchant,
                             data_coding=data_coding, now=now, destination=destination)
        process_inbound_sms(now=now or self.now)
        return self.replies_to(inbound)

    def store(self, text, *, msisdn=CONSUMER, extension="", merchant=None, data_coding=8, now=None,
              destination=None) -> InboundMessage:
        merchant = merchant or self.merchant
        destination = destination or self.access_number + merchant.sub_code + extension
        inbound = store_inbound(source_addr=msisdn, destination_addr=destination, text=text,
                                data_coding=data_coding, received_at=now or self.now,
                                access_number=self.access_number)
        db.session.commit()
        return inbound

    def replies_to(self, inbound) -> list[tuple[str, str]]:
        rows = db.session.scalars(sa.select(OutboundMessage).where(
            OutboundMessage.idempotency_key.like(f"mo:{inbound.id}:%")).order_by(OutboundMessage.id)).all()
        return [(m.msisdn, m.body) for m in rows]


def sent_to_phones(app, now) -> list[tuple[str, str]]:
    """(recipient, text) of every queued SMS as the gateway hands it to the SMSC (the real text of a
    login code, which the outbox shows masked); they are then marked submitted."""
    db.session.commit()  # the store works on its own connection
    store = SqlMessageStore(app)
    claimed = store.claim_outbound("test", 100, now)
    store.mark_submitted([sms.id for sms in claimed], now)
    return [(sms.destination_addr, sms.text) for sms in claimed]


@pytest.fixture
def phone(app, merchant, now, settings):
    return Phone(settings.access_number, merchant, now)


def switched_on_app(merchant, kind: str, name: str, words: list[str], **config):
    """A wizard app with its keywords and settings, switched on and committed."""
    from mcrm.keywords import services
    app = services.create_keyword_app(merchant, kind=kind, name=name)
    services.set_app_keywords(app, merchant, words)
    if config:
        services.set_app_config(app, **config)
    services.activate_keyword_app(app)
    db.session.commit()
    return app
