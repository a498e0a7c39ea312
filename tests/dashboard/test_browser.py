"""The dashboard in a real browser: `voiceobs dashboard`, headless Chromium, sign-in, two pages."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.dashboard.conftest import SLOW_RUN_ID
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
def dashboard(seeded_url: str, users_path: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ, VOICEOBS_USERS_FILE=str(users_path))
    log = (tmp_path / "dashboard.log").open("w")
    cmd = [sys.executable, "-m", "voiceobs.cli.main", "dashboard", "--db", seeded_url,
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


def _settle(driver: object, timeout: float = 45) -> None:
    """Wait until Streamlit has finished running the script (no 'Running...' indicator)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(  # type: ignore[arg-type]
        lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
    )
    time.sleep(1.0)  # charts draw after the script finishes


def test_sign_in_overview_and_calls(dashboard: str, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = browser
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.get(dashboard)  # type: ignore[attr-defined]
    _wait_text(driver, "Sign in to see SLOs")
    name = _element(driver, 'input[aria-label="User name"]')
    name.send_keys("olivia")  # type: ignore[attr-defined]
    password = _element(driver, 'input[type="password"]')
    password.send_keys("olivia-op-secret-1", Keys.ENTER)  # type: ignore[attr-defined]
    time.sleep(0.5)
    for button in driver.find_elements(By.TAG_NAME, "button"):  # type: ignore[attr-defined]
        if button.text.strip() == "Sign in":
            button.click()
            break
    _wait_text(driver, "SLOs, worst first")
    _wait_text(driver, "latency-p95")
    _settle(driver)
    body = driver.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
    assert "olivia" in body and "operator" in body
    assert body.index("latency-p95") < body.index("availability")  # worst first
    assert "PAGE" in body and "Open incidents" in body
    overview_png = ARTIFACTS / "overview.png"
    driver.save_screenshot(str(overview_png))  # type: ignore[attr-defined]
    assert overview_png.stat().st_size > 10_000  # docs/dashboard.png comes from scripts/screenshot.py

    # Navigate inside the app (a reload would be a new session and ask to sign in again).
    _element(driver, 'a[href$="/calls"]').click()  # type: ignore[attr-defined]
    _wait_text(driver, "Open a run")
    search = _element(driver, 'input[aria-label="Search"]')
    search.send_keys(SLOW_RUN_ID, Keys.ENTER)  # type: ignore[attr-defined]
    _wait_text(driver, f"Run {SLOW_RUN_ID}")
    _wait_text(driver, "Slowest stage: asr")
    _settle(driver)
    body = driver.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
    assert "[PHONE]" in body and "415 555 0134" not in body
    assert "Trace waterfall" in body
    driver.save_screenshot(str(ARTIFACTS / "calls.png"))  # type: ignore[attr-defined]
    assert (ARTIFACTS / "calls.png").stat().st_size > 10_000
