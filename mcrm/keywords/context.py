"""What an app is given (one inbound text, its sender and merchant) and what it answers."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mcrm.core.templates import render_template, template_fields
from mcrm.extensions import db
from mcrm.keywords import texts
from mcrm.keywords.fields import member_values
from mcrm.keywords.rules import ParsedText
from mcrm.members.models import Member
from mcrm.members.services import find_member_by_msisdn
from mcrm.merchants.models import Merchant


@dataclass
class Reply:
    """One SMS to queue: to the texter, or to someone else (a staff command tells the member too)."""
    msisdn: str
    body: str
    member: Member | None = None
    #: the outbox occasion (``services.UNRECOGNISED`` marks answers to texts not understood)
    occasion: str | None = None
    #: the body as the phone gets it when ``body`` shows a secret masked (a login code)
    secret_body: str | None = None


_UNSET = object()


@dataclass
class Context:
    merchant: Merchant
    msisdn: str
    parsed: ParsedText
    now: datetime
    #: the service number (and extension) the text was sent to, for consent records
    destination: str = ""
    inbound_id: int | None = None
    replies: list[Reply] = field(default_factory=list)
    _member: object = _UNSET

    @property
    def member(self) -> Member | None:
        """The texter's live membership of this merchant (looked up once)."""
        if self._member is _UNSET:
            self._member = find_member(self.merchant, self.msisdn)
        return self._member

    @member.setter
    def member(self, value: Member | None) -> None:
        self._member = value

    def reply(self, reply_id: str, *, to: str | None = None, member: Member | None = _UNSET, **values) -> None:
        """Answer with the merchant's text for ``reply_id`` (see ``reply_with``)."""
        self.reply_with(texts.reply_template(self.merchant, reply_id), to=to, member=member, **values)

    def reply_with(self, template: str, *, to: str | None = None, member: Member | None = _UNSET,
                   table: dict | None = None, **values) -> None:
        """Answer with ``template`` filled in; ``to`` another number (then ``member`` is theirs).

        ``table``: values from a merchant's upload (an info-query row), keyed by placeholder. They
        come as a dict, never as keywords, so a column named ``to`` cannot pick the recipient, and
        they fill only what nothing else fills.
        """
        if member is _UNSET:
            member = self.member if to is None else None
        body = render_template(template, {**(table or {}), **self.values(template, member, values)})
        if body.strip():
            self.replies.append(Reply(to or self.msisdn, body, member))

    def reply_secret(self, body: str, secret_body: str) -> None:
        """Answer the texter with a secret (a login code): ``body`` shows it masked and is what any
        page shows, even the wizard's test panel; only the phone gets ``secret_body``."""
        self.replies.append(Reply(self.msisdn, body, secret_body=secret_body))

    def say(self, body: str) -> None:
        """Answer with a fixed text that is not a template (a survey question)."""
        if body.strip():
            self.replies.append(Reply(self.msisdn, body, self.member))

    def values(self, template: str, member: Member | None, extra: dict) -> dict:
        return reply_values(self.merchant, template, member, now=self.now, extra=extra)


def reply_values(merchant: Merchant, template: str, member: Member | None, *, now: datetime, extra: dict) -> dict:
    """Placeholder values: the shop, the member's fields, then the app's own."""
    values = {"shop": merchant.name, "gift_points": merchant.join_gift_points}
    if member is not None:
        values.update(member_values(member, now=now, wanted=template_fields(template)))
    values.update(extra)
    return values


def render_reply(merchant: Merchant, reply_id: str, member: Member | None, *, now: datetime, **extra) -> str:
    """The merchant's text for ``reply_id`` filled in for ``member``, outside an inbound text."""
    template = texts.reply_template(merchant, reply_id)
    return render_template(template, reply_values(merchant, template, member, now=now, extra=extra))


def per_transaction(key, compute):
    """``compute()`` once per database transaction and key: a batch of MOs asks once per merchant
    and minute. Nothing else can change what it read while this transaction holds the data."""
    transaction = db.session().get_transaction()
    memo = db.session.info.get("keywords_memo")
    if memo is None or memo[0] is not transaction:
        memo = (transaction, {})
        db.session.info["keywords_memo"] = memo
    if key not in memo[1]:
        memo[1][key] = compute()
    return memo[1][key]


def find_member(merchant: Merchant, msisdn: str) -> Member | None:
    """The live member of ``merchant`` with this number, or None."""
    return find_member_by_msisdn(merchant, msisdn)

