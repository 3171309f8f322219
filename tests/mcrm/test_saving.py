"""mcrm.core.saving: how every console view commits a change or refuses it with nothing half-saved."""
import pytest
import sqlalchemy as sa
from flask import get_flashed_messages

from mcrm.core.errors import ValidationError
from mcrm.core.saving import saving
from mcrm.merchants.models import Merchant


@pytest.fixture
def request_context(app):
    with app.test_request_context("/"):
        yield


def _rename(merchant, name):
    merchant.name = name
    return merchant


def _stored_name(db, merchant) -> str:
    db.session.expire_all()
    return db.session.scalar(sa.select(Merchant.name).where(Merchant.id == merchant.id))


def test_a_change_is_committed_when_the_block_ends(db, merchant, request_context):
    with saving() as outcome:
        _rename(merchant, "新名字")
    assert outcome.ok and outcome.error is None
    db.session.rollback()  # nothing left to roll back: the change was committed
    assert _stored_name(db, merchant) == "新名字"
    assert get_flashed_messages() == []


def test_a_refused_change_keeps_nothing_and_is_flashed(db, merchant, request_context):
    before = merchant.name
    with saving() as outcome:
        _rename(merchant, "半途")
        db.session.flush()
        raise ValidationError("Not an amount: %(text)r", text="x")
    assert not outcome.ok and isinstance(outcome.error, ValidationError)
    assert _stored_name(db, merchant) == before
    assert get_flashed_messages(with_categories=True) == [("error", outcome.error.translated())]


def test_a_refusal_can_go_to_a_form_error_list_or_stay_with_the_caller(db, merchant, request_context):
    errors: list = []
    with saving(errors=errors):
        raise ValidationError("Bad number")
    with saving(quiet=True) as quiet:
        raise ValidationError("Too many codes")
    assert errors == ["Bad number"]
    assert quiet.error.message == "Too many codes"
    assert get_flashed_messages() == []


def test_a_try_out_keeps_nothing_even_when_it_succeeds(db, merchant, request_context):
    before = merchant.name
    with saving(keep=False) as outcome:
        _rename(merchant, "试一试")
        db.session.flush()
    assert outcome.ok
    assert _stored_name(db, merchant) == before


def test_keep_refused_commits_what_was_recorded_before_the_refusal(db, merchant, request_context):
    with saving(keep_refused=True) as outcome:
        _rename(merchant, "记下失败")
        raise ValidationError("The code is wrong or has expired: ask for a new one")
    assert not outcome.ok
    assert _stored_name(db, merchant) == "记下失败"


def test_an_error_that_is_no_refusal_is_not_swallowed(db, merchant, request_context):
    with pytest.raises(LookupError):
        with saving():
            _rename(merchant, "不该保存")
            raise LookupError("a bug, not a refusal")
