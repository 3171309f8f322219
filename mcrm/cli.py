"""The ``mcrm`` command: run | gateway | scheduler | db | merchant | staff | demo."""
import logging
import sys

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


@click.command("run")
@with_appcontext
def run_command():
    """Run the whole service in one process: web console, scheduler and gateway."""
    from mcrm.workers import run_all_in_one
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_all_in_one(current_app._get_current_object())


@click.command("gateway")
@with_appcontext
def gateway_command():
    """Run the SMS gateway worker on its own (MCRM_SMS_TRANSPORT, SMPP_*) until SIGTERM."""
    from mcrm.workers import run_gateway
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run_gateway(current_app._get_current_object())
    except SettingsError as error:
        click.echo(f"Configuration error: {error}", err=True)
        sys.exit(2)


@click.command("scheduler")
@with_appcontext
def scheduler_command():
    """Run the periodic jobs (only one such process per installation)."""
    from mcrm.workers import run_scheduler
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_scheduler(current_app._get_current_object())


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
