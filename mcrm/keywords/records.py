"""What a keyword app collected, one line per sign-up, vote, coupon or answered text, with the
texter's member name when the number is a member: the app page's list and its CSV download (the door
list of an event, the coupons handed out)."""
from collections.abc import Callable, Iterator

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from mcrm.core.csv_out import ENCODINGS, csv_chunks, safe_cell
from mcrm.extensions import db
from mcrm.keywords.apps.custom import last_valid_moment, vote_options
from mcrm.keywords.models import AppKind, CouponCode, EventSignup, KeywordApp, KeywordUse, PollVote, SignupStatus
from mcrm.members.models import Member

#: the columns of each kind's records; autoreply and info list the answered texts
HEADERS = {
    AppKind.EVENT: (_l("Phone"), _l("Name"), _l("Seats"), _l("Status"), _l("Signed up"), _l("Reminded")),
    AppKind.VOTE: (_l("Phone"), _l("Name"), _l("Option"), _l("Voted")),
    AppKind.COUPON: (_l("Phone"), _l("Name"), _l("Code"), _l("Issued"), _l("Valid through"), _l("Redeemed"),
                     _l("Redeemed by")),
}
USE_HEADERS = (_l("Phone"), _l("Name"), _l("Answered"))
STATUS_LABELS = {SignupStatus.CONFIRMED: _l("confirmed"), SignupStatus.WAITING: _l("waiting list")}

_TABLES = {AppKind.EVENT: EventSignup, AppKind.VOTE: PollVote, AppKind.COUPON: CouponCode}


def headers(app: KeywordApp) -> list[str]:
    return [str(label) for label in HEADERS.get(app.kind, USE_HEADERS)]


def iter_records(app: KeywordApp, *, batch: int = 1000) -> Iterator[tuple[object, str | None]]:
    """(row, member name or None) in the order they came, ``batch`` rows per query."""
    table = _TABLES.get(app.kind, KeywordUse)
    member_name = (sa.select(Member.name).where(Member.merchant_id == app.merchant_id, Member.msisdn == table.msisdn,
                                                Member.deleted_at.is_(None))
                   .correlate(table).scalar_subquery())
    query = sa.select(table, member_name).where(table.app_id == app.id)
    if table is CouponCode:
        query = query.where(CouponCode.msisdn.is_not(None))  # a code still in the pool is nobody's yet
    last_id = 0
    while True:
        rows = db.session.execute(query.where(table.id > last_id).order_by(table.id).limit(batch)).all()
        yield from rows
        if len(rows) < batch:
            return
        last_id = rows[-1][0].id


def row_cells(app: KeywordApp, local_time: Callable) -> Callable[[object, str | None], list]:
    """What turns one record (and its member name) into the cells of ``headers``, made once per app;
    ``local_time`` formats a time in the merchant's zone."""
    if app.kind == AppKind.EVENT:
        return lambda row, name: [row.msisdn, safe_cell(name), row.seats,
                                  str(STATUS_LABELS.get(row.status, row.status)), local_time(row.created_at),
                                  local_time(row.reminded_at)]
    if app.kind == AppKind.VOTE:
        labels = {key: f"{key}. {label}" for key, label in vote_options(app)}
        return lambda row, name: [row.msisdn, safe_cell(name), safe_cell(labels.get(row.option, row.option)),
                                  local_time(row.created_at)]
    if app.kind == AppKind.COUPON:
        return lambda row, name: [row.msisdn, safe_cell(name), safe_cell(row.code), local_time(row.issued_at),
                                  local_time(last_valid_moment(row.expires_at), "%Y-%m-%d"),
                                  local_time(row.redeemed_at),
                                  safe_cell(row.redeemed_by)]
    return lambda row, name: [row.msisdn, safe_cell(name), local_time(row.created_at)]


def records_csv(app: KeywordApp, *, encoding: str, local_time: Callable, batch: int = 1000) -> Iterator[bytes]:
    cells = row_cells(app, local_time)
    rows = (cells(row, name) for row, name in iter_records(app, batch=batch))
    return csv_chunks(headers(app), rows, codec=ENCODINGS[encoding], batch=batch)
