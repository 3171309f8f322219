"""The single list of periodic jobs (times in Asia/Shanghai, the merchants' default zone)."""

JOBS = [
    {"id": "expire_points", "func": "mcrm.jobs.tasks:expire_points",
     "trigger": "cron", "hour": 2, "minute": 10},
    {"id": "refresh_tiers", "func": "mcrm.jobs.tasks:refresh_tiers",
     "trigger": "cron", "day": 1, "hour": 3, "minute": 0},
    {"id": "remind_event_signups", "func": "mcrm.jobs.tasks:remind_event_signups",
     "trigger": "interval", "minutes": 10},
    {"id": "release_stale_sms_claims", "func": "mcrm.jobs.tasks:release_stale_sms_claims",
     "trigger": "interval", "minutes": 5},
]
