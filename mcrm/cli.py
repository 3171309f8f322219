"""The ``mcrm`` command: run | gateway | scheduler | db | merchant | staff | demo."""
import logging
import sys
from datetime import datetime

import click
from flask import current_app
from flask.cli import FlaskGroup, routes_command, shell_command, with_appcontext

from mcrm.core.errors import DomainError
from mcrm.extensions import db
from mcrm.settings import SettingsError


def _create_app():
    from mcrm import create_app
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


def _fail(error: DomainError):
    db.session.rollback()
    raise click.ClickException(error.message)


class _ServerTimeFormatter(logging.Formatter):
    """Timestamps in ISO 8601 in the server's zone, with its offset (``2026-03-01T09:30:00.123+08:00``):
    one zone for every line of every process, whichever merchant a line is about."""

    def formatTime(self, record, datefmt=None):
        return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


def configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_ServerTimeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    # the start-up check reads the revision through Alembic, which narrates that at INFO
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _start(run, *args) -> None:
    """Start a long-running process; what stops it at start is one line on stderr and exit status 2
    (configuration) or 1 (database, port, storage), never a traceback."""
    from mcrm.workers import StartupError
    configure_logging()
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
    from mcrm.workers import run_all_in_one
    settings = current_app.extensions["mcrm_settings"]
    _start(run_all_in_one, host or settings.host, port or settings.port)


@click.command("gateway")
@with_appcontext
def gateway_command():
    """Run the SMS gateway worker on its own (SMPP_TRANSPORT, SMPP_*) until SIGTERM."""
    from mcrm.workers import run_gateway
    _start(run_gateway)


@click.command("scheduler")
@with_appcontext
def scheduler_command():
    """Run the periodic jobs (only one such process per installation)."""
    from mcrm.workers import run_scheduler
    _start(run_scheduler)


@click.group("merchant")
def merchant_group():
    """Create, list and renumber merchants."""


@merchant_group.command("create")
@click.option("--name", required=True)
@click.option("--sub-code", required=True, help="digits after the access number")
@click.option("--signature", required=True, help="e.g. 【小王烧烤】")
@click.option("--timezone", default="Asia/Shanghai", show_default=True)
@with_appcontext
def merchant_create(name, sub_code, signature, timezone):
    from mcrm.merchants.services import create_merchant, service_number
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
    from mcrm.merchants.services import change_sub_code, get_merchant_by_sub_code, service_number
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
    import sqlalchemy as sa
    from mcrm.merchants.models import Merchant
    for merchant in db.session.scalars(sa.select(Merchant).order_by(Merchant.id)):
        click.echo(f"{merchant.id}\t{merchant.sub_code}\t{merchant.signature}\t{merchant.name}")


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
    from mcrm.auth.services import create_staff
    from mcrm.merchants.services import get_merchant_by_sub_code
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
    from mcrm.demo import load_demo
    result = load_demo(member_count=members)
    db.session.commit()
    click.echo(result.summary())
