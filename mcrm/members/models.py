"""Members of a merchant's loyalty programme."""
from enum import StrEnum
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mcrm.core.models import IdMixin, TimestampMixin, UTCDateTime
from mcrm.extensions import db

NAME_KEY_TYPE = sa.String(255).with_variant(sa.String(255, collation="C"), "postgresql")


class Source(StrEnum):
    SMS = "sms"
    CONSOLE = "console"
    IMPORT = "import"
    API = "api"


class Gender(StrEnum):
    FEMALE = "f"
    MALE = "m"
    UNKNOWN = "u"


#: the condition every list, count and segment query puts on members (deleted ones are kept for history)
LIVE = sa.text("deleted_at IS NULL")


#: member columns segments test that every purchase moves
MOVED_BY_PURCHASES = ("points_balance", "total_spend", "last_visit_at")
#: the times of the member's latest purchases, newest first (``points.services`` keeps them): "at
#: least k visits since t" is the k-th of them at or after t, one indexed test where counting the
#: ledger's purchases per member took 0.4 s at a million members
PURCHASE_TIMES = ("purchase_1_at", "purchase_2_at", "purchase_3_at")
#: member columns segments test that seldom change: the tier, the opt-out, the profile
SELDOM_CHANGED = ("tier", "opted_out", "gender", "birthday_month", "birthday_is_lunar", "birthday",
                  "birthday_lunar_month", "birthday_lunar_day", "birthday_day")


def _live_index(name: str, column: str) -> sa.Index:
    """(merchant_id, column, id) over live members only, then the other columns segments test that
    change no more often than ``column``.

    Live only: every list, count and segment says ``deleted_at IS NULL``, and with deleted_at in no
    index each matching member cost a row lookup (0.1 s of CPU for the 108,273 members of one tier
    at a million). The columns after the id let a count that starts from this index test its other
    member conditions there (spend ≥ ¥500 and a birthday read 295,508 rows: 0.6 s; 金卡 in May
    66,447), and cost no extra index write on a purchase: only the indexes a purchase moves anyway
    carry the columns it moves.
    """
    moved = column in MOVED_BY_PURCHASES + PURCHASE_TIMES
    carried = MOVED_BY_PURCHASES + SELDOM_CHANGED if moved else SELDOM_CHANGED
    return sa.Index(name, "merchant_id", column, "id", *(c for c in carried if c != column),
                    sqlite_where=LIVE, postgresql_where=LIVE)


def _live_id_index() -> sa.Index:
    """(merchant_id, id) over live members, then every column a live index carries: PostgreSQL
    only. A count of the members a subquery names (a tag) probes it for each id and tests the other
    conditions there, where the row look-ups read most of the table (an OR of a tag, a recent visit
    and points at a million members: 146 ms p50 in parts with it, 312 ms without, 276 ms as one
    scan of every member). SQLite finds a member by its rowid, in the table itself: there it would
    be one more index write per purchase for nothing. On PostgreSQL a purchase writes a new entry
    into every index of members anyway (it moves indexed columns, so the update is never HOT).
    """
    return sa.Index("ix_members_live_id", "merchant_id", "id", *MOVED_BY_PURCHASES, *SELDOM_CHANGED,
                    postgresql_where=LIVE, info={"only_on": "postgresql"})


def member_number(member_id: int) -> str:
    """The member number of a member id (also for rows inserted without an ORM object)."""
    return f"{member_id:08d}"


class Member(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "members"
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "msisdn", name="uq_members_merchant_msisdn"),
        # "newest first" and exports walk this; without it SQLite sorts every member of the merchant
        sa.Index("ix_members_merchant_id", "merchant_id", "id"),
        # keyset pagination and filters at 1,000,000 members: every sort key has its own index
        sa.Index("ix_members_merchant_msisdn_rev", "merchant_id", "msisdn_rev"),
        sa.Index("ix_members_merchant_name_key", "merchant_id", "name_key", "id"),
        _live_index("ix_members_live_points", "points_balance"),
        _live_index("ix_members_live_last_visit", "last_visit_at"),
        _live_index("ix_members_live_spend", "total_spend"),
        _live_index("ix_members_live_tier", "tier"),
        _live_index("ix_members_live_birthday_month", "birthday_month"),
        _live_index("ix_members_live_opted_out", "opted_out"),
        *(_live_index(f"ix_members_live_{column.removesuffix('_at')}", column) for column in PURCHASE_TIMES),
        _live_id_index(),
    )

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    #: E.164, e.g. +8613800138000
    msisdn: Mapped[str] = mapped_column(sa.String(20))
    #: msisdn reversed, so "ends with 8000" is an indexed prefix search
    msisdn_rev: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str] = mapped_column(sa.String(64), default="")
    #: the name's pinyin sort and search key (``name_keys.name_sort_key``), set with the name;
    #: compared by code point on every database (PostgreSQL's collation would reorder it)
    name_key: Mapped[str] = mapped_column(NAME_KEY_TYPE, default="", server_default="")
    gender: Mapped[str] = mapped_column(sa.String(1), default=Gender.UNKNOWN)
    #: solar birthday (year may be unknown: then 1904, a leap year, stands in)
    birthday: Mapped[date | None] = mapped_column(sa.Date)
    birthday_year_known: Mapped[bool] = mapped_column(default=True)
    #: a lunar birthday keeps month/day in the lunar calendar; birthday then stays empty
    birthday_is_lunar: Mapped[bool] = mapped_column(default=False)
    birthday_lunar_month: Mapped[int | None] = mapped_column(sa.SmallInteger)
    birthday_lunar_day: Mapped[int | None] = mapped_column(sa.SmallInteger)
    #: month of the birthday in its own calendar, for the list filter
    birthday_month: Mapped[int | None] = mapped_column(sa.SmallInteger)
    #: day of the birthday in its own calendar: segments test month * 100 + day in the live indexes,
    #: where the day of the solar date took 0.1 s of CPU per 300,000 members to extract
    birthday_day: Mapped[int | None] = mapped_column(sa.SmallInteger)
    custom_fields: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(sa.String(10), default=Source.CONSOLE)
    #: consent to marketing: when, through which channel, and what (keyword, number, staff)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_channel: Mapped[str | None] = mapped_column(sa.String(10))
    consent_detail: Mapped[str | None] = mapped_column(sa.String(200))
    opted_out: Mapped[bool] = mapped_column(default=False)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_visit_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    total_spend: Mapped[float] = mapped_column(sa.Numeric(12, 2), default=0)
    #: PURCHASE_TIMES: when the latest, second and third latest purchases not voided were recorded
    purchase_1_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purchase_2_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purchase_3_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tier: Mapped[str] = mapped_column(sa.String(20), default="")
    tier_score: Mapped[int] = mapped_column(default=0)
    #: the tenure bonus within tier_score (the rest is spend); None until evaluated under that rule
    tier_bonus: Mapped[int | None]
    #: cached sum of the points ledger, kept in the same transaction as every entry
    points_balance: Mapped[int] = mapped_column(default=0)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    tags = relationship("MemberTag", cascade="all, delete-orphan", lazy="selectin", order_by="MemberTag.tag")

    @property
    def member_no(self) -> str:
        # a plain function, so that classes borrowing this property (campaigns.MemberRow) work too
        return member_number(self.id)

    @property
    def tag_names(self) -> list[str]:
        return [t.tag for t in self.tags]

    def __repr__(self):
        return f"<Member {self.id}>"


class MemberTag(db.Model):
    __tablename__ = "member_tags"
    __table_args__ = (sa.Index("ix_member_tags_merchant_tag", "merchant_id", "tag", "member_id"),)

    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))


class OptOut(IdMixin, db.Model):
    """A number that asked this merchant for no marketing while it was not a (live) member.

    A member's own opt-out lives on the member row; this list keeps the request of everyone else,
    so that enrolling the number later (console, import) starts it opted out, and marketing to a
    number that is no member is suppressed too. Enrolment moves the entry onto the member; deleting
    an opted-out member moves it back here.
    """
    __tablename__ = "opt_outs"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "msisdn", name="uq_opt_outs_merchant_msisdn"),)

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    msisdn: Mapped[str] = mapped_column(sa.String(20))
    opted_out_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: how the request came: sms, console, member (a deleted member's opt-out)
    channel: Mapped[str] = mapped_column(sa.String(10))
    detail: Mapped[str] = mapped_column(sa.String(200), default="")


class ConsentEvent(StrEnum):
    CONSENT = "consent"  # agreed to marketing when joining (or joined again)
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


class ConsentRecord(IdMixin, db.Model):
    """One consent, opt-out or opt-in of a member, kept as evidence (PIPL): the member row holds
    only the latest consent, these rows the whole history."""
    __tablename__ = "consent_records"
    __table_args__ = (sa.Index("ix_consent_records_member", "member_id", "id"),)

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"))
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(sa.String(10))
    #: how: sms, console, import, api
    channel: Mapped[str] = mapped_column(sa.String(10))
    #: what: the keyword and number texted, the staff, the file and line
    detail: Mapped[str] = mapped_column(sa.String(200), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class ImportStatus(StrEnum):
    MAPPING = "mapping"  # uploaded, waiting for staff to confirm the column mapping
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"    # the job itself broke (not a bad row): see message


class MemberImport(IdMixin, TimestampMixin, db.Model):
    """One CSV import: the uploaded file, its column mapping and the progress the page polls.

    Every data line ends up counted as imported, updated or failed, so
    ``imported + updated + failed == processed`` and, when done, ``processed == total_lines``.
    """
    __tablename__ = "member_imports"

    merchant_id: Mapped[int] = mapped_column(sa.ForeignKey("merchants.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))
    filename: Mapped[str] = mapped_column(sa.String(200), default="")
    #: detected text encoding of the upload (utf-8-sig, utf-8, gb18030, utf-16)
    encoding: Mapped[str] = mapped_column(sa.String(20))
    delimiter: Mapped[str] = mapped_column(sa.String(1), default=",")
    #: whether the file's first line holds column names (else it is a member, and headers are #1, #2...)
    has_header: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    #: what the staff chose for the members it adds (the merchant's settings by default)
    welcome_gift: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    welcome_sms: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    headers: Mapped[list] = mapped_column(sa.JSON, default=list)
    #: column index (as a string, JSON keys are strings) → member field, or "custom:<name>"
    mapping: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    #: the uploaded bytes; dropped once the import has finished
    data: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    status: Mapped[str] = mapped_column(sa.String(10), default=ImportStatus.MAPPING)
    #: data lines in the file (the header line not counted)
    total_lines: Mapped[int] = mapped_column(default=0)
    processed: Mapped[int] = mapped_column(default=0)
    imported: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    message: Mapped[str] = mapped_column(sa.String(200), default="")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_finished(self) -> bool:
        return self.status in (ImportStatus.DONE, ImportStatus.FAILED)

    def is_stalled(self, now: datetime, *, after: timedelta = timedelta(minutes=10)) -> bool:
        """Started but without progress for a while: the process running it has gone (a restart)."""
        return self.status in (ImportStatus.QUEUED, ImportStatus.RUNNING) and self.updated_at < now - after


class MemberImportError(db.Model):
    """A line of an import that was not taken, with why, and its cells for the error report."""
    __tablename__ = "member_import_errors"

    import_id: Mapped[int] = mapped_column(sa.ForeignKey("member_imports.id", ondelete="CASCADE"),
                                           primary_key=True)
    #: line number in the file, the header being line 1
    line: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    reason: Mapped[str] = mapped_column(sa.String(200))
    cells: Mapped[list] = mapped_column(sa.JSON, default=list)
