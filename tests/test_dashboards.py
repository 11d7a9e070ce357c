"""Dashboard helpers without a browser: paging, masking, downloads, Chinese errors, fonts, serving settings."""

from __future__ import annotations

import base64
import io
import json
import re
import warnings
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from workbench import dashboards as db
from workbench import plotting, serve

ROOT = Path(__file__).resolve().parents[1]
IDS = ["61092820120129339X", "610928200801011234", "610928201001020021"]


def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "name": pd.Series([f"张三{i}" for i in range(n)], dtype="string"),
        "id_number": pd.Series([IDS[i % 3] for i in range(n)], dtype="string"),
        "town": pd.Series(["蜀河镇" if i % 2 else "城关镇" for i in range(n)], dtype="string"),
        "overdue": [i % 5 == 0 for i in range(n)],
    })


def test_paged_table_sends_only_one_page_and_masks_it():
    table = db.PagedTable(page_size=50, highlight_column="overdue")
    table.set_frame(frame(120))
    assert table.pages == 3
    assert table.html.value.count("<tr") == 51            # header + 50 rows
    assert "共 <b>120</b> 条" in table.summary.value and "第 1 / 3 页" in table.summary.value
    assert "610928********339X" in table.html.value and "61092820120129339X" not in table.html.value
    assert "张*" in table.html.value and "张三0" not in table.html.value
    assert table.html.value.count('class="wb-alert"') == 10   # rows 0, 5, ..., 45
    table.next_button.click()
    table.next_button.click()
    assert table.page == 2 and table.html.value.count("<tr") == 21 and table.next_button.disabled
    table.next_button.click()                               # past the end: stays on the last page
    assert table.page == 2
    table.set_frame(frame(0))
    assert "没有符合条件的记录" in table.html.value and table.pages == 1


def test_download_link_is_a_valid_xlsx_data_uri_with_masked_ids():
    link = db.download_link_html({"名单": db.labelled(db.masked(frame(3)))}, "特殊群体名单.xlsx")
    assert 'download="特殊群体名单.xlsx"' in link
    payload = re.search(r"base64,([A-Za-z0-9+/=]+)", link).group(1)
    wb = openpyxl.load_workbook(io.BytesIO(base64.b64decode(payload)))
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    assert rows[0][:2] == ("姓名", "身份证号")
    assert rows[1][1] == "610928********339X" and len(rows) == 4


def test_download_button_builds_on_click_and_reports_errors_in_chinese():
    calls = []

    def sheets():
        calls.append(1)
        return {"名单": frame(2)}

    button = db.DownloadButton(sheets, "名单.xlsx")
    assert calls == [] and button.link.value == ""          # nothing embedded at render time
    button.button.click()
    assert calls == [1] and "wb-download" in button.link.value

    def broken():
        raise RuntimeError("boom")

    bad = db.DownloadButton(broken, "名单.xlsx")
    bad.button.click()
    assert "wb-error" in bad.link.value and "生成 Excel 文件失败" in bad.link.value
    assert "Traceback" not in bad.link.value and "boom" not in bad.link.value


def test_guard_shows_a_chinese_message_never_a_traceback():
    import ipywidgets as w

    status = w.HTML()
    with db.guard("读取数据", status):
        raise db.DashboardError("数据文件夹不存在：样例")
    assert "读取数据失败：数据文件夹不存在：样例" in status.value
    with db.guard("计算", status):
        raise KeyError("x")
    assert "程序出现意外错误（KeyError）" in status.value
    progress = db.Progress(2)
    with db.guard("读取数据", progress):
        db.load_workspace(ROOT / "没有这个文件夹")
    assert progress.bar.bar_style == "danger" and "数据文件夹不存在" in progress.label.value


def test_group_filter_values_and_town_cascade():
    students = pd.DataFrame({"town": ["蜀河镇", "蜀河镇", "城关镇"], "school": ["甲小学", "乙小学", "丙中学"],
                             "stage": ["小学", "小学", "初中"], "grade": [1, 2, 1]})
    f = db.GroupFilter(["残疾", "贫困", "留守", "学困", "随迁"], students)
    seen = []
    f.observe(lambda change: seen.append(f.value()))
    assert f.value() == {"groups": [], "mode": "any", "town": None, "school": None, "stage": None, "grade": None}
    assert [label for label, _ in f.grade.options] == ["全部", "小学1年级", "小学2年级", "初中1年级"]
    f.group_boxes["贫困"].value = True
    f.mode.value = "all"
    f.school.value = "丙中学"
    f.town.value = "蜀河镇"                                  # the school list follows the town: one update only
    assert list(f.school.options) == ["全部", *sorted(["甲小学", "乙小学"])] and f.school.value == "全部"
    f.grade.value = ("小学", 2)
    assert seen[-1] == {"groups": ["贫困"], "mode": "all", "town": "蜀河镇", "school": None, "stage": "小学",
                        "grade": 2}
    assert len(seen) == 5


def test_charts_use_an_installed_cjk_font_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        font = db.setup()
        png = db.bar_chart(pd.Series([3, 1], index=["蜀河镇", "城关镇"]), "各乡镇未达标村数")
    import matplotlib

    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    families = matplotlib.rcParams["font.family"]
    assert families[0] == "DejaVu Sans"
    if font is None:
        pytest.skip("没有安装中文字体（scripts/test.sh 会安装 fonts-noto-cjk）")
    assert families == ["DejaVu Sans", font] and font in plotting.CJK_FAMILIES


def test_formatted_shows_rates_as_percent_and_dates_without_time():
    out = db.formatted(pd.DataFrame({"weekly_rate": pd.array([0.5, None], dtype="Float64"),
                                     "deadline": pd.to_datetime(["2019-11-15", None])}))
    assert out["weekly_rate"].tolist()[0] == "50.0%" and out["deadline"].tolist()[0] == "2019-11-15"
    assert pd.isna(out["weekly_rate"].iloc[1])


def test_sample_ledger_lives_outside_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_LEDGER", raising=False)
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    samples = ROOT / "data" / "samples"
    url = db.ledger_url(samples)
    assert url is not None and Path(url).is_relative_to(tmp_path / "cache")
    assert not Path(url).is_relative_to(samples)
    real = tmp_path / "county"
    real.mkdir()
    assert db.ledger_url(real) is None                        # a real county: the settings' ledger
    monkeypatch.setenv("WORKBENCH_LEDGER", str(tmp_path / "x.sqlite"))
    assert db.ledger_url(real) == str(tmp_path / "x.sqlite")


def test_voila_settings_serve_no_data_and_show_no_code():
    conf = json.loads((serve.DASHBOARDS_DIR / "voila.json").read_text(encoding="utf-8"))
    vc = conf["VoilaConfiguration"]
    assert vc["strip_sources"] is True and vc["show_tracebacks"] is False
    allow = [re.compile(p) for p in vc["file_allowlist"]]
    deny = [re.compile(p) for p in vc["file_denylist"]]
    for path in ("data/samples/学籍/学籍.xlsx", "x.csv", "overview.ipynb", "voila.json", ".env", "a.sqlite"):
        assert any(d.fullmatch(path) for d in deny) or not any(a.fullmatch(path) for a in allow), path
    assert any(a.fullmatch("logo.png") for a in allow)
    assert conf["VoilaExecutor"]["timeout"] > 0 and conf["MappingKernelManager"]["cull_idle_timeout"] > 0
    cmd = serve.voila_command(8899, token="abc", preheat=False)
    assert "--Voila.port_retries=0" in cmd and "--port=8899" in cmd and "--token=abc" in cmd
    assert "--VoilaConfiguration.preheat_kernel=False" in cmd and str(serve.DASHBOARDS_DIR) in cmd


def test_dashboards_command_refuses_a_missing_folder_in_chinese(capsys):
    from workbench.cli import main

    assert main(["dashboards", "--data", str(ROOT / "没有这个文件夹"), "--port", "8898"]) == 2
    assert "数据文件夹不存在" in capsys.readouterr().err
