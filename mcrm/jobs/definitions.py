"""The single list of periodic jobs. Each job function takes ``now`` (keyword) and returns a count.

Cron times are in ``TIMEZONE``, the merchants' default zone; a job that acts at a merchant's local
hour computes it in that merchant's own zone. Intervals are counted from midnight of 1 January 2000
in that zone, so every scheduler process puts a five-minute job on the same :00, :05, :10 …
"""
from zoneinfo import ZoneInfo

from mcrm.core.clock import DEFAULT_TIMEZONE

#: the zone every scheduler reads the triggers below in (the one place it is set)
TIMEZONE = ZoneInfo(DEFAULT_TIMEZONE)

JOBS = [
    {"id": "expire_points", "func": "mcrm.jobs.tasks:expire_points",
     "trigger": "cron", "hour": 2, "minute": 10},
    {"id": "refresh_tiers", "func": "mcrm.jobs.tasks:refresh_tiers",
     "trigger": "cron", "day": 1, "hour": 3, "minute": 0},
    {"id": "remind_event_signups", "func": "mcrm.jobs.tasks:remind_event_signups",
     "trigger": "interval", "minutes": 10},
    # campaign send times live in the database: this picks up what is due and resumes what a
    # stopped process left half-queued
    {"id": "dispatch_campaigns", "func": "mcrm.jobs.tasks:dispatch_campaigns",
     "trigger": "interval", "minutes": 1},
    # agenda item times live in the database too: reminders due, and unconfirmed ones to escalate
    {"id": "send_agenda_reminders", "func": "mcrm.jobs.tasks:send_agenda_reminders",
     "trigger": "interval", "minutes": 1},
    # ticket targets live in the database too: overdue tickets remind their assignee, then the owners
    {"id": "remind_overdue_tickets", "func": "mcrm.jobs.tasks:remind_overdue_tickets",
     "trigger": "interval", "minutes": 1},
    # greetings go at each merchant's local hour: this runs the ones whose hour has come today and
    # goes on with a day's run that a stopped process left half-queued
    {"id": "care", "func": "mcrm.jobs.tasks:care",
     "trigger": "interval", "minutes": 10},
    # each merchant's retention setting for message texts (docs/privacy.md)
    {"id": "blank_old_message_bodies", "func": "mcrm.jobs.tasks:blank_old_message_bodies",
     "trigger": "cron", "hour": 4, "minute": 20},
    # a till retries within minutes: stored answers to idempotent API requests go after a week
    {"id": "forget_api_requests", "func": "mcrm.jobs.tasks:forget_api_requests",
     "trigger": "cron", "hour": 4, "minute": 40},
    # webhook events live in the database (written with their change): this POSTs the due ones
    {"id": "deliver_webhooks", "func": "mcrm.jobs.tasks:deliver_webhooks",
     "trigger": "interval", "minutes": 1},
    # the webhook delivery log keeps 30 days
    {"id": "forget_webhook_deliveries", "func": "mcrm.jobs.tasks:forget_webhook_deliveries",
     "trigger": "cron", "hour": 4, "minute": 50},
    {"id": "release_stale_sms_claims", "func": "mcrm.jobs.tasks:release_stale_sms_claims",
     "trigger": "interval", "minutes": 5},
]
