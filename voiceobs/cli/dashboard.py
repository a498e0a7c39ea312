"""``voiceobs dashboard``: start the Streamlit SRE dashboard on one store."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from voiceobs.config import Settings, resolve
from voiceobs.errors import ConfigError
from voiceobs.store import redact_url
from voiceobs.users import load_users, users_file

#: Where the app may live: a source checkout, or inside an installed package.
_CANDIDATES = (
    Path(__file__).resolve().parents[2] / "dashboards" / "streamlit_app.py",
    Path(__file__).resolve().parents[1] / "_dashboards" / "streamlit_app.py",
)


def app_path() -> Path:
    """The dashboard's entry script; VOICEOBS_DASHBOARD_APP overrides it."""
    override = resolve("dashboard_app", None, None)
    candidates = (Path(override),) if override else _CANDIDATES
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"cannot find the dashboard app (looked at {', '.join(map(str, candidates))}); "
        "run from a voiceobs checkout or set VOICEOBS_DASHBOARD_APP"
    )


@click.command()
@click.option("--db", "db_url", metavar="URL", default=None, help="Store URL to show.")
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--no-auth",
    is_flag=True,
    help="Skip sign-in (everyone is an operator named 'local'); only for a private machine.",
)
def dashboard(db_url: str | None, port: int, host: str, no_auth: bool) -> None:
    """Start the Streamlit SRE dashboard (sign-in required unless --no-auth)."""
    settings = Settings.load(db_url)
    app = app_path()
    env = dict(os.environ, VOICEOBS_DB_URL=settings.db_url)
    if no_auth:
        env["VOICEOBS_DASHBOARD_AUTH"] = "none"
    click.echo(f"store: {redact_url(settings.db_url)}")
    if not no_auth and not load_users():
        click.echo(
            f"no dashboard users in {users_file()} yet; create one with "
            "`voiceobs users add NAME --role operator` (or configure OIDC in secrets)",
            err=True,
        )
    click.echo(f"dashboard: http://{host}:{port}/")
    # server.py wraps the app in an st.App that adds the sign-in cookie route;
    # an app given by VOICEOBS_DASHBOARD_APP without one beside it runs as it is.
    server = app.parent / "server.py"
    entry = server if server.is_file() else app
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(entry),
        "--server.port", str(port),
        "--server.address", host,
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
    ]  # fmt: skip
    sys.stdout.flush()
    sys.stderr.flush()
    # Become the Streamlit server rather than wrap it: whoever started us (a
    # shell, the demo, a service manager) then signals the server itself, and
    # stopping `voiceobs dashboard` can never leave an orphaned server behind.
    os.chdir(app.parent)
    os.execve(sys.executable, cmd, env)
