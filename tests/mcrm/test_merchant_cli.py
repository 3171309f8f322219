"""``mcrm merchant update`` and ``mcrm merchant list``: the settings page's rules from the command
line, through the same service and checks; a refused change is one clear line, exit 2, nothing saved."""
from datetime import time

import pytest

from mcrm.core.errors import ValidationError
from mcrm.merchants.models import Merchant
from mcrm.merchants.services import update_rules


def test_merchant_update_changes_window_cap_and_signature(runner, db, merchant):
    result = runner.invoke(args=["merchant", "update", "--sub-code", "01", "--window", "09:30-20:00",
                                 "--cap", "2", "--signature", "新店名"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == ("Merchant 小王烧烤 (01) updated: marketing SMS 09:30-20:00, at most 2 per "
                                     "member a day, signature 【新店名】")
    db.session.expire_all()
    saved = db.session.get(Merchant, merchant.id)
    assert (saved.send_window_start, saved.send_window_end, saved.frequency_cap_per_day, saved.signature) == \
        (time(9, 30), time(20, 0), 2, "【新店名】")
    listed = runner.invoke(args=["merchant", "list"])
    assert listed.output.splitlines() == [f"{merchant.id}\t01\t【新店名】\t小王烧烤\t09:30-20:00\tcap 2/day\tAsia/Shanghai"]


def test_merchant_update_changes_only_what_is_given(runner, db, merchant):
    assert runner.invoke(args=["merchant", "update", "--sub-code", "01", "--cap", "3"]).exit_code == 0
    db.session.expire_all()
    saved = db.session.get(Merchant, merchant.id)
    assert (saved.send_window_start, saved.send_window_end, saved.frequency_cap_per_day, saved.signature) == \
        (time(8, 0), time(21, 0), 3, "【小王烧烤】")


@pytest.mark.parametrize("options, message", [
    (["--cap", "21"], "Error: A member may get 1 to 20 marketing SMS a day, not 21"),
    (["--cap", "0"], "Error: A member may get 1 to 20 marketing SMS a day, not 0"),
    (["--window", "21:00-08:00"], "Error: The sending window must start before it ends"),
    (["--window", "8am-9pm"], "'8am-9pm' is not a window like 08:00-21:00"),
    (["--window", "08:00-25:00"], "'08:00-25:00' is not a window like 08:00-21:00"),
    (["--signature", "店"], "Error: Signature must be 2 to 20 characters, like 【小王烧烤】"),
    (["--cap", "many"], "'many' is not a valid integer"),
    ([], "nothing to change: give --window, --cap or --signature"),
])
def test_merchant_update_refuses_what_the_settings_page_refuses(runner, db, merchant, options, message):
    result = runner.invoke(args=["merchant", "update", "--sub-code", "01", *options])
    assert result.exit_code == 2
    assert message in result.output
    db.session.expire_all()
    saved = db.session.get(Merchant, merchant.id)
    assert (saved.send_window_start, saved.frequency_cap_per_day, saved.signature) == (time(8, 0), 1, "【小王烧烤】")


def test_merchant_update_of_an_unknown_merchant_is_refused(runner, db):
    result = runner.invoke(args=["merchant", "update", "--sub-code", "99", "--cap", "2"])
    assert result.exit_code == 2 and "Error: No merchant with sub-code 99" in result.output


def test_the_daily_cap_has_the_settings_pages_limit_in_the_service_too(db, merchant):
    # the limit lives in the service, so the command line, which has no page form, keeps it too
    with pytest.raises(ValidationError, match="1 to 20 marketing SMS a day, not 25"):
        update_rules(merchant, frequency_cap_per_day=25)
