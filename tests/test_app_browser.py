"""The app in a real browser: ``streamlit run`` on localhost, driven by headless Chromium (Selenium).

Loads the first example, then uploads a WFDB record (.hea + .dat) and waits for its diagnosis; checks
that the labels and the plots are on screen, saves screenshots, and prints the time from the upload
to the diagnosis on screen (``EDGECARDIO_APP_SCREENSHOTS=DIR`` keeps the screenshots and the timing).
Needs Debian's ``chromium`` and ``chromium-driver`` (tools/setup.sh installs them) and selenium.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
webdriver = pytest.importorskip("selenium.webdriver")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from edgecardio.app import logic, streamlit_command  # noqa: E402

from _app_helpers import wfdb_files, write_files  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs Debian's chromium and chromium-driver (bash tools/setup.sh as root)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    log = open(log_path, "wb")  # a file, not a pipe: nobody reads a pipe while the test runs
    proc = subprocess.Popen(streamlit_command(port, "127.0.0.1"), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            pytest.fail(f"streamlit did not start: {log_path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.3)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


@pytest.fixture(scope="module")
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1500,2600", "--hide-scrollbars"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=opts)
    yield driver
    driver.quit()


def _shots_dir(tmp_path) -> Path:
    d = os.environ.get("EDGECARDIO_APP_SCREENSHOTS")
    p = Path(d) if d else tmp_path
    p.mkdir(parents=True, exist_ok=True)
    return p


def _diagnosis(driver, source: str):
    """The diagnosis heading once the page shows the result for ``source`` with its plots loaded."""
    for h in driver.find_elements(By.CSS_SELECTOR, "[data-testid='stMarkdown'] h3"):
        if h.text.startswith("Diagnosis:"):
            captions = " ".join(c.text for c in driver.find_elements(By.CSS_SELECTOR, "[data-testid='stCaptionContainer']"))
            images = driver.find_elements(By.CSS_SELECTOR, "[data-testid='stImage'] img")
            loaded = [i for i in images if driver.execute_script("return arguments[0].naturalWidth", i) > 0]
            body = driver.find_element(By.TAG_NAME, "body").text
            running = [w for w in driver.find_elements(By.CSS_SELECTOR, "[data-testid='stStatusWidget']")
                       if "Running" in w.text]
            # the whole run: the footer is the page's last element
            if source in captions and len(loaded) >= 3 and "not a medical device" in body and not running:
                return h
    return None


def _wait(driver, source: str, timeout: float = 60):
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: _diagnosis(d, source))


def test_example_then_wfdb_upload_in_chromium(server, browser, tmp_path):
    shots = _shots_dir(tmp_path)
    examples, _ = logic.load_examples()
    first = examples[0]
    browser.get(server)
    heading = _wait(browser, first.source, timeout=90)
    labels = heading.text.split(":", 1)[1].strip()
    assert labels, heading.text
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "12-lead ECG" in page and "Why: occlusion map" in page and f"PTB-XL {first.meta['ecg_id']}" in page
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid='stException']")
    browser.save_screenshot(str(shots / "app_example.png"))

    # switch to Upload and send a WFDB record made of another example
    ex = examples[3]
    paths = write_files(wfdb_files(ex.signal, ex.fs_hz, "upload_rec"), tmp_path)
    for label in browser.find_elements(By.CSS_SELECTOR, "[data-testid='stSidebar'] label"):
        if label.text.strip() == "Upload":
            label.click()
            break
    else:
        pytest.fail("no Upload choice in the sidebar")
    file_input = WebDriverWait(browser, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid='stFileUploader'] input[type='file']"))[0]
    t0 = time.perf_counter()
    file_input.send_keys("\n".join(str(p) for p in paths))
    heading = _wait(browser, "upload_rec.hea", timeout=60)
    upload_to_diagnosis_s = time.perf_counter() - t0
    assert heading.text.startswith("Diagnosis:")
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "Probabilities and thresholds" in page and "Latency" in page
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid='stException']")
    browser.save_screenshot(str(shots / "app_upload.png"))
    result = {"upload_to_diagnosis_s": round(upload_to_diagnosis_s, 3), "labels": heading.text,
              "chromium": browser.capabilities.get("browserVersion"), "python": sys.version.split()[0]}
    (shots / "app_browser_timing.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nupload -> diagnosis on screen: {upload_to_diagnosis_s:.2f} s ({heading.text}); screenshots in {shots}")
