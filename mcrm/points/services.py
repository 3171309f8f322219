"""Points: the only code that writes the ledger and the cached balance.

Every change is one ``PointsEntry`` plus an atomic conditional ``UPDATE`` of
``members.points_balance`` in the same transaction, so the balance always equals the ledger
sum and two concurrent redeems can never overdraw (the second one's WHERE fails).
"""
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from mcrm.core.errors import (ConfirmationRequiredError, ConflictError, InsufficientPointsError, NotFoundError,
                              ValidationError)
from mcrm.core.rows import register_inserted
from mcrm.extensions import db
from mcrm.formatting import money
from mcrm.members.models import PURCHASE_TIMES, Member
from mcrm.members.services import on_join
from mcrm.merchants.models import Merchant
from mcrm.points import rules
from mcrm.points.models import IS_CREDIT, IS_PURCHASE, EntryKind, PointsEntry

#: how far ahead "points expiring soon" looks
EXPIRING_SOON_DAYS = 30


@dataclass(frozen=True)
class Actor:
    """Who changed points: a staff member, or a channel ('sms', 'system') in words."""
    label: str
    staff_id: int | None = None

    @classmethod
    def staff(cls, staff) -> "Actor":
        return cls(label=staff.display_name or staff.username, staff_id=staff.id)


SYSTEM = Actor("system")


def expiry_rule(merchant: Merchant) -> rules.ExpiryRule:
    return rules.ExpiryRule(policy=merchant.points_expiry_policy, months=merchant.points_expiry_months,
                            cycle_end_month=merchant.points_cycle_end_month, timezone=merchant.timezone)


def check_purchase_amount(merchant: Merchant, amount, *, confirmed: bool = False) -> Decimal:
    """The amount if the merchant takes it: never above its maximum purchase, and above its
    confirmation threshold only once staff ``confirmed`` it (8800 typed for 88.00 would give away
    8,800 points)."""
    amount = rules.parse_amount(amount)
    maximum, threshold = merchant.max_purchase_amount, merchant.confirm_purchase_above
    if maximum is not None and amount > maximum:
        raise ValidationError("%(amount)s is more than the largest purchase this shop records, %(maximum)s",
                              amount=money(amount), maximum=money(maximum))
    if not confirmed and threshold is not None and amount > threshold:
        raise ConfirmationRequiredError("%(amount)s is above %(threshold)s: is the amount right?",
                                        amount=money(amount), threshold=money(threshold))
    return amount


def tier_rule(merchant: Merchant) -> rules.TierRule:
    return rules.TierRule(thresholds=merchant.tier_thresholds, bonus_table=merchant.tenure_bonus,
                          basis=merchant.tier_basis, timezone=merchant.timezone)


def record_purchase(member: Member, merchant: Merchant, amount, *, actor: Actor, now: datetime,
                    idempotency_key: str | None = None, confirmed: bool = False) -> PointsEntry | None:
    """A purchase: spend and last visit updated, amount x rate points earned.

    Refused above the merchant's limits (``check_purchase_amount``). Returns the earn entry, or
    None when the amount earns no whole point.
    """
    amount = rules.parse_amount(amount)
    if idempotency_key and (done := _find_by_key(idempotency_key)) is not None:
        return done
    check_purchase_amount(merchant, amount, confirmed=confirmed)
    points = rules.earn_points(amount, merchant.points_per_yuan)
    # the tier counts this purchase if its window holds today: worked out before the entry (and
    # before the member changes, which the query would flush), the member is written once, not twice
    spend = _window_spend(member, merchant, now=now, purchase=amount)
    member.total_spend = (member.total_spend or 0) + amount
    member.last_visit_at = now
    refresh_tier(member, merchant, now=now, spend=spend)
    entry = None
    if points:
        entry = _append(member, EntryKind.EARN, points, actor=actor, now=now, amount=amount,
                        reason=f"消费 ¥{amount}", expires_at=expiry_rule(merchant).expires_at(now),
                        idempotency_key=idempotency_key)
        _set_purchase_times(member, [now, *(getattr(member, column) for column in PURCHASE_TIMES)])
    db.session.flush()
    return entry


def grant_points(member: Member, merchant: Merchant, points: int, *, reason: str, actor: Actor,
                 now: datetime, idempotency_key: str | None = None) -> PointsEntry:
    """A gift (join bonus, campaign reward): adds points that expire like earned ones."""
    if points <= 0:
        raise ValidationError("Points to grant must be more than 0")
    if idempotency_key and (done := _find_by_key(idempotency_key)) is not None:
        return done
    return _append(member, EntryKind.GIFT, points, actor=actor, now=now, reason=reason,
                   expires_at=expiry_rule(merchant).expires_at(now), idempotency_key=idempotency_key)


def redeem_points(member: Member, points: int, *, reason: str, actor: Actor, now: datetime,
                  idempotency_key: str | None = None) -> PointsEntry:
    """Take points for a reward; refused with InsufficientPointsError when the balance is short."""
    points = _whole_points(points)
    if points <= 0:
        raise ValidationError("Points to redeem must be more than 0")
    if idempotency_key and (done := _find_by_key(idempotency_key)) is not None:
        return done
    return _append(member, EntryKind.REDEEM, -points, actor=actor, now=now, reason=reason or "兑换",
                   idempotency_key=idempotency_key)


def adjust_points(member: Member, merchant: Merchant, delta: int, *, reason: str, actor: Actor,
                  now: datetime) -> PointsEntry:
    """A manual correction in either direction; the reason is required."""
    delta = _whole_points(delta)
    if delta == 0:
        raise ValidationError("An adjustment must change the balance")
    if not (reason or "").strip():
        raise ValidationError("A reason is required for a manual adjustment")
    expires_at = expiry_rule(merchant).expires_at(now) if delta > 0 else None
    return _append(member, EntryKind.ADJUST, delta, actor=actor, now=now, reason=reason.strip(),
                   expires_at=expires_at)


def import_balances(merchant: Merchant, balances: list[tuple[int, int, int]], *, reason: str, actor: Actor,
                    now: datetime) -> int:
    """Set members' balances to the figures of an imported file, with one ADJUST entry per change.

    ``balances`` holds (member id, balance as the caller read it, imported figure). CSV imports
    pass a thousand at a time, so this is two executemany statements, not two per member. A
    balance only moves if it still holds what the caller read; if any changed meanwhile the
    batch is refused, so the balance always equals the ledger sum. Returns the entries written.
    """
    changes = [(member_id, read, target) for member_id, read, target in balances if target != read]
    if any(target < 0 for _id, _read, target in changes):
        raise ValidationError("An imported balance cannot be negative")
    if not changes:
        return 0
    members = Member.__table__
    moved = db.session.execute(
        sa.update(members)
        .where(members.c.id == sa.bindparam("m_id"), members.c.points_balance == sa.bindparam("m_read"))
        .values(points_balance=sa.bindparam("m_target"), updated_at=now),
        [{"m_id": member_id, "m_read": read, "m_target": target} for member_id, read, target in changes])
    # drivers that cannot count an executemany's rows leave it to the caller's row locks
    if db.session.get_bind().dialect.supports_sane_multi_rowcount and moved.rowcount != len(changes):
        raise ConflictError("Points changed while the file was being imported; import it again")
    expires_at = expiry_rule(merchant).expires_at(now)
    db.session.execute(sa.insert(PointsEntry.__table__), [
        dict(merchant_id=merchant.id, member_id=member_id, kind=EntryKind.ADJUST, points=target - read,
             balance_after=target, amount=None, reason=reason[:200], actor=actor.label[:64],
             actor_staff_id=actor.staff_id, expires_at=expires_at if target > read else None,
             idempotency_key=None, created_at=now)
        for member_id, read, target in changes])
    return len(changes)


def void_entry(entry: PointsEntry, merchant: Merchant, *, reason: str, actor: Actor,
               now: datetime) -> PointsEntry:
    """Reverse a purchase or a redemption recorded by mistake, with a reason.

    The void is a new entry of the same kind with the opposite points (and amount), linked to the
    original: the ledger stays append-only and points earned and spend net out. A voided purchase
    takes back its points and its spend; if the member has spent them the void is refused, as a
    balance never goes negative (a manager may still adjust), and once its points have lapsed
    there is nothing left to take back. A voided redemption gives the points back as they were:
    any that lapsed meanwhile lapse at once. An entry is voided once: the unique link refuses a
    second void even from two managers at the same moment.
    """
    if entry.kind not in (EntryKind.EARN, EntryKind.REDEEM) or entry.voids_entry_id is not None:
        raise ValidationError("Only a purchase or a redemption can be voided")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("A reason is required to void an entry")
    if db.session.scalar(sa.select(PointsEntry.id).where(PointsEntry.voids_entry_id == entry.id)) is not None:
        raise ConflictError("This entry has already been voided")
    if entry.expires_at is not None and entry.expires_at <= now:
        raise ValidationError("The points of this purchase have expired: it can no longer be voided")
    member = db.session.get(Member, entry.member_id)
    try:
        with db.session.begin_nested():
            void = _append(member, entry.kind, -entry.points, actor=actor, now=now, reason=reason,
                           amount=-entry.amount if entry.amount is not None else None,
                           expires_at=entry.expires_at, voids_entry_id=entry.id)
    except sa.exc.IntegrityError:
        db.session.expire(member, ["points_balance"])
        raise ConflictError("This entry has already been voided") from None
    except InsufficientPointsError as error:
        raise InsufficientPointsError(
            "The member has %(balance)s points, fewer than the %(needed)s this purchase earned: they have "
            "been spent, so it cannot be voided", **error.details) from None
    if entry.kind == EntryKind.EARN:
        member.total_spend = (member.total_spend or 0) - (entry.amount or 0)
        db.session.flush()
        _set_purchase_times(member, db.session.scalars(
            sa.select(PointsEntry.created_at).where(PointsEntry.member_id == member.id, IS_PURCHASE,
                                                    ~sa.exists().where(_VOID.voids_entry_id == PointsEntry.id))
            .order_by(PointsEntry.created_at.desc(), PointsEntry.id.desc()).limit(len(PURCHASE_TIMES))))
        refresh_tier(member, merchant, now=now)
    else:
        expire_member_points(member, now=now)
    db.session.flush()
    return void


_VOID = sa.orm.aliased(PointsEntry)


def _set_purchase_times(member: Member, times) -> None:
    """Keep the member's ``PURCHASE_TIMES``: the latest of ``times`` (None for none), newest first."""
    latest = sorted((moment for moment in times if moment is not None), reverse=True)[:len(PURCHASE_TIMES)]
    for n, column in enumerate(PURCHASE_TIMES):
        setattr(member, column, latest[n] if n < len(latest) else None)


def get_entry(member: Member, entry_id: int) -> PointsEntry:
    """One line of the member's ledger."""
    entry = db.session.get(PointsEntry, entry_id)
    if entry is None or entry.member_id != member.id:
        raise NotFoundError("No such points entry")
    return entry


def _whole_points(value) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValidationError("Points must be a whole number, not %(value)r", value=value) from None
    if abs(number) > 100_000_000:
        raise ValidationError("That many points is not plausible")
    return number


# The statements of the paths every purchase, gift and points reply takes are built once, with
# bind parameters: building one costs more than running it. They run as Core statements on the
# session's connection, without the ORM's unit of work, which costs several times the INSERT.
_entries = PointsEntry.__table__
_ID_BY_KEY = sa.select(_entries.c.id).where(_entries.c.idempotency_key == sa.bindparam("key"))
_members = Member.__table__
#: a credit, or a debit only while the balance covers it (the second of two concurrent redeems
#: finds no row): the new balance, or no row
_ADD = sa.update(_members).where(_members.c.id == sa.bindparam("member_id")).values(
    points_balance=_members.c.points_balance + sa.bindparam("points")).returning(_members.c.points_balance)
_TAKE = _ADD.where(_members.c.points_balance + sa.bindparam("points") >= 0)
_BALANCE = sa.select(_members.c.points_balance).where(_members.c.id == sa.bindparam("member_id"))
_INSERT_ENTRY = sa.insert(_entries).returning(_entries.c.id)
_LEDGER = sa.select(_entries.c.expires_at, _entries.c.points, IS_CREDIT.label("is_lot")).where(
    _entries.c.member_id == sa.bindparam("member_id"))
_VOIDS = sa.orm.aliased(PointsEntry)
#: yuan spent (the amounts of purchases, not their points) from ``since`` to before ``until``; a
#: voided purchase and its void both drop out, so a December purchase voided in January leaves the
#: year it was made in, not the year of the void
_SPEND = sa.select(PointsEntry.member_id, sa.func.coalesce(sa.func.sum(PointsEntry.amount), 0)).where(
    PointsEntry.member_id.in_(sa.bindparam("member_ids", expanding=True)), PointsEntry.kind == EntryKind.EARN,
    PointsEntry.created_at >= sa.bindparam("since"), PointsEntry.created_at < sa.bindparam("until"),
    # coalesce: with "voids_entry_id IS NULL" alone SQLite walks the void link's unique index over
    # nearly every entry instead of the member's entries (figures in bench/README.md, "Keywords")
    sa.func.coalesce(PointsEntry.voids_entry_id, 0) == 0,
    ~sa.exists().where(_VOIDS.voids_entry_id == PointsEntry.id)
).group_by(PointsEntry.member_id)


def _find_by_key(key: str) -> PointsEntry | None:
    # almost always no such entry: asked on the connection (see _lots_and_debits), the ORM only
    # loads one that is found
    entry_id = db.session.connection().execute(_ID_BY_KEY, {"key": key}).scalar()
    return None if entry_id is None else db.session.get(PointsEntry, entry_id)


def _append(member: Member, kind: str, points: int, *, actor: Actor, now: datetime, reason: str = "",
            amount=None, expires_at=None, idempotency_key=None, voids_entry_id=None) -> PointsEntry:
    db.session.flush()  # pending member changes first, so the UPDATE below is the last word
    connection = db.session.connection()
    balance = connection.execute(_TAKE if points < 0 else _ADD,
                                 {"member_id": member.id, "points": points}).scalar()
    if balance is None:
        current = connection.execute(_BALANCE, {"member_id": member.id}).scalar()
        raise InsufficientPointsError("Balance is %(balance)s points, %(needed)s needed",
                                      balance=current, needed=-points)
    set_committed_value(member, "points_balance", balance)
    values = dict(merchant_id=member.merchant_id, member_id=member.id, kind=kind, points=points,
                  balance_after=balance, amount=amount, reason=reason[:200], actor=actor.label[:64],
                  actor_staff_id=actor.staff_id, expires_at=expires_at, idempotency_key=idempotency_key,
                  created_at=now, voids_entry_id=voids_entry_id)
    entry = PointsEntry(id=connection.execute(_INSERT_ENTRY, values).scalar_one(), **values)
    register_inserted(entry)  # every column given: the object stands for the row just inserted
    return entry


def _lots_and_debits(member_id: int) -> tuple[list, int]:
    # on the connection: every entry is inserted there at once (``_append``), none waits in the session
    rows = db.session.connection().execute(_LEDGER, {"member_id": member_id}).all()
    lots = [(expires, points) for expires, points, is_lot in rows if is_lot]
    debits = -sum(points for _expires, points, is_lot in rows if not is_lot)
    return lots, debits


def expiring_points(member: Member, *, now: datetime, days: int = EXPIRING_SOON_DAYS) -> int:
    """Points that lapse within ``days`` unless spent first."""
    lots, debits = _lots_and_debits(member.id)
    return rules.expiring_by(lots, debits, now + timedelta(days=days))


def expiring_points_of(member_ids: list[int], *, now: datetime,
                       days: int = EXPIRING_SOON_DAYS) -> dict[int, int]:
    """``expiring_points`` of many members in one grouped query (a campaign's batch): the lots that
    lapse by the horizon beyond all debits, first in, first out. Members with none are left out."""
    horizon = now + timedelta(days=days)
    lapsing = sa.func.sum(sa.case((sa.and_(IS_CREDIT, PointsEntry.expires_at <= horizon), PointsEntry.points),
                                  else_=0))
    debits = sa.func.sum(sa.case((IS_CREDIT, 0), else_=-PointsEntry.points))
    rows = db.session.execute(sa.select(PointsEntry.member_id, lapsing - debits)
                              .where(PointsEntry.member_id.in_(member_ids))
                              .group_by(PointsEntry.member_id).having(lapsing - debits > 0))
    return {member_id: int(points) for member_id, points in rows}


def expire_member_points(member: Member, *, now: datetime) -> PointsEntry | None:
    lots, debits = _lots_and_debits(member.id)
    due = min(rules.expirable(lots, debits, now), member.points_balance)
    if due <= 0:
        return None
    return _append(member, EntryKind.EXPIRE, -due, actor=SYSTEM, now=now, reason="积分到期")


def expire_due_points(merchant: Merchant, *, now: datetime) -> int:
    """Expire every lapsed point of a merchant's members; returns the number of members touched.

    Idempotent: a second run finds nothing due, because expired points count as debits.
    One grouped query finds the candidates, so a million members cost one scan.
    """
    expired_lots = sa.func.sum(sa.case((sa.and_(IS_CREDIT, PointsEntry.expires_at <= now),
                                        PointsEntry.points), else_=0))
    debits = sa.func.sum(sa.case((IS_CREDIT, 0), else_=-PointsEntry.points))
    candidates = db.session.scalars(
        sa.select(PointsEntry.member_id).where(PointsEntry.merchant_id == merchant.id)
        .group_by(PointsEntry.member_id).having(expired_lots > debits)).all()
    touched = 0
    for member_id in candidates:
        member = db.session.get(Member, member_id)
        if expire_member_points(member, now=now) is not None:
            touched += 1
    db.session.flush()
    return touched


def _spend_between(member_ids: list[int], since: datetime, until: datetime) -> dict[int, Decimal]:
    # on the connection, as _lots_and_debits
    rows = db.session.connection().execute(_SPEND, {"member_ids": member_ids, "since": since,
                                                    "until": until}).all()
    return dict(rows)


def _window_spend(member: Member, merchant: Merchant, *, now: datetime, purchase=0) -> Decimal:
    """Yuan the member spent in the tier rule's window at ``now`` (0 for a member not flushed yet),
    with ``purchase``, made at ``now`` and not recorded yet, where the window holds it."""
    since, until = tier_rule(merchant).spend_window(now)
    spend = _spend_between([member.id], since, until).get(member.id, 0) if member.id else 0
    return spend + (purchase if since <= now < until else 0)


def tier_score(member: Member, merchant: Merchant, *, now: datetime, spend=None) -> rules.TierScore:
    """Yuan spent in the merchant's window (the previous calendar year, or the last 12 months)
    plus the tenure bonus (docs/points.md). ``spend`` saves the query when the caller knows it."""
    if spend is None:
        spend = _window_spend(member, merchant, now=now)
    return tier_rule(merchant).score(spend, member.joined_at, now)


@on_join  # a member joining (or back from deletion) starts in the tier its score gives
def refresh_tier(member: Member, merchant: Merchant, *, now: datetime, spend=None) -> bool:
    """Recompute the member's tier; returns True when it changed."""
    score = tier_score(member, merchant, now=now, spend=spend)
    tier = tier_rule(merchant).tier_for(score)
    changed = tier != member.tier
    member.tier, member.tier_score, member.tier_bonus = tier, score.total, score.bonus
    return changed


#: a batch of live members for the re-evaluation, as plain rows (no ORM objects: see refresh_all_tiers)
_TIER_BATCH = sa.select(Member.id, Member.joined_at, Member.tier, Member.tier_score, Member.tier_bonus).where(
    Member.merchant_id == sa.bindparam("merchant_id"), Member.deleted_at.is_(None),
    Member.id > sa.bindparam("last_id")).order_by(Member.id).limit(sa.bindparam("batch"))
_SET_TIER = Member.__table__.update().where(Member.__table__.c.id == sa.bindparam("b_id")).values(
    tier=sa.bindparam("b_tier"), tier_score=sa.bindparam("b_score"), tier_bonus=sa.bindparam("b_bonus"))


def refresh_all_tiers(merchant: Merchant, *, now: datetime, batch: int = 1000) -> int:
    """The monthly re-evaluation (and the one after a change of tier rules): a batch of members and
    one grouped query at a time, the same rule as ``refresh_tier`` (``TierRule.score``), written
    only where the tier or the score's parts moved. Plain rows rather than ORM objects: loading a
    million members as objects took most of the time (10 s per 100,000), too long for the settings
    page that calls it.

    Returns how many members changed tier.
    """
    connection = db.session.connection()
    rule = tier_rule(merchant)
    since, until = rule.spend_window(now)
    changed, last_id = 0, 0
    while True:
        rows = connection.execute(_TIER_BATCH, {"merchant_id": merchant.id, "last_id": last_id,
                                                "batch": batch}).all()
        if not rows:
            for loaded in [obj for obj in db.session.identity_map.values() if isinstance(obj, Member)]:
                # written past the ORM: read again
                db.session.expire(loaded, ["tier", "tier_score", "tier_bonus"])
            return changed
        spend = _spend_between([row.id for row in rows], since, until)
        updates = []
        for row in rows:
            score = rule.score(spend.get(row.id, 0), row.joined_at, now)
            tier = rule.tier_for(score)
            if (tier, score.total, score.bonus) != (row.tier, row.tier_score, row.tier_bonus):
                updates.append({"b_id": row.id, "b_tier": tier, "b_score": score.total,
                                "b_bonus": score.bonus})
                changed += tier != row.tier
        if updates:
            connection.execute(_SET_TIER, updates)
        last_id = rows[-1].id


def list_entries(member: Member, *, before_id: int | None = None, limit: int = 100) -> list[PointsEntry]:
    """The member's ledger, newest first; ``before_id`` pages back to older lines. Each line comes
    with the entry it voids and the void of it, for the links between them."""
    query = sa.select(PointsEntry).where(PointsEntry.member_id == member.id).options(
        selectinload(PointsEntry.voids), selectinload(PointsEntry.voided_by))
    if before_id is not None:
        query = query.where(PointsEntry.id < before_id)
    return db.session.scalars(query.order_by(PointsEntry.id.desc()).limit(limit)).all()
