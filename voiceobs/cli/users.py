"""``voiceobs users``: who may sign in to the dashboard, and with which role."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from voiceobs.users import (
    ROLES,
    add_user,
    check_name,
    check_password,
    load_users,
    remove_user,
    users_file,
)

file_option = click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Users file (default: $VOICEOBS_USERS_FILE or users.toml beside the config file).",
)


@click.group()
def users() -> None:
    """Manage dashboard users (scrypt-hashed passwords, roles viewer/operator)."""


@users.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default="viewer",
    show_default=True,
    help="operator may acknowledge, resolve and trigger hooks; viewer only reads.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (for scripts).")
@click.option("--replace", is_flag=True, help="Change the role and password of an existing user.")
@file_option
def add(name: str, role: str, password_stdin: bool, replace: bool, path: Path | None) -> None:
    """Add a user; prompts for the password unless --password-stdin is given.

    The password needs at least 12 characters and must not be one character
    repeated, a common password or the user name.
    """
    check_name(name)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    check_password(name, password)  # before anything is written
    add_user(name, password, role, path=path, replace=replace)
    click.echo(f"{'updated' if replace else 'added'} {name} ({role}) in {path or users_file()}")


@users.command("list")
@file_option
def list_(path: Path | None) -> None:
    """List users and their roles (never their hashes)."""
    found = load_users(path)
    where = path or users_file()
    if not found:
        click.echo(f"no users in {where}; add one with `voiceobs users add NAME --role operator`")
        return
    click.echo(f"users in {where}:")
    for user in sorted(found.values(), key=lambda u: u.name):
        click.echo(f"  {user.name}\t{user.role}")


@users.command("remove")
@click.argument("name")
@file_option
def remove(name: str, path: Path | None) -> None:
    """Remove a user."""
    remove_user(name, path=path)
    click.echo(f"removed {name} from {path or users_file()}")
