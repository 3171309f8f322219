"""Shared column types and model mixins."""
from datetime import datetime, UTC

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from mcrm.core.clock import now_utc


class UTCDateTime(sa.types.TypeDecorator):
    """Aware UTC datetimes on every database: stored naive UTC, returned aware.

    SQLite keeps no time zone, so without this a round trip would lose it.
    """

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; pass an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def enum_type(cls) -> sa.Enum:
    """A str Enum stored as plain VARCHAR of its values, identical on SQLite and PostgreSQL."""
    return sa.Enum(cls, native_enum=False, create_constraint=False, length=16,
                   values_callable=lambda e: [m.value for m in e], validate_strings=True)


class IdMixin:
    id: Mapped[int] = mapped_column(primary_key=True)


class TimestampMixin:
    #: when the row was created
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, nullable=False)
    #: when the row last changed
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc, nullable=False)
