"""The ops pages in a real browser (Debian's chromium + chromium-driver, via Selenium) over the
real stack: an order fails, an operator finds it, opens it and presses replay.

Selenium never downloads anything here: the driver and the browser are given by path. Set
`OPS_SCREENSHOT_DIR` (e.g. to the checkout's `docs/`) to keep the two screenshots README shows;
by default they go to the test's temporary directory.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.demo import SCENARIOS, scenario_body
from tests.integration.conftest import FAST_ENV
from tests.integration.helpers import wait_terminal
from worker.stack import Stack

pytestmark = pytest.mark.integration

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WAIT_S = 20


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)")
    os.environ["SE_OFFLINE"] = "true"  # selenium-manager, should it run at all: no downloads
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    credentials = f"{FAST_ENV['ORDERFLOW_OPS_USERNAME']}:{FAST_ENV['ORDERFLOW_OPS_PASSWORD']}"
    # Basic credentials on every request the page makes, as a signed-in browser would send them.
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd(
        "Network.setExtraHTTPHeaders",
        {"headers": {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}},
    )
    yield driver
    driver.quit()


def screenshot(driver: object, name: str, tmp_path: Path) -> Path:
    """The whole page, however long, into OPS_SCREENSHOT_DIR (or the test's directory)."""
    target = Path(os.environ.get("OPS_SCREENSHOT_DIR") or tmp_path) / name
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})  # type: ignore[attr-defined]
    size = metrics["cssContentSize"]
    shot = driver.execute_cdp_cmd(  # type: ignore[attr-defined]
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        },
    )
    target.write_bytes(base64.b64decode(shot["data"]))
    return target


def submit(api: httpx.Client, name: str, prefix: str) -> str:
    scenario = next(s for s in SCENARIOS if s.name == name)
    ref = f"{prefix}-{uuid.uuid4().hex[:6]}"
    response = api.post("/orders", json=scenario_body(scenario, reference=ref))
    assert response.status_code == 202, response.text
    return ref


def test_an_operator_finds_a_failed_order_opens_it_and_replays_it(
    stack: Stack, api: httpx.Client, browser: object, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, WAIT_S)  # type: ignore[arg-type]
    # Given an order that fails (unknown SKU), one left for a person, and one that completes
    failing = submit(api, "unknown SKU", "ops-sku")
    attention = submit(api, "remainder above maxAmount", "ops-max")
    fine = submit(api, "fully paid", "ops-ok")
    bl = scenario_body(SCENARIOS[0])["order"]["businessLocationId"]
    assert wait_terminal(api, bl, failing)["status"] == "failed"
    assert wait_terminal(api, bl, attention)["status"] == "needs_attention"
    assert wait_terminal(api, bl, fine)["status"] == "completed"

    # When the operator opens the ops page, the failed order is listed with what to do
    driver.get(f"{stack.api_url}/ops")  # type: ignore[attr-defined]
    failed_list = wait.until(ec.presence_of_element_located((By.ID, "list-failed")))
    assert failing in failed_list.text
    assert "fix the shop's menu mapping" in failed_list.text
    attention_list = driver.find_element(By.ID, "list-needs_attention")  # type: ignore[attr-defined]
    assert attention in attention_list.text
    assert "settle on the POS by hand" in attention_list.text
    screenshot(driver, "ops-index.png", tmp_path)

    # ... filters by status: only completed orders are listed
    driver.find_element(By.ID, "count-completed").click()  # type: ignore[attr-defined]
    completed = wait.until(ec.presence_of_element_located((By.ID, "list-completed")))
    assert fine in completed.text
    assert failing not in driver.page_source  # type: ignore[attr-defined]

    # ... searches by reference and opens the order
    box = driver.find_element(By.NAME, "q")  # type: ignore[attr-defined]
    box.send_keys(failing)
    driver.find_element(By.ID, "search").click()  # type: ignore[attr-defined]
    found = wait.until(ec.presence_of_element_located((By.ID, "found")))
    found.find_element(By.LINK_TEXT, failing).click()
    title = wait.until(ec.presence_of_element_located((By.ID, "order-title")))
    assert failing in title.text
    assert driver.find_element(By.ID, "order-status").text == "failed"  # type: ignore[attr-defined]
    timeline = driver.find_element(By.ID, "timeline").text  # type: ignore[attr-defined]
    assert "POST /o/op/1/order/local" in timeline  # the K-Series call, from the worker's log
    assert "OrderNews:FAILURE" in timeline  # the notification that failed it
    assert "Jane" not in driver.page_source  # type: ignore[attr-defined]
    screenshot(driver, "ops-order.png", tmp_path)

    # ... and presses replay: the new order's page opens, linked to the old one
    driver.find_element(By.ID, "replay").click()  # type: ignore[attr-defined]
    wait.until(ec.url_contains(f"{failing}-r1"))
    title = wait.until(ec.presence_of_element_located((By.ID, "order-title")))
    assert f"{failing}-r1" in title.text
    assert failing in driver.find_element(By.LINK_TEXT, failing).text  # type: ignore[attr-defined]
    # Then the replay runs on the real stack like any order, and the old one says where it went
    assert wait_terminal(api, bl, f"{failing}-r1")["replayOf"] == f"{bl}:{failing}"
    old = api.get(f"/orders/{bl}/{failing}").json()
    assert old["replayedAs"] == f"{bl}:{failing}-r1"
    assert old["history"][-1]["event"] == "operator.replay"


def test_an_operator_resolves_a_needs_attention_order_by_hand(
    stack: Stack, api: httpx.Client, browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, WAIT_S)  # type: ignore[arg-type]
    ref = submit(api, "remainder above maxAmount", "ops-hand")
    bl = scenario_body(SCENARIOS[0])["order"]["businessLocationId"]
    assert wait_terminal(api, bl, ref)["status"] == "needs_attention"
    driver.get(f"{stack.api_url}/ops/orders/{bl}/{ref}")  # type: ignore[attr-defined]
    note = wait.until(ec.presence_of_element_located((By.ID, "note")))
    note.send_keys("took the rest in cash at the till")
    driver.find_element(By.ID, "resolve").click()  # type: ignore[attr-defined]
    wait.until(ec.text_to_be_present_in_element((By.ID, "order-status"), "resolved"))
    view = api.get(f"/orders/{bl}/{ref}").json()
    assert view["status"] == "resolved"
    assert view["history"][-1]["event"] == "operator.resolved"
    assert view["history"][-1]["detail"] == "by ops: took the rest in cash at the till"


def test_the_api_refuses_the_ops_pages_without_the_credentials(stack: Stack) -> None:
    response = httpx.get(f"{stack.api_url}/ops", timeout=10)
    assert response.status_code == 401
    wrong = httpx.get(f"{stack.api_url}/ops", auth=("ops", "nope"), timeout=10)
    assert wrong.status_code == 401


def test_no_log_line_carries_the_ops_password(stack: Stack) -> None:
    password = FAST_ENV["ORDERFLOW_OPS_PASSWORD"]
    for log in stack.workdir.rglob("*.log"):
        assert password not in log.read_text(errors="replace"), log
