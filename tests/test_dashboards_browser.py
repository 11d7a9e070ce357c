"""Real-browser tests of the Voila dashboards: headless Debian chromium driven by playwright's Python API.

One Voila server per test session (the repository's notebooks/dashboards/ and voila.json, sample data, a ledger in
a temp folder); each dashboard is opened, its widgets awaited, a filter changed and the counts, table and chart
checked against the package's own answer; downloads are opened with openpyxl; screenshots go to
artifacts/screenshots/.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ROOT / "notebooks" / "dashboards"
SAMPLES = ROOT / "data" / "samples"
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-dev-shm-usage",
]
CDN_HOSTS = re.compile(r"cdnjs\.cloudflare\.com|cdn\.jsdelivr\.net|unpkg\.com|fonts\.googleapis\.com")
WIDGET_TIMEOUT_MS = 180_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium 未安装（scripts/test.sh 会用 apt 安装）"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def voila_url(tmp_path_factory: pytest.TempPathFactory):
    """Voila on a free localhost port (no port retries), kernels started per page (no pre-heating in tests)."""
    from workbench import serve

    tmp = tmp_path_factory.mktemp("voila")
    port = free_port()
    env = serve.voila_env(SAMPLES, ledger=str(tmp / "followup.sqlite"))
    env["MPLBACKEND"] = "Agg"
    log = open(tmp / "voila.log", "w")
    proc = subprocess.Popen(serve.voila_command(port, preheat=False), cwd=DASHBOARDS, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        if not serve.wait_until_up(url + "/", proc, timeout=120):
            log.flush()
            pytest.fail("Voila 未能启动:\n" + (tmp / "voila.log").read_text()[-3000:])
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1360, "height": 1000}, accept_downloads=True, locale="zh-CN")
    context.route(CDN_HOSTS, lambda route: route.abort())
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


def open_dashboard(page, voila_url: str, name: str, ready: str = ".wb-ready"):
    """Open a dashboard and wait until its widgets are rendered (not for `load`: the CDN is blocked)."""
    page.goto(f"{voila_url}/voila/render/{name}", wait_until="domcontentloaded", timeout=WIDGET_TIMEOUT_MS)
    page.wait_for_selector(ready, timeout=WIDGET_TIMEOUT_MS)
    return page


def screenshot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_no_error(page) -> None:
    body = page.inner_text("body")
    assert page.locator(".wb-error").count() == 0, page.locator(".wb-error").first.inner_text()
    for marker in ("Traceback", "There was an error", "Error:", "失败："):
        assert marker not in body, f"页面显示了错误：{marker}"


def count_of(page, selector: str = ".wb-count b") -> int:
    return int(page.locator(selector).first.inner_text().replace(",", ""))


def wait_text_change(page, selector: str, before: str, timeout_ms: int = 60_000) -> str:
    page.wait_for_function(
        "([sel, old]) => { const e = document.querySelector(sel); return e && e.innerText !== old; }",
        arg=[selector, before], timeout=timeout_ms)
    return page.locator(selector).first.inner_text()


def chart_src(page, selector: str = ".wb-chart img, img.wb-chart") -> str:
    return page.locator(selector).first.get_attribute("src") or ""


def download_xlsx(page, button_text: str = "生成 Excel"):
    """Click the build button, then the data: link; return the workbook opened with openpyxl."""
    import openpyxl

    page.get_by_role("button", name=button_text).first.click()
    link = page.locator("a.wb-download").first
    link.wait_for(timeout=120_000)
    with page.expect_download() as info:
        link.click()
    download = info.value
    data = Path(download.path()).read_bytes()
    assert data[:2] == b"PK"
    return openpyxl.load_workbook(io.BytesIO(data)), download.suggested_filename


def test_voila_serves_no_data_files(voila_url):
    for path in ("/voila/files/voila.json", "/voila/files/../../data/samples/x.xlsx", "/files/voila.json",
                 "/voila/static/../../data/samples/x.xlsx"):
        try:
            with urllib.request.urlopen(voila_url + path, timeout=10) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        assert status in (403, 404), path
    sample_files = [p for p in SAMPLES.rglob("*") if p.suffix.lower() in (".xlsx", ".xls", ".csv")]
    for p in sample_files[:3]:
        rel = p.relative_to(ROOT).as_posix()
        for prefix in ("/voila/files/", "/voila/files/../../", "/files/"):
            try:
                with urllib.request.urlopen(voila_url + prefix + rel, timeout=10) as resp:
                    status = resp.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            assert status in (403, 404), prefix + rel
