"""`flask --app wsgi crm ...`: ensure-indexes, create-admin, seed-demo."""
import click
from flask import current_app
from flask.cli import AppGroup
from marshmallow import ValidationError
from pymongo import MongoClient
from pymongo.errors import DuplicateKeyError

from .auth.passwords import MAX_BYTES, MIN_BYTES
from .db import ensure_indexes, get_db, make_client, recheck_migrations

crm_cli = AppGroup("crm", help="CRM service administration.")


@crm_cli.command("ensure-indexes")
@click.option("--recheck", is_flag=True,
              help="After a rolling upgrade, once no worker of the previous version runs: the data migrations "
                   "again over the customers written since their last run.")
def ensure_indexes_command(recheck):
    """Create every index, run the data migrations not run yet, drop retired indexes (safe to run again)."""
    created = ensure_indexes(get_db())
    for collection, names in created.items():
        click.echo(f"{collection}: {', '.join(names)}")
    if recheck:
        for name, changed in recheck_migrations(get_db()).items():
            click.echo(f"rechecked {name}: {changed} customers updated")


@crm_cli.command("create-admin")
@click.option("--username", default="admin", show_default=True)
@click.option("--email", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--first-name", default=None)
@click.option("--last-name", default=None)
def create_admin_command(username, email, password, first_name, last_name):
    """Create an admin user."""
    from .services.accounts import create_admin

    if not MIN_BYTES <= len(password.encode()) <= MAX_BYTES:
        raise click.BadParameter(f"must be {MIN_BYTES} to {MAX_BYTES} bytes", param_hint="--password")
    try:
        user = create_admin(username, email, password, first_name, last_name)
    except DuplicateKeyError as exc:
        raise click.ClickException("a user with this username or email already exists") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.messages.items())
        raise click.BadParameter(problems) from exc
    click.echo(f"admin {user['username']} created with id {user['_id']}")


@crm_cli.command("seed-demo")
@click.option("--customers", default=200, show_default=True, help="How many customers.")
@click.option("--companies", default=None, type=int, help="How many companies (default customers/10).")
@click.option("--staff", default=5, show_default=True, help="How many sales users.")
@click.option("--interactions", default=8, show_default=True, help="Average interactions per customer.")
@click.option("--seed", default=42, show_default=True, help="Random seed, for repeatable data.")
@click.option("--batch-size", default=500, show_default=True)
def seed_demo_command(customers, companies, staff, interactions, seed, batch_size):
    """Fill the database with realistic demo data (bulk writes, with a progress bar)."""
    from .services.demo import seed_demo

    db = get_db()
    # Big bulk inserts can outlast the request socket timeout, so a real server gets a batch client.
    batch_client = make_client(current_app.config, socket_timeout_ms=0) if isinstance(db.client, MongoClient) else None
    if batch_client is not None:
        db = batch_client[db.name]
    ensure_indexes(db)
    companies = companies if companies is not None else max(1, customers // 10)
    try:
        summary = seed_demo(
            db, customers=customers, companies=companies, staff=staff, interactions=interactions,
            seed=seed, batch_size=batch_size, embed_limit=current_app.config["INTERACTION_EMBED_LIMIT"],
            progress=lambda total, label: click.progressbar(length=total, label=label),
        )
    finally:
        if batch_client is not None:
            batch_client.close()
    for name, count in summary.items():
        click.echo(f"{name}: {count}")


def register_cli(app):
    app.cli.add_command(crm_cli)
