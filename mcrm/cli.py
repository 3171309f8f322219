"""The ``mcrm`` command: run | gateway | scheduler | jobs | db | merchant | staff | demo | campaign.

A refused input (a rule of the domain, a malformed option) exits with status 2 and one clear line.
"""
import re
import sys
from datetime import datetime, time, tzinfo
from zoneinfo import ZoneInfo

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import FlaskGroup, routes_command, shell_command, with_appcontext

from mcrm import create_app
from mcrm.auth.services import create_staff
from mcrm.campaigns import services as campaigns
from mcrm.core.clock import DEFAULT_TIMEZONE, now_utc
from mcrm.core.errors import DomainError, ValidationError
from mcrm.demo import load_demo
from mcrm.extensions import db
from mcrm.jobs.definitions import TIMEZONE
from mcrm.jobs.models import RunKind, RunStatus
from mcrm.jobs.runner import run_job
from mcrm.jobs.schedule import load_jobs
from mcrm.jobs.services import find_lease, list_job_states
from mcrm.merchants.models import Merchant
from mcrm.merchants.services import (change_sub_code, create_merchant, get_merchant_by_sub_code, service_number,
                                     update_rules)
from mcrm.ops.logs import configure_logging
from mcrm.settings import SettingsError
from mcrm.surveys import services as surveys
from mcrm.workers import StartupError, run_all_in_one, run_gateway, run_scheduler


def _create_app():
    try:
        return create_app()
    except SettingsError as error:
        click.echo(f"Configuration error: {error}", err=True)
        sys.exit(2)


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False)
def main():
    """mcrm: SMS customer-relationship service for service merchants."""


main.add_command(shell_command)
main.add_command(routes_command)


def register_cli(app) -> None:
    app.cli.add_command(merchant_group)
    app.cli.add_command(staff_group)
    app.cli.add_command(demo_command)
    app.cli.add_command(run_command)
    app.cli.add_command(gateway_command)
    app.cli.add_command(scheduler_command)
    app.cli.add_command(jobs_group)
    app.cli.add_command(campaign_group)


class RefusedError(click.ClickException):
    """The input was refused: exit status 2, as for a malformed option."""
    exit_code = 2


def _fail(error: DomainError):
    db.session.rollback()
    raise RefusedError(error.message)


class IsoTime(click.ParamType):
    """An ISO 8601 time (``2026-03-01T03:00+08:00``, or a date); one without an offset is in ``zone``."""
    name = "ISO-TIME"

    def __init__(self, zone: tzinfo):
        self.zone = zone

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time like 2026-03-01T03:00+08:00", param, ctx)
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=self.zone)


class TimeWindow(click.ParamType):
    """``HH:MM-HH:MM`` as two times."""
    name = "HH:MM-HH:MM"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", value)
        try:
            start_h, start_m, end_h, end_m = map(int, match.groups())
            return time(start_h, start_m), time(end_h, end_m)
        except (AttributeError, ValueError):
            self.fail(f"{value!r} is not a window like 08:00-21:00", param, ctx)


def _start(run, *args) -> None:
    """Start a long-running process; what stops it at start is one line on stderr and exit status 2
    (configuration) or 1 (database, port, storage), never a traceback."""
    configure_logging(current_app.extensions["mcrm_settings"])
    try:
        run(current_app._get_current_object(), *args)
    except SettingsError as error:
        click.echo(f"Configuration error: {error}", err=True)
        sys.exit(2)
    except StartupError as error:
        click.echo(f"Cannot start: {error}", err=True)
        sys.exit(1)


@click.command("run")
@click.option("--host", "-h", default=None, help="address to serve on  [default: MCRM_HOST or 127.0.0.1]")
@click.option("--port", "-p", type=click.IntRange(1, 65535), default=None,
              help="port to serve on  [default: MCRM_PORT or 5000]")
@with_appcontext
def run_command(host, port):
    """Run the whole service in one process: web console, scheduler and gateway."""
    settings = current_app.extensions["mcrm_settings"]
    _start(run_all_in_one, host or settings.host, port or settings.port)


@click.command("gateway")
@with_appcontext
def gateway_command():
    """Run the SMS gateway worker on its own (SMPP_TRANSPORT, SMPP_*) until SIGTERM."""
    _start(run_gateway)


@click.command("scheduler")
@with_appcontext
def scheduler_command():
    """Run the periodic jobs until SIGTERM. Several may run: one acts, another takes over if it dies."""
    _start(run_scheduler)


@click.group("merchant")
def merchant_group():
    """Create, list, update and renumber merchants."""


@merchant_group.command("create")
@click.option("--name", required=True)
@click.option("--sub-code", required=True, help="digits after the access number")
@click.option("--signature", required=True, help="e.g. 【小王烧烤】")
@click.option("--timezone", default=DEFAULT_TIMEZONE, show_default=True)
@with_appcontext
def merchant_create(name, sub_code, signature, timezone):
    try:
        merchant = create_merchant(name=name, sub_code=sub_code, signature=signature, timezone=timezone)
    except DomainError as error:
        _fail(error)
    db.session.commit()
    number = service_number(merchant, current_app.extensions["mcrm_settings"].access_number)
    click.echo(f"Merchant {merchant.name} created: id {merchant.id}, service number {number}")


@merchant_group.command("set-sub-code")
@click.option("--merchant", "sub_code", required=True, help="the merchant's current sub-code")
@click.option("--new", "new_sub_code", required=True, help="its new sub-code")
@with_appcontext
def merchant_set_sub_code(sub_code, new_sub_code):
    """Move a merchant to another sub-code (its service number changes)."""
    try:
        merchant = get_merchant_by_sub_code(sub_code)
        change_sub_code(merchant, new_sub_code)
    except DomainError as error:
        _fail(error)
    db.session.commit()
    number = service_number(merchant, current_app.extensions["mcrm_settings"].access_number)
    click.echo(f"Merchant {merchant.name} now has service number {number}")


@merchant_group.command("list")
@with_appcontext
def merchant_list():
    """One line per merchant: id, sub-code, signature, name, sending window, daily cap, time zone."""
    for merchant in db.session.scalars(sa.select(Merchant).order_by(Merchant.id)):
        window = f"{merchant.send_window_start:%H:%M}-{merchant.send_window_end:%H:%M}"
        click.echo("\t".join([str(merchant.id), merchant.sub_code, merchant.signature, merchant.name, window,
                              f"cap {merchant.frequency_cap_per_day}/day", merchant.timezone]))


@merchant_group.command("update")
@click.option("--sub-code", required=True, help="the merchant's sub-code")
@click.option("--window", type=TimeWindow(), default=None,
              help="local hours marketing SMS may go out, e.g. 08:00-21:00")
@click.option("--cap", type=int, default=None, help="most marketing SMS one member gets per day")
@click.option("--signature", default=None, help="e.g. 【小王烧烤】")
@with_appcontext
def merchant_update(sub_code, window, cap, signature):
    """Change a merchant's sending rules, with the checks of the console's settings page."""
    rules = {"frequency_cap_per_day": cap, "signature": signature}
    if window is not None:
        rules["send_window_start"], rules["send_window_end"] = window
    rules = {key: value for key, value in rules.items() if value is not None}
    if not rules:
        raise click.UsageError("nothing to change: give --window, --cap or --signature")
    try:
        merchant = get_merchant_by_sub_code(sub_code)
        update_rules(merchant, **rules)
    except DomainError as error:
        _fail(error)
    db.session.commit()
    click.echo(f"Merchant {merchant.name} ({merchant.sub_code}) updated: marketing SMS "
               f"{merchant.send_window_start:%H:%M}-{merchant.send_window_end:%H:%M}, at most "
               f"{merchant.frequency_cap_per_day} per member a day, signature {merchant.signature}")


@click.group("staff")
def staff_group():
    """Create staff accounts."""


@staff_group.command("create")
@click.option("--merchant", "sub_code", required=True, help="the merchant's sub-code")
@click.option("--username", required=True)
@click.option("--password", required=True, prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--role", type=click.Choice(["owner", "manager", "clerk"]), required=True)
@click.option("--msisdn", default=None, help="trusted phone for SMS commands and login codes")
@click.option("--name", "display_name", default="")
@with_appcontext
def staff_create(sub_code, username, password, role, msisdn, display_name):
    try:
        merchant = get_merchant_by_sub_code(sub_code)
        staff = create_staff(merchant, username=username, password=password, role=role,
                             msisdn=msisdn, display_name=display_name)
    except DomainError as error:
        _fail(error)
    db.session.commit()
    click.echo(f"Staff {staff.username} ({staff.role}) created for {merchant.name}")


@click.command("demo")
@click.option("--members", default=300, show_default=True, help="how many demo members")
@with_appcontext
def demo_command(members):
    """Load a demo merchant, its staff and members with points history (once)."""
    result = load_demo(member_count=members)
    db.session.commit()
    click.echo(result.summary())


@click.group("jobs")
def jobs_group():
    """The periodic jobs: what ran, what runs next, and running one now."""


def _local(moment: datetime | None) -> str:
    return moment.astimezone(TIMEZONE).isoformat(timespec="seconds") if moment else "-"


@jobs_group.command("list")
@with_appcontext
def jobs_list():
    """Each job's trigger, last run and its result, and next run (times in the scheduler's zone)."""
    now = now_utc()
    lease = find_lease()
    acting = lease is not None and lease.expires_at > now
    if lease is None:
        click.echo("Scheduler: none has run yet")
    elif acting:
        click.echo(f"Scheduler: {lease.holder} acts (since {_local(lease.acquired_at)}, "
                   f"lease until {_local(lease.expires_at)})")
    else:
        click.echo(f"Scheduler: none acts (the last one, {lease.holder}, let its lease go at "
                   f"{_local(lease.expires_at)})")
    rows = [("JOB", "TRIGGER", "LAST RUN", "RESULT", "NEXT RUN")]
    for state in list_job_states(load_jobs(), now=now):
        run = state.last_run
        last, result = "never", "-"
        if run is not None:
            last = _local(run.started_at)
            if run.kind == RunKind.CATCH_UP:
                last += f" (catch-up for {_local(run.scheduled_for)})"
            elif run.kind == RunKind.MANUAL:
                last += f" (manual, for {_local(run.scheduled_for)})"
            result = {RunStatus.OK: f"ok: {run.result}", RunStatus.FAILED: f"failed: {run.error}"}.get(
                run.status, run.status.value)
        following = _local(state.next_due)
        if state.missed is not None and acting:
            following = f"now (due {_local(state.missed)})"
        elif state.missed is not None:
            following = f"when a scheduler starts (missed {_local(state.missed)}), then {following}"
        rows.append((state.job.id, state.job.description, last, result, following))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        click.echo("  ".join([cell.ljust(width) for cell, width in zip(row, widths, strict=False)] + [row[4]]).rstrip())


@jobs_group.command("run")
@click.argument("name")
@click.option("--now", "at", type=IsoTime(TIMEZONE), default=None,
              help=f"the moment the job runs for, to replay a day (without an offset: in {TIMEZONE})  "
                   "[default: now]")
@with_appcontext
def jobs_run(name, at):
    """Run the job NAME once, now, whatever any scheduler does, and record the run."""
    jobs = load_jobs()
    if name not in jobs:
        raise RefusedError(f"no job named {name!r}; the jobs are {', '.join(jobs)}")
    run = run_job(jobs[name], now=at or now_utc(), kind=RunKind.MANUAL)
    if run.status == RunStatus.FAILED:
        raise click.ClickException(f"job {name} for {_local(run.scheduled_for)} failed: {run.error}")
    click.echo(f"job {name} for {_local(run.scheduled_for)}: ok ({run.result}) in "
               f"{(run.finished_at - run.started_at).total_seconds():.1f}s")


@click.group("campaign")
def campaign_group():
    """Marketing campaigns: create and launch, list, pause, resume, cancel, report."""


def _merchant_option(command):
    return click.option("--merchant", "sub_code", required=True, help="the merchant's sub-code")(command)


def _campaign_of(sub_code: str, campaign_id: int):
    merchant = get_merchant_by_sub_code(sub_code)
    return merchant, campaigns.get_campaign(merchant, campaign_id)


@campaign_group.command("create")
@_merchant_option
@click.option("--name", required=True)
@click.option("--text", "body", required=True, help="the text, with fields such as {name} and {points}")
@click.option("--segment", default=None, help="a segment definition as JSON  [default: every member]")
@click.option("--segment-id", type=int, default=None, help="a saved segment instead of --segment")
@click.option("--at", "send_at", type=IsoTime(None), default=None,
              help="when to send, ISO 8601 (without an offset: in the merchant's zone)  [default: now]")
@click.option("--every", "recurrence", type=click.Choice(["daily", "weekly", "monthly"]), default=None,
              help="send again at the same local time every day, week or month")
@click.option("--coupon-app", "coupon_app_id", type=int, default=None,
              help="a coupon app: every recipient gets a code of it in {coupon}")
@click.option("--survey", "survey_code", default=None,
              help="the code of an open survey to invite to: its opening and first question follow the text")
@click.option("--draft", is_flag=True, help="save it without launching it")
@with_appcontext
def campaign_create(sub_code, name, body, segment, segment_id, send_at, recurrence, coupon_app_id, survey_code,
                    draft):
    """Create a campaign and launch it, with the console's checks; the scheduler sends it."""
    now = now_utc()
    try:
        merchant = get_merchant_by_sub_code(sub_code)
        if send_at is not None and send_at.tzinfo is None:
            send_at = send_at.replace(tzinfo=ZoneInfo(merchant.timezone))
        survey = surveys.find_survey_by_code(merchant, survey_code) if survey_code else None
        if survey_code and survey is None:
            raise ValidationError("No survey has the code %(code)s", code=survey_code)
        campaign = campaigns.create_campaign(
            merchant, name=name, body=body, segment=segment, segment_id=segment_id, send_at=send_at,
            recurrence=recurrence or "once", coupon_app_id=coupon_app_id, survey_id=survey.id if survey else None,
            actor_label="cli", now=now)
        figures = campaigns.preview_campaign(campaign, now=now)
        if not draft:
            campaigns.launch_campaign(campaign, now=now)
    except DomainError as error:
        _fail(error)
    db.session.commit()
    when = "draft" if draft else f"scheduled for {_in_zone(campaign.scheduled_at, merchant)}"
    click.echo(f"Campaign {campaign.id} {campaign.name}: {when}; {figures.sendable} recipients "
               f"({figures.opted_out} opted out left out), at most {figures.parts} SMS each, "
               f"{figures.total_parts} in all")


def _in_zone(moment, merchant) -> str:
    return moment.astimezone(ZoneInfo(merchant.timezone)).isoformat(timespec="minutes") if moment else "-"


@campaign_group.command("list")
@_merchant_option
@with_appcontext
def campaign_list(sub_code):
    """One line per campaign, newest first: id, status, next send, processed/targeted, delivered, name."""
    try:
        merchant = get_merchant_by_sub_code(sub_code)
    except DomainError as error:
        _fail(error)
    found = campaigns.list_campaigns(merchant)
    reports = campaigns.campaign_reports(found, now=now_utc())
    for campaign in found:
        report = reports[campaign.id]
        next_at = _in_zone(campaign.scheduled_at, merchant)
        click.echo("\t".join([str(campaign.id), campaign.status.value, next_at,
                              f"{report.processed}/{report.targeted}", f"delivered {report.delivered}",
                              campaign.name]))


def _change(action, sub_code, campaign_id, verb):
    try:
        _merchant, campaign = _campaign_of(sub_code, campaign_id)
        action(campaign, now=now_utc())
    except DomainError as error:
        _fail(error)
    db.session.commit()
    click.echo(f"Campaign {campaign.id} {verb}: now {campaign.status.value}")


@campaign_group.command("pause")
@_merchant_option
@click.argument("campaign_id", type=int)
@with_appcontext
def campaign_pause(sub_code, campaign_id):
    """Pause a campaign: its queued messages wait until it is resumed."""
    _change(campaigns.pause_campaign, sub_code, campaign_id, "paused")


@campaign_group.command("resume")
@_merchant_option
@click.argument("campaign_id", type=int)
@with_appcontext
def campaign_resume(sub_code, campaign_id):
    """Resume a paused campaign."""
    _change(campaigns.resume_campaign, sub_code, campaign_id, "resumed")


@campaign_group.command("cancel")
@_merchant_option
@click.argument("campaign_id", type=int)
@with_appcontext
def campaign_cancel(sub_code, campaign_id):
    """Cancel a campaign for good: what no gateway has taken yet is not sent."""
    _change(campaigns.cancel_campaign, sub_code, campaign_id, "cancelled")


@campaign_group.command("report")
@_merchant_option
@click.argument("campaign_id", type=int)
@with_appcontext
def campaign_report(sub_code, campaign_id):
    """A campaign's figures, summed over its runs."""
    try:
        _merchant, campaign = _campaign_of(sub_code, campaign_id)
    except DomainError as error:
        _fail(error)
    report = campaigns.campaign_report(campaign, now=now_utc())
    click.echo(f"Campaign {campaign.id} {campaign.name}: {campaign.status.value}, "
               f"{len(campaign.runs)} run(s)")
    for label, value in [("targeted", report.targeted), ("queued", report.queued),
                         ("submitted", report.submitted), ("delivered", report.delivered),
                         ("failed", report.failed), ("suppressed", report.suppressed_total),
                         *((f"  {reason}", count) for reason, count in sorted(report.suppressed.items())),
                         ("replies", report.replies), ("coupons issued", report.coupons_issued),
                         ("coupons redeemed", report.coupons_redeemed),
                         ("spend of redeemers", report.redeemed_spend)]:
        click.echo(f"{label:<20}{value}")
