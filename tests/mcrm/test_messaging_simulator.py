"""The phone simulator stays within the signed-in staff's reach: their merchant's number, their own phone."""
import re
from html import unescape

import sqlalchemy as sa

from mcrm.merchants.models import Merchant
from mcrm.messaging.models import InboundMessage
from tests.conftest import csrf_token

OWNER_PHONE = "+8613600136000"
MANAGER_PHONE = "+8613700137000"


def text_in(client, msisdn, text, extension=""):
    response = client.post("/messages/simulator", data={"msisdn": msisdn, "text": text, "extension": extension,
                                                        "csrf_token": csrf_token(client, "/messages/simulator")})
    flash = re.search(r'class="flash error"[^>]*>([^<]*)<', response.get_data(as_text=True))
    return response.status_code, unescape(flash.group(1)) if flash else None


def stored(db):
    return db.session.scalar(sa.select(sa.func.count()).select_from(InboundMessage))


def test_a_manager_cannot_text_from_the_owners_phone(client, db, login, make_staff):
    """Before, the manager texted DL from the owner's phone and read the owner's login code, or XF
    to award points as the owner."""
    make_staff("owner", msisdn=OWNER_PHONE)
    login("manager", msisdn=MANAGER_PHONE)
    for text in ("DL", "XF 13800138000 88", "JF"):
        status, error = text_in(client, "13600136000", text)
        assert status == 200
        assert error == ("+8613600136000 is another staff member's trusted phone: the simulator texts from it "
                         "only when they are signed in")
    assert stored(db) == 0


def test_staff_text_from_their_own_phone_and_anyone_from_a_consumers(client, db, login, make_staff):
    make_staff("owner", msisdn=OWNER_PHONE)
    login("manager", msisdn=MANAGER_PHONE)
    assert text_in(client, "13700137000", "DL") == (302, None)
    assert text_in(client, "13800138000", "JF") == (302, None)
    assert stored(db) == 2


def test_a_text_whose_extension_reaches_another_merchant_is_refused(client, db, login, merchant):
    """Before, with sub-codes 01 and 012, merchant 01's manager texted extension 2… and enrolled,
    awarded points to and opted out members of merchant 012."""
    db.session.add(Merchant(name="长号商户", sub_code="012", signature="【长号店】"))  # data from before the rule
    db.session.commit()
    login("manager")
    status, error = text_in(client, "13800138000", "TD", extension="2")
    assert status == 200
    assert error == ("1065712345012 is not your service number: the simulator only texts your own number and "
                     "its extensions")
    assert stored(db) == 0
    assert text_in(client, "13800138000", "JF", extension="9") == (302, None)
    assert db.session.scalar(sa.select(InboundMessage.merchant_id)) == merchant.id
