"""The one place that reads the wall clock; services take ``now`` as an argument instead."""
from datetime import datetime, timezone


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
