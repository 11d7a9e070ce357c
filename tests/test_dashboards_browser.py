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
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ROOT / "notebooks" / "dashboards"
SAMPLES = Path(os.environ.get("WORKBENCH_TEST_SAMPLES") or ROOT / "data" / "samples")  # another county: set the env
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


LEDGER_PATH: dict[str, str] = {}


@pytest.fixture(scope="session")
def voila_url(tmp_path_factory: pytest.TempPathFactory):
    """Voila on a free localhost port (no port retries), kernels started per page (no pre-heating in tests)."""
    from workbench import serve

    tmp = tmp_path_factory.mktemp("voila")
    port = free_port()
    LEDGER_PATH["path"] = str(tmp / "followup.sqlite")
    env = serve.voila_env(SAMPLES, ledger=LEDGER_PATH["path"])
    env["MPLBACKEND"] = "Agg"
    log = open(tmp / "voila.log", "w")  # noqa: SIM115 - open while Voila runs
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
    context = browser.new_context(viewport={"width": 1360, "height": 1800}, accept_downloads=True, locale="zh-CN")
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


def wait_chart_change(page, selector: str, before: str, timeout_ms: int = 60_000) -> None:
    """Wait until the first chart image matched by `selector` shows another picture."""
    page.wait_for_function(
        "([sel, old]) => { const e = document.querySelector(sel); const img = e && (e.tagName === 'IMG' ? e : "
        "e.querySelector('img')); return img && img.src && img.src !== old; }",
        arg=[selector, before], timeout=timeout_ms)


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
        rel = p.relative_to(ROOT).as_posix() if p.is_relative_to(ROOT) else p.name
        for prefix in ("/voila/files/", "/voila/files/../../", "/files/"):
            try:
                with urllib.request.urlopen(voila_url + prefix + urllib.parse.quote(rel), timeout=10) as resp:
                    status = resp.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            assert status in (403, 404), prefix + rel


# ---------------------------------------------------------------- expectations from the package itself


@pytest.fixture(scope="session")
def sample_ws():
    from workbench import load_folder

    return load_folder(SAMPLES, progress=False)


def figure(page, label: str) -> str:
    """The value of a headline figure card by its label."""
    card = page.locator(".wb-card", has=page.locator("div", has_text=re.compile(f"^{re.escape(label)}$"))).first
    return card.locator(".wb-figure").inner_text().strip()


def wait_figure_change(page, label: str, before: str, timeout_ms: int = 60_000) -> str:
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        now = figure(page, label)
        if now != before:
            return now
        page.wait_for_timeout(100)
    raise AssertionError(f"{label} 未变化（仍为 {before}）")


def select(page, container: str, description: str, option_label: str) -> None:
    """Choose an option of the ipywidgets Dropdown with the given description inside `container`."""
    box = page.locator(f"{container} .widget-dropdown", has=page.locator("label", has_text=description)).first
    box.locator("select").select_option(label=option_label)


def table_total(page, container: str) -> int:
    return int(page.locator(f"{container} .wb-count b").first.inner_text())


def wait_table_total(page, container: str, expected: int, timeout_ms: int = 60_000) -> None:
    page.wait_for_function(
        "([sel, n]) => { const e = document.querySelector(sel); return e && e.innerText.trim() === String(n); }",
        arg=[f"{container} .wb-count b", expected], timeout=timeout_ms)


def masked_ids_only(page) -> None:
    """Every 18-character ID on the page is masked (610928********123X)."""
    text = page.inner_text("body")
    assert not re.search(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])", text), "页面上出现了未脱敏的身份证号"
    assert re.search(r"[0-9]{6}\*{8}[0-9]{3}[0-9Xx]", text), "页面上没有脱敏的身份证号"


def sheet_rows(workbook) -> list[tuple]:
    ws = workbook.worksheets[0]
    return [r for r in ws.iter_rows(values_only=True) if any(v is not None for v in r)]


# ---------------------------------------------------------------- dashboards


def test_special_groups_filter_counts_table_chart_and_download(page, voila_url, sample_ws):
    from workbench import groups

    members = groups.memberships(sample_ws)
    open_dashboard(page, voila_url, "special_groups.ipynb")
    assert_no_error(page)
    any_group = len(groups.filter_students(members))
    assert figure(page, "筛选结果（人）") == str(any_group)
    assert table_total(page, ".wb-paged-table") == any_group
    masked_ids_only(page)
    screenshot(page, "special_groups")

    # tick 贫困 and 留守, ask for students in both
    chart_before = chart_src(page)
    before = figure(page, "筛选结果（人）")
    page.locator(".wb-group-filter label", has_text="贫困").first.click()
    expected = len(groups.filter_students(members, groups=["贫困"]))
    assert int(wait_figure_change(page, "筛选结果（人）", before)) == expected
    page.locator(".wb-group-filter label", has_text="留守").first.click()
    page.get_by_role("button", name="同时属于").click()
    expected = len(groups.filter_students(members, groups=["贫困", "留守"], mode="all"))
    wait_table_total(page, ".wb-paged-table", expected)
    assert figure(page, "筛选结果（人）") == str(expected)
    wait_chart_change(page, ".wb-chart", chart_before)

    # then one town
    town = members["town"].value_counts().index[0]
    select(page, ".wb-group-filter", "乡镇", town)
    expected = len(groups.filter_students(members, groups=["贫困", "留守"], mode="all", town=town))
    wait_table_total(page, ".wb-paged-table", expected)
    assert figure(page, "筛选结果（人）") == str(expected)
    assert_no_error(page)
    screenshot(page, "special_groups_filtered")

    workbook, filename = download_xlsx(page)
    assert filename.endswith(".xlsx") and town in filename
    rows = sheet_rows(workbook)
    header = [str(h) for h in rows[0]]
    assert "身份证号" in header and "姓名" in header
    assert len(rows) - 1 == expected
    ids = [r[header.index("身份证号")] for r in rows[1:]]
    assert all(re.fullmatch(r"[0-9]{6}\*{8}[0-9]{3}[0-9X]", str(i)) for i in ids if i)


def test_mentoring_levels_gaps_and_timeline(page, voila_url, sample_ws):
    from workbench import mentoring

    open_dashboard(page, voila_url, "mentoring.ipynb")
    assert_no_error(page)
    towns = mentoring.compliance(sample_ws, "town")
    assert table_total(page, ".wb-compliance") == len(towns)
    screenshot(page, "mentoring")

    chart_before = chart_src(page, ".wb-compliance .wb-chart")
    select(page, ".wb-compliance", "统计层级", "学校")
    wait_table_total(page, ".wb-compliance", len(mentoring.compliance(sample_ws, "school")))
    wait_chart_change(page, ".wb-compliance .wb-chart", chart_before)
    town = towns["town"].dropna().iloc[0]
    select(page, ".wb-compliance", "乡镇", town)
    schools = mentoring.compliance(sample_ws, "school")
    wait_table_total(page, ".wb-compliance", int((schools["town"] == town).sum()))
    assert_no_error(page)

    gaps = mentoring.findings(sample_ws)
    page.get_by_text("缺失清单", exact=True).click()
    wait_table_total(page, ".wb-gaps", len(gaps))
    label = gaps["label"].value_counts().index[0]
    select(page, ".wb-gaps", "缺失类型", label)
    wait_table_total(page, ".wb-gaps", int((gaps["label"] == label).sum()))
    masked_ids_only(page)
    screenshot(page, "mentoring_gaps")
    workbook, _ = download_xlsx(page)
    assert len(sheet_rows(workbook)) - 1 == int((gaps["label"] == label).sum())

    page.get_by_text("学生时间线", exact=True).click()
    page.wait_for_selector(".wb-timeline .wb-table")
    assert table_total(page, ".wb-timeline") > 0
    assert_no_error(page)
    screenshot(page, "mentoring_timeline")


def test_overview_figures_metric_chart_and_town_drilldown(page, voila_url, sample_ws):
    from workbench import dropout

    open_dashboard(page, voila_url, "overview.ipynb")
    assert_no_error(page)
    villages = dropout.village_verdicts(sample_ws)
    county = dropout.county_rollup(dropout.town_rollup(villages)).iloc[0]
    assert figure(page, "未达标村") == str(int(county["villages_failed"]))
    assert figure(page, "疑似失学") == str(int(county["suspected_out_of_school"]))
    assert figure(page, "控辍保学达标村") == f"{int(county['villages_passed'])} / {int(county['villages'])}"
    screenshot(page, "overview")

    before = chart_src(page, ".wb-metric-chart")
    select(page, ".wb-ready", "指标", "资助应助已助率（%）")
    wait_chart_change(page, ".wb-metric-chart", before)

    town = villages["town"].value_counts().index[-1]
    select(page, ".wb-drilldown", "乡镇", town)
    wait_table_total(page, ".wb-drilldown", int((villages["town"] == town).sum()))
    passed = int(((villages["town"] == town) & (villages["verdict"] == "达标")).sum())
    drill_cards = page.locator(".wb-drilldown .wb-card", has=page.locator("div", has_text=re.compile("^达标村$")))
    page.wait_for_function(
        "want => [...document.querySelectorAll('.wb-drilldown .wb-figure')].some(e => e.innerText.trim() === want)",
        arg=f"{passed} / {int((villages['town'] == town).sum())}")
    assert drill_cards.count() == 1
    assert_no_error(page)
    screenshot(page, "overview_town")


def test_followup_filters_record_attach_and_export(page, voila_url, sample_ws, tmp_path):
    from workbench.followup import Ledger

    open_dashboard(page, voila_url, "followup.ipynb")
    assert_no_error(page)
    ledger = Ledger(LEDGER_PATH["path"])  # the dashboard's ledger: a temp database seeded from the sample lists
    items = ledger.items(as_of=sample_ws.as_of)
    assert len(items) > 0
    assert figure(page, "筛选结果") == str(len(items))
    assert figure(page, "逾期") == str(int(items["overdue"].sum()))
    if items["overdue"].any():
        assert page.locator(".wb-ready .wb-alert").count() > 0  # overdue rows highlighted
    masked_ids_only(page)
    screenshot(page, "followup")

    # filter: overdue only, then one category
    page.locator(".wb-ready label", has_text="只看逾期").first.click()
    wait_table_total(page, ".wb-ready > .wb-paged-table", int(items["overdue"].sum()))
    page.locator(".wb-ready label", has_text="只看逾期").first.click()
    category = items["category"].value_counts().index[0]
    select(page, ".wb-ready", "问题类型", category)
    wait_table_total(page, ".wb-ready > .wb-paged-table", int((items["category"] == category).sum()))

    # open the first item of the filtered list and record a check result with a note
    key = items[items["category"] == category]["item_key"].iloc[0]
    n_events = len(ledger.history(key))
    form = ".wb-item-form"
    select(page, form, "登记", "核查")
    select(page, form, "核查结果", "属实")
    page.locator(f"{form} textarea").fill("经核对学籍，情况属实（浏览器测试）")
    page.locator(f"{form} .widget-text", has=page.locator("label", has_text="操作人")).locator("input").fill("测试员")
    page.get_by_role("button", name="保存记录").click()
    page.wait_for_selector(f"{form} .wb-info:has-text('已保存')")
    history = ledger.history(key)
    assert len(history) == n_events + 1
    assert history["kind"].iloc[-1] == "checked" and history["data"].iloc[-1]["result"] == "属实"
    assert history["actor"].iloc[-1] == "测试员"
    page.wait_for_function("() => document.querySelector('.wb-status').innerText.includes('已核查')")

    # attach evidence
    evidence = tmp_path / "佐证材料.txt"
    evidence.write_text("测试佐证材料", encoding="utf-8")
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="选择佐证材料").click()
    chooser.value.set_files(str(evidence))
    page.wait_for_selector(f"{form} .widget-upload:has-text('(1)')")
    page.get_by_role("button", name="上传佐证材料").click()
    page.wait_for_selector(f"{form} .wb-info:has-text('已上传佐证材料')")
    history = ledger.history(key)
    assert history["kind"].iloc[-1] == "evidence" and history["data"].iloc[-1]["file_name"] == "佐证材料.txt"
    assert_no_error(page)
    screenshot(page, "followup_recorded")

    # export the response workbook for the county
    select(page, ".wb-ready", "问题类型", "全部")
    workbook, filename = download_xlsx(page, "生成反馈表")
    assert filename.startswith("疑似问题反馈表")
    rows = sheet_rows(workbook)
    header_index = next(i for i, r in enumerate(rows) if "核查结果" in [str(v) for v in r])
    header = [str(v) for v in rows[header_index]]
    body = rows[header_index + 1:]
    assert len(body) == len(items)
    assert "属实" in [r[header.index("核查结果")] for r in body]
