"""The sign-in cookie route over real HTTP (Starlette's test client): set once, refused, cleared."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "dashboards"))

from dashkit import session
from dashkit.session_route import session_route
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient


@pytest.fixture
def client() -> TestClient:
    app = Starlette(routes=[Route(session.ROUTE, session_route, methods=["GET", "POST"])])
    return TestClient(app, base_url="http://dashboard.test")


def test_a_grant_sets_a_signed_http_only_cookie_once(client: TestClient) -> None:
    grant = session.new_grant("olivia")
    response = client.post(session.ROUTE, content=grant)
    assert response.status_code == 200
    header = response.headers["set-cookie"]
    assert header.startswith(f"{session.COOKIE}=")
    assert "HttpOnly" in header and "SameSite=strict" in header and "Path=/" in header
    assert f"Max-Age={int(session.session_ttl().total_seconds())}" in header
    assert "Secure" not in header  # plain HTTP here
    value = header.split(";")[0].split("=", 1)[1]
    assert session.verify(value) == "olivia"
    again = client.post(session.ROUTE, content=grant)  # a grant is spent once
    assert again.status_code == 403 and "set-cookie" not in again.headers


@pytest.mark.parametrize(
    "grant",
    [
        "",
        "olivia",
        session.sign("olivia", time.time() + 60),  # a session token is not a grant
        session.sign("olivia", time.time() - 1, kind="grant"),  # expired
        session.sign("olivia", time.time() + 60, kind="grant", key=b"another key"),
    ],
)
def test_anything_but_a_valid_grant_is_refused(client: TestClient, grant: str) -> None:
    response = client.post(session.ROUTE, content=grant)
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


def test_behind_a_tls_proxy_the_cookie_is_secure(client: TestClient) -> None:
    response = client.post(
        session.ROUTE, content=session.new_grant("olivia"), headers={"X-Forwarded-Proto": "https"}
    )
    assert response.status_code == 200 and "Secure" in response.headers["set-cookie"]


def test_get_clears_the_cookie(client: TestClient) -> None:
    response = client.get(session.ROUTE)
    assert response.status_code == 200
    header = response.headers["set-cookie"]
    assert header.startswith(f'{session.COOKIE}=""') or header.startswith(f"{session.COOKIE}=;")
    assert "Max-Age=0" in header
