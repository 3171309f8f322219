"""The periodic jobs as objects: each one's function, its trigger, and the times it falls due.

No database and no clock reads: the time is an argument, so a test or a replay can pick it.
"""
import importlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from collections.abc import Callable

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from mcrm.jobs.definitions import JOBS, TIMEZONE

#: intervals count from here in every process, so that two schedulers share the same slots
INTERVAL_ORIGIN = datetime(2000, 1, 1, tzinfo=TIMEZONE)
_TRIGGERS = {"cron": CronTrigger, "interval": IntervalTrigger}
#: how far back a previous due time is looked for: a yearly job's, with room
_LOOKBACK = timedelta(days=800)


@dataclass(frozen=True)
class Job:
    id: str
    #: ``func(now=...)`` does the work for that moment and returns a count
    func: Callable[..., int]
    trigger: BaseTrigger
    #: the definition's trigger as written, for people: ``cron hour=2 minute=10``
    description: str

    def previous_due(self, now: datetime) -> datetime | None:
        """The latest time at or before ``now`` the job was due, or None if it never was."""
        window = timedelta(minutes=1)
        while window <= _LOOKBACK:
            due = self.trigger.get_next_fire_time(None, now - window)
            if due is not None and due <= now:
                # walk forward to the last due time that is not after now
                following = self.trigger.get_next_fire_time(due, due)
                while following is not None and following <= now:
                    due, following = following, self.trigger.get_next_fire_time(following, following)
                return due
            window *= 2
        return None

    def next_due(self, now: datetime) -> datetime | None:
        """The first time after ``now`` the job falls due."""
        return self.trigger.get_next_fire_time(None, now + timedelta(microseconds=1))


def resolve(func_ref: str):
    """``"package.module:name"`` → the object."""
    module_name, _, attr = func_ref.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def load_jobs(definitions: list[dict] = JOBS) -> dict[str, Job]:
    """The definitions as Jobs by id, in their order; a bad definition raises here, at start."""
    jobs = {}
    for definition in definitions:
        options = dict(definition)
        job_id, func_ref, kind = options.pop("id"), options.pop("func"), options.pop("trigger")
        if job_id in jobs:
            raise ValueError(f"two jobs are called {job_id}")
        if kind == "interval":
            options.setdefault("start_date", INTERVAL_ORIGIN)
        trigger = _TRIGGERS[kind](timezone=TIMEZONE, **options)
        written = " ".join(f"{name}={value}" for name, value in definition.items()
                           if name not in ("id", "func", "trigger"))
        jobs[job_id] = Job(job_id, resolve(func_ref), trigger, f"{kind} {written}")
    return jobs
