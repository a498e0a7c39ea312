"""The dashboard in a real browser: `voiceobs dashboard`, headless Chromium, sign-in and pages.

Checked here because only a browser shows them: the sign-in cookie (HttpOnly,
kept across a reload, refused when tampered with or expired, cleared on sign
out), a link pasted before sign-in that opens its call after it, the SLO
standing beside the alert state, and how long a page switch takes (printed,
not asserted: the under-2 s target is checked by benchmarks/dashboard).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.dashboard.conftest import JOINED_PRODUCTION_ID, JOINED_SYNTHETIC_ID, SLOW_RUN_ID
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

webdriver = pytest.importorskip("selenium.webdriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
        reason="Debian chromium and chromium-driver are not installed",
    ),
]


@pytest.fixture
def dashboard(mixed_url: str, users_path: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ, VOICEOBS_USERS_FILE=str(users_path))
    log = (tmp_path / "dashboard.log").open("w")
    cmd = [sys.executable, "-m", "voiceobs.cli.main", "dashboard", "--db", mixed_url,
           "--port", str(port), "--host", "127.0.0.1"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"dashboard did not start: {(tmp_path / 'dashboard.log').read_text()}"
                )
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--window-size=1440,1800", f"--user-data-dir={tmp_path / 'chrome'}"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _wait_text(driver: object, text: str, timeout: float = 45) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, timeout).until(  # type: ignore[arg-type]
            ec.text_to_be_present_in_element((By.TAG_NAME, "body"), text)
        )
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "failure.png"))  # type: ignore[attr-defined]
        raise AssertionError(f"{text!r} never appeared; see {ARTIFACTS / 'failure.png'}") from None


def _element(driver: object, css: str, timeout: float = 45) -> object:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(  # type: ignore[arg-type]
        ec.element_to_be_clickable((By.CSS_SELECTOR, css))
    )


def _settle(driver: object, timeout: float = 45, pause: float = 1.0) -> None:
    """Wait until Streamlit has finished running the script (no 'Running...' indicator)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(  # type: ignore[arg-type]
        lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
    )
    time.sleep(pause)  # charts draw after the script finishes


def _sign_in(driver: object, name: str = "olivia", password: str = "olivia-op-secret-1") -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _wait_text(driver, "Sign in to see SLOs")
    field = _element(driver, 'input[aria-label="User name"]')
    field.send_keys(name)  # type: ignore[attr-defined]
    secret = _element(driver, 'input[type="password"]')
    secret.send_keys(password, Keys.ENTER)  # type: ignore[attr-defined]
    # Enter usually submits the form; the button is clicked only while it is still there.
    # The page redraws as it signs in, so a button found a moment ago may be gone (stale):
    # look again rather than fail.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            buttons = [
                b
                for b in driver.find_elements(By.TAG_NAME, "button")  # type: ignore[attr-defined]
                if b.text.strip() == "Sign in"
            ]
            if not buttons:
                return
            buttons[0].click()
        except StaleElementReferenceException:
            continue


def _session_cookie(driver: object, timeout: float = 30) -> dict[str, object]:
    """The sign-in cookie, once the browser has fetched it (right after signing in)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for cookie in driver.get_cookies():  # type: ignore[attr-defined]
            if cookie["name"] == "voiceobs_session" and cookie["value"]:
                return dict(cookie)
        time.sleep(0.2)
    raise AssertionError(f"no voiceobs_session cookie: {driver.get_cookies()}")  # type: ignore[attr-defined]


def _body(driver: object) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.TAG_NAME, "body").text)  # type: ignore[attr-defined]


def _set_cookie(driver: object, value: str) -> None:
    driver.delete_all_cookies()  # type: ignore[attr-defined]
    driver.add_cookie(  # type: ignore[attr-defined]
        {"name": "voiceobs_session", "value": value, "path": "/", "httpOnly": True}
    )


def test_sign_in_overview_and_calls(dashboard: str, browser: object) -> None:
    from selenium.webdriver.common.keys import Keys

    driver = browser
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.get(dashboard)  # type: ignore[attr-defined]
    _sign_in(driver)
    _wait_text(driver, "SLOs, worst first")
    _wait_text(driver, "latency-p95")
    _settle(driver)
    body = _body(driver)
    assert "olivia" in body and "operator" in body
    assert body.index("latency-p95") < body.index("availability")  # worst first
    # Standing and alert state side by side: breached and paging, met and ok.
    worst = body[body.index("latency-p95") : body.index("availability")]
    assert "Standing" in worst and "BREACHED" in worst and "Alert" in worst and "PAGE" in worst
    rest = body[body.index("availability") :]
    assert "MET" in rest and "OK" in rest and "BREACHED" not in rest
    assert "Open incidents" in body
    assert "production calls" in body and "synthetic calls" in body
    overview_png = ARTIFACTS / "overview.png"
    driver.save_screenshot(str(overview_png))  # type: ignore[attr-defined]
    assert (
        overview_png.stat().st_size > 10_000
    )  # docs/dashboard.png comes from scripts/screenshot.py

    # Page switches inside the app: timed and printed (the target is checked by the benchmark).
    switches = [("latency", "p50 / p95 / p99"), ("quality", "Turns below threshold"),
                ("calls", "Open a run"), ("overview", "SLOs, worst first")]  # fmt: skip
    for page, marker in switches:
        href = "/" if page == "overview" else f"/{page}"
        link = _element(driver, f'a[href$="{href}"]' if page != "overview" else
                        'a[data-testid="stSidebarNavLink"]')  # fmt: skip
        started = time.monotonic()
        link.click()  # type: ignore[attr-defined]
        _wait_text(driver, marker)
        _settle(driver, pause=0.0)
        print(f"page switch to {page}: {time.monotonic() - started:.2f} s (Chromium, incl. render)")

    _element(driver, 'a[href$="/calls"]').click()  # type: ignore[attr-defined]
    _wait_text(driver, "Open a run")
    search = _element(driver, 'input[aria-label="Search"]')
    search.send_keys(SLOW_RUN_ID, Keys.ENTER)  # type: ignore[attr-defined]
    _wait_text(driver, f"Run {SLOW_RUN_ID}")
    _wait_text(driver, "Slowest stage: asr")
    _settle(driver)
    body = _body(driver)
    assert "[PHONE]" in body and "415 555 0134" not in body
    assert "Trace waterfall" in body
    assert f"run={SLOW_RUN_ID}" in driver.current_url  # type: ignore[attr-defined]
    driver.save_screenshot(str(ARTIFACTS / "calls.png"))  # type: ignore[attr-defined]
    assert (ARTIFACTS / "calls.png").stat().st_size > 10_000


def test_sign_in_survives_a_reload_with_an_http_only_cookie(
    dashboard: str, browser: object
) -> None:
    driver = browser
    driver.get(dashboard)  # type: ignore[attr-defined]
    _sign_in(driver)
    _wait_text(driver, "SLOs, worst first")
    cookie = _session_cookie(driver)
    assert cookie["httpOnly"] is True
    assert str(cookie.get("sameSite", "")).lower() == "strict"
    # Page scripts cannot read it: that is what HttpOnly is for.
    assert "voiceobs_session" not in driver.execute_script("return document.cookie")  # type: ignore[attr-defined]
    driver.refresh()  # type: ignore[attr-defined]
    _wait_text(driver, "SLOs, worst first")
    assert "Sign in to see SLOs" not in _body(driver)
    assert "olivia" in _body(driver)


def test_a_link_pasted_before_sign_in_opens_its_call_after(dashboard: str, browser: object) -> None:
    driver = browser
    driver.get(f"{dashboard}/calls?run={JOINED_SYNTHETIC_ID}")  # type: ignore[attr-defined]
    _sign_in(driver)
    _wait_text(driver, f"Run {JOINED_SYNTHETIC_ID}")
    _wait_text(driver, "Seen from both sides")
    _settle(driver)
    body = _body(driver)
    assert JOINED_PRODUCTION_ID in body  # the bot's side of the same call
    assert "/calls" in driver.current_url and f"run={JOINED_SYNTHETIC_ID}" in driver.current_url  # type: ignore[attr-defined]
    # The same link, reloaded while signed in, opens the call again.
    driver.get(f"{dashboard}/calls?run={JOINED_PRODUCTION_ID}&source=production")  # type: ignore[attr-defined]
    _wait_text(driver, f"Run {JOINED_PRODUCTION_ID}")
    assert "Sign in to see SLOs" not in _body(driver)


def test_a_tampered_or_expired_cookie_means_signing_in_again(
    dashboard: str, browser: object
) -> None:
    sys.path.insert(0, str(ROOT / "dashboards"))
    from dashkit import session

    driver = browser
    driver.get(dashboard)  # type: ignore[attr-defined]
    _sign_in(driver)
    _wait_text(driver, "SLOs, worst first")
    good = str(_session_cookie(driver)["value"])
    name, expiry, sig = good.split(".")
    # Signed with the dashboard's own key (in the data dir), but already expired.
    expired = session.sign("olivia", time.time() - 5)
    tampered = {
        "signature": f"{name}.{expiry}.{'0' * len(sig)}",
        "expiry pushed out": f"{name}.{int(expiry) + 86400}.{sig}",
        "another user": f"dmljdG9y.{expiry}.{sig}",  # base64 of "victor"
        "expired": expired,
    }
    for what, value in tampered.items():
        _set_cookie(driver, value)
        driver.refresh()  # type: ignore[attr-defined]
        _wait_text(driver, "Sign in to see SLOs")
        assert "SLOs, worst first" not in _body(driver), what
    _set_cookie(driver, good)  # the real one still works: the refusals above were the checks
    driver.refresh()  # type: ignore[attr-defined]
    _wait_text(driver, "SLOs, worst first")


def test_sign_out_clears_the_cookie(dashboard: str, browser: object) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get(dashboard)  # type: ignore[attr-defined]
    _sign_in(driver)
    _wait_text(driver, "SLOs, worst first")
    _session_cookie(driver)
    _settle(driver)
    for button in driver.find_elements(By.TAG_NAME, "button"):  # type: ignore[attr-defined]
        if button.text.strip() == "Sign out":
            button.click()
            break
    _wait_text(driver, "Sign in to see SLOs")
    deadline = time.monotonic() + 20
    while any(c["name"] == "voiceobs_session" for c in driver.get_cookies()):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, driver.get_cookies()  # type: ignore[attr-defined]
        time.sleep(0.2)
    driver.refresh()  # type: ignore[attr-defined]
    _wait_text(driver, "Sign in to see SLOs")


def test_charts_draw_and_empty_stage_pages_say_what_to_configure(
    dashboard: str, browser: object
) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get(f"{dashboard}/latency?range=24h")  # type: ignore[attr-defined]
    _sign_in(driver)
    _wait_text(driver, "p50 / p95 / p99")
    _wait_text(driver, "Production beside synthetic")
    _settle(driver, pause=2.0)
    charts = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stVegaLiteChart"]')  # type: ignore[attr-defined]
    assert len(charts) >= 4, len(charts)
    sizes = [(c.size["width"], c.size["height"]) for c in charts]
    assert all(w > 100 and h > 100 for w, h in sizes), sizes  # drawn, not empty boxes
    # The bot exported no stage spans: the pages say what to configure, in the browser too.
    driver.get(f"{dashboard}/capacity?source=production")  # type: ignore[attr-defined]
    _wait_text(driver, "voiceobs serve --otlp-endpoint http://127.0.0.1:4318")
    assert "point its OTLP exporter at voiceobs collect" in _body(driver)
