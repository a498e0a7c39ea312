"""Make the README's dashboard screenshot (docs/dashboard.png) from a seeded store in Chromium.

Run by hand after a change to what the Overview shows; the test suite never
writes it. It seeds a throwaway store the way the dashboard tests do
(probe calls, production calls, one call joined from both sides, SLO
evaluations and incidents), starts a real ``voiceobs dashboard`` on it,
signs in with headless Chromium and saves the page.

Usage: .venv/bin/python scripts/screenshot.py [--page overview] [--output docs/dashboard.png]
Needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.dashboard.conftest import seed_production, seed_store  # noqa: E402
from tests.helpers import free_port  # noqa: E402
from voiceobs.store import Store  # noqa: E402
from voiceobs.users import add_user  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
USER, PASSWORD = "dana", "screenshot-only-secret-1"
#: Text that shows each page has finished drawing its main parts.
READY = {
    "overview": "SLOs, worst first",
    "latency": "Where the time goes",
    "quality": "Turns below threshold",
    "calls": "Open a run",
    "incidents": "Actions by people",
    "capacity": "p95 crosses",
}


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    raise SystemExit(f"the dashboard did not start:\n{log.read_text()}")


def _shoot(url: str, page: str, output: Path, width: int, height: int) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    options = Options()
    options.binary_location = CHROMIUM
    with tempfile.TemporaryDirectory(prefix="voiceobs-chrome-") as profile:
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--hide-scrollbars", f"--window-size={width},{height}",
                    f"--user-data-dir={profile}"):  # fmt: skip
            options.add_argument(arg)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            wait = WebDriverWait(driver, 60)
            driver.get(url if page == "overview" else f"{url}/{page}")
            wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, 'input[aria-label="User name"]')))
            driver.find_element(By.CSS_SELECTOR, 'input[aria-label="User name"]').send_keys(USER)
            driver.find_element(By.CSS_SELECTOR, 'input[type="password"]').send_keys(
                PASSWORD, Keys.ENTER
            )
            wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), READY[page]))
            wait.until(
                lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
            )
            time.sleep(2.0)  # charts draw after the script finishes
            output.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(output))
        finally:
            driver.quit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--page", choices=sorted(READY), default="overview")
    ap.add_argument("--output", type=Path, default=ROOT / "docs" / "dashboard.png")
    ap.add_argument("--size", default="1440x1700", help="browser window, WIDTHxHEIGHT")
    args = ap.parse_args()
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        raise SystemExit("needs chromium and chromium-driver: apt-get install chromium chromium-driver")
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise SystemExit(f"--size {args.size!r}: write WIDTHxHEIGHT, e.g. 1440x1700") from None
    with tempfile.TemporaryDirectory(prefix="voiceobs-screenshot-") as tmp:
        base = Path(tmp)
        env = dict(os.environ, VOICEOBS_DATA_DIR=str(base / "data"),
                   VOICEOBS_CONFIG=str(base / "config.toml"),
                   VOICEOBS_USERS_FILE=str(base / "users.toml"))  # fmt: skip
        add_user(USER, PASSWORD, "operator", path=base / "users.toml")
        db = f"sqlite:///{base / 'store.db'}"
        store = Store.open(db, create=True)
        try:
            seed_store(store)
            seed_production(store)
        finally:
            store.close()
        port = free_port()
        log = base / "dashboard.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "voiceobs.cli.main", "dashboard", "--db", db,
                 "--port", str(port)],
                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
            )  # fmt: skip
            try:
                url = f"http://127.0.0.1:{port}"
                _wait_healthy(url, proc, log)
                _shoot(url, args.page, args.output, width, height)
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
