"""Points: the only code that writes the ledger and the cached balance.

Every change is one ``PointsEntry`` plus an atomic conditional ``UPDATE`` of
``members.points_balance`` in the same transaction, so the balance always equals the ledger
sum and two concurrent redeems can never overdraw (the second one's WHERE fails).
"""
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from mcrm.core.errors import ConflictError, InsufficientPointsError, ValidationError
from mcrm.core.rows import register_inserted
from mcrm.extensions import db
from mcrm.members.models import Member
from mcrm.merchants.models import Merchant
from mcrm.points import rules
from mcrm.points.models import EntryKind, PointsEntry

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


def record_purchase(member: Member, merchant: Merchant, amount, *, actor: Actor, now: datetime,
                    idempotency_key: str | None = None) -> PointsEntry | None:
    """A purchase: spend and last visit updated, amount x rate points earned.

    Returns the earn entry, or None when the amount earns no whole point.
    """
    amount = rules.parse_amount(amount)
    if idempotency_key and (done := _find_by_key(idempotency_key)) is not None:
        return done
    points = rules.earn_points(amount, merchant.points_per_yuan)
    # the tier counts this purchase's points: worked out before the entry (and before the member
    # changes, which the query would flush), the member is written once, not before and after it
    earned = _earned_last_year(member, now=now) + points
    member.total_spend = (member.total_spend or 0) + amount
    member.last_visit_at = now
    refresh_tier(member, merchant, now=now, earned=earned)
    entry = None
    if points:
        entry = _append(member, EntryKind.EARN, points, actor=actor, now=now, amount=amount,
                        reason=f"消费 ¥{amount}", expires_at=expiry_rule(merchant).expires_at(now),
                        idempotency_key=idempotency_key)
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


def _whole_points(value) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValidationError("Points must be a whole number, not %(value)r", value=value) from None
    if abs(number) > 100_000_000:
        raise ValidationError("That many points is not plausible")
    return number


# The statements of the paths every purchase, gift and points reply takes are built once, with
# bind parameters: building one cost more than running it. They run as Core statements on the
# session's connection, without the ORM's unit of work, which cost several times the INSERT.
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
_LEDGER = sa.select(_entries.c.expires_at, _entries.c.points).where(
    _entries.c.member_id == sa.bindparam("member_id"))
_EARNED = sa.select(PointsEntry.member_id, sa.func.sum(PointsEntry.points)).where(
    PointsEntry.member_id.in_(sa.bindparam("member_ids", expanding=True)), PointsEntry.kind == EntryKind.EARN,
    PointsEntry.created_at > sa.bindparam("since")).group_by(PointsEntry.member_id)


def _find_by_key(key: str) -> PointsEntry | None:
    # almost always no such entry: asked on the connection (see _lots_and_debits), the ORM only
    # loads one that is found
    entry_id = db.session.connection().execute(_ID_BY_KEY, {"key": key}).scalar()
    return None if entry_id is None else db.session.get(PointsEntry, entry_id)


def _append(member: Member, kind: str, points: int, *, actor: Actor, now: datetime, reason: str = "",
            amount=None, expires_at=None, idempotency_key=None) -> PointsEntry:
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
                  created_at=now)
    entry = PointsEntry(id=connection.execute(_INSERT_ENTRY, values).scalar_one(), **values)
    register_inserted(entry)  # every column given: the object stands for the row just inserted
    return entry


def _lots_and_debits(member_id: int) -> tuple[list, int]:
    # on the connection: every entry is inserted there at once (``_append``), none waits in the session
    rows = db.session.connection().execute(_LEDGER, {"member_id": member_id}).all()
    lots = [(expires, points) for expires, points in rows if points > 0]
    debits = -sum(points for _expires, points in rows if points < 0)
    return lots, debits


def expiring_points(member: Member, *, now: datetime, days: int = EXPIRING_SOON_DAYS) -> int:
    """Points that lapse within ``days`` unless spent first."""
    lots, debits = _lots_and_debits(member.id)
    return rules.expiring_by(lots, debits, now + timedelta(days=days))


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
    expired_lots = sa.func.sum(sa.case((sa.and_(PointsEntry.points > 0, PointsEntry.expires_at <= now),
                                        PointsEntry.points), else_=0))
    debits = sa.func.sum(sa.case((PointsEntry.points < 0, -PointsEntry.points), else_=0))
    candidates = db.session.scalars(
        sa.select(PointsEntry.member_id).where(PointsEntry.merchant_id == merchant.id)
        .group_by(PointsEntry.member_id).having(expired_lots > debits)).all()
    touched = 0
    for member_id in candidates:
        member = db.session.get(Member, member_id)
        if expire_member_points(member, now=now) is not None:
            refresh_tier(member, merchant, now=now)
            touched += 1
    db.session.flush()
    return touched


def _earned_since(member_ids: list[int], since: datetime) -> dict[int, int]:
    # on the connection, as _lots_and_debits
    rows = db.session.connection().execute(_EARNED, {"member_ids": member_ids, "since": since}).all()
    return {member_id: int(total) for member_id, total in rows}


def _earned_last_year(member: Member, *, now: datetime) -> int:
    """Points the member earned in the 12 months before ``now`` (0 for a member not flushed yet)."""
    return _earned_since([member.id], rules.add_months(now, -12)).get(member.id, 0) if member.id else 0


def tier_score(member: Member, merchant: Merchant, *, now: datetime, earned: int | None = None) -> int:
    """Points earned in the last 12 months plus the tenure bonus (docs/points.md)."""
    if earned is None:
        earned = _earned_last_year(member, now=now)
    return _score(earned, member.joined_at, merchant, now)


def _score(earned: int, joined_at: datetime | None, merchant: Merchant, now: datetime) -> int:
    return earned + rules.tenure_bonus(joined_at or now, now, merchant.tenure_bonus)


def refresh_tier(member: Member, merchant: Merchant, *, now: datetime, earned: int | None = None) -> bool:
    """Recompute the member's tier; returns True when it changed."""
    score = tier_score(member, merchant, now=now, earned=earned)
    tier = rules.tier_for(score, merchant.tier_thresholds)
    changed = tier != member.tier
    member.tier_score, member.tier = score, tier
    return changed


#: a batch of live members for the re-evaluation, as plain rows (no ORM objects: see refresh_all_tiers)
_TIER_BATCH = sa.select(Member.id, Member.joined_at, Member.tier, Member.tier_score).where(
    Member.merchant_id == sa.bindparam("merchant_id"), Member.deleted_at.is_(None),
    Member.id > sa.bindparam("last_id")).order_by(Member.id).limit(sa.bindparam("batch"))
_SET_TIER = Member.__table__.update().where(Member.__table__.c.id == sa.bindparam("b_id")).values(
    tier=sa.bindparam("b_tier"), tier_score=sa.bindparam("b_score"))


def refresh_all_tiers(merchant: Merchant, *, now: datetime, batch: int = 1000) -> int:
    """The monthly re-evaluation (and the one after a change of tier rules): a batch of members and
    one grouped query at a time, the same rules as ``refresh_tier``, written only where the score
    or tier moved. Plain rows rather than ORM objects: loading a million members as objects took
    most of the time (10 s per 100,000), too long for the settings page that calls it.

    Returns how many members changed tier.
    """
    connection = db.session.connection()
    changed, last_id, since = 0, 0, rules.add_months(now, -12)
    while True:
        rows = connection.execute(_TIER_BATCH, {"merchant_id": merchant.id, "last_id": last_id,
                                                "batch": batch}).all()
        if not rows:
            for loaded in [obj for obj in db.session.identity_map.values() if isinstance(obj, Member)]:
                db.session.expire(loaded, ["tier", "tier_score"])  # written past the ORM: read again
            return changed
        earned = _earned_since([row.id for row in rows], since)
        updates = []
        for row in rows:
            score = _score(earned.get(row.id, 0), row.joined_at, merchant, now)
            tier = rules.tier_for(score, merchant.tier_thresholds)
            if (tier, score) != (row.tier, row.tier_score):
                updates.append({"b_id": row.id, "b_tier": tier, "b_score": score})
                changed += tier != row.tier
        if updates:
            connection.execute(_SET_TIER, updates)
        last_id = rows[-1].id


def list_entries(member: Member, *, before_id: int | None = None, limit: int = 100) -> list[PointsEntry]:
    """The member's ledger, newest first; ``before_id`` pages back to older lines."""
    query = sa.select(PointsEntry).where(PointsEntry.member_id == member.id)
    if before_id is not None:
        query = query.where(PointsEntry.id < before_id)
    return db.session.scalars(query.order_by(PointsEntry.id.desc()).limit(limit)).all()
