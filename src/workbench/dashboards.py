"""Widget helpers for the Voila dashboards (看板): paged table, group filter, masked display, Excel download link,
Chinese error messages and progress. Dashboards stay thin: every rule lives in the analysis modules.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

PAGE_SIZE = 50
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ALL = "全部"

# Canonical column -> label shown to users (display only; no rule here).
COLUMN_LABELS: dict[str, str] = {
    "kind": "问题类型代码", "label": "问题类型", "systems": "涉及系统", "id_number": "身份证号", "name": "姓名",
    "town": "乡镇", "village": "村", "school": "学校", "school_name": "学校", "item": "资助项目", "period": "期间",
    "detail": "说明", "suggestion": "建议", "suggested_id": "建议身份证号", "term": "学期", "stage": "学段",
    "grade": "年级", "grade_label": "年级", "class_name": "班级", "sex": "性别", "birth_date": "出生日期",
    "student_no": "学籍号", "teacher_name": "帮扶教师", "student_name": "学生姓名", "groups": "特殊群体",
    "activity": "活动", "date": "日期", "content": "内容", "status": "状态", "category": "问题类型",
    "description": "问题描述", "deadline": "整改期限", "issued_date": "下发日期", "overdue": "是否逾期",
    "note": "备注", "reason": "原因", "verdict": "结论", "week": "教学周", "month": "月份",
    "group_students": "特殊群体学生", "paired_students": "已结对学生", "mentor_rate": "结对率",
    "weekly_students": "应记录学生", "weekly_expected": "应有周记录", "weekly_present": "实有周记录",
    "weekly_rate": "周记录完成率", "monthly_students": "应家访学生", "monthly_expected": "应家访（人次）",
    "monthly_present": "实家访（人次）", "monthly_rate": "家访完成率", "rate": "综合完成率",
    "teacher_school": "教师所在学校", "event": "事项", "teacher": "教师", "person_id": "身份证号",
    "assigned_unit": "责任单位", "assigned_person": "责任人", "result": "核查结果", "n_evidence": "佐证材料数",
    "seq": "序号", "list_id": "批次", "round": "轮次", "actor": "操作人", "at": "时间",
}

# Person columns the analyses add beyond the ones `workbench.mask` knows.
EXTRA_ID_COLUMNS = ("person_id", "pid", "student_key")
EXTRA_NAME_COLUMNS = ("local_name", "teacher")


class DashboardError(Exception):
    """An error with a message meant for the viewer (中文)."""


# ---------------------------------------------------------------- set-up


def setup() -> str | None:
    """Chinese fonts for charts and a quiet log: call once at the top of a dashboard or notebook."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    from .plotting import setup_fonts

    warnings.filterwarnings("ignore", category=UserWarning, module="matplotlib")
    warnings.filterwarnings("ignore", category=FutureWarning)
    return setup_fonts()


def data_dir(default: str | os.PathLike[str]) -> Path:
    """The data folder of a dashboard: $WORKBENCH_DATA (set by `workbench dashboards --data`) else `default`."""
    return Path(os.environ.get("WORKBENCH_DATA") or default)


# ---------------------------------------------------------------- errors


def text(value: Any, default: str = "") -> str:
    """Display text of a value: NA, None and NaT become `default`; timestamps show their date."""
    if value is None or (not isinstance(value, (list, dict, tuple)) and pd.isna(value)):
        return default
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return str(value)


def error_html(message: str) -> str:
    return (
        '<div class="wb-error" style="color:#a94442;background:#f2dede;border:1px solid #ebccd1;'
        f'padding:8px 12px;border-radius:4px">⚠ {html.escape(message)}</div>'
    )


def info_html(message: str) -> str:
    return f'<div class="wb-info" style="color:#31708f;padding:4px 0">{html.escape(message)}</div>'


def friendly_message(action: str, exc: BaseException) -> str:
    """A Chinese message for an exception: its own text when it is a DashboardError, else a generic one."""
    if isinstance(exc, DashboardError):
        return f"{action}失败：{exc}"
    if isinstance(exc, FileNotFoundError):
        return f"{action}失败：找不到文件或文件夹 {Path(str(exc.filename or '')).name}。请检查数据文件夹设置。"
    if isinstance(exc, PermissionError):
        return f"{action}失败：没有读写权限。"
    if isinstance(exc, MemoryError):
        return f"{action}失败：内存不足，请缩小筛选范围后重试。"
    return f"{action}失败：程序出现意外错误（{type(exc).__name__}），请联系管理员并说明操作步骤。"


@contextlib.contextmanager
def guard(action: str, target: Any = None) -> Iterator[None]:
    """Run a block; on any error show a Chinese message (never a traceback) instead of raising.

    `target` is an HTML widget whose value receives the message; without it the message is displayed.
    """
    try:
        yield
    except Exception as exc:  # the viewer gets a message, the log gets the details
        log.debug("dashboard action failed: %s", action, exc_info=True)
        show_error(friendly_message(action, exc), target)


def show_error(message: str, target: Any = None) -> None:
    """Show a Chinese error: in a Progress (`fail`), an HTML widget (`value`) or as cell output."""
    if target is not None and hasattr(target, "fail"):
        target.fail(message)
    elif target is not None:
        target.value = error_html(message)
    else:
        from IPython.display import HTML, display

        display(HTML(error_html(message)))


def guarded(action: str, status: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator for widget callbacks: errors become a Chinese message in the `status` HTML widget."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        def inner(*args: Any, **kwargs: Any) -> Any:
            with guard(action, status):
                status.value = ""
                return fn(*args, **kwargs)
            return None

        inner.__name__ = getattr(fn, "__name__", "callback")
        inner.__doc__ = fn.__doc__
        return inner

    return wrap


# ---------------------------------------------------------------- progress


class Progress:
    """A progress bar with a Chinese label for long loads (正在读取…)."""

    def __init__(self, steps: int, title: str = "正在加载数据"):
        import ipywidgets as w

        self.bar = w.IntProgress(value=0, min=0, max=max(steps, 1), bar_style="info")
        self.label = w.HTML(info_html(title))
        self.widget = w.HBox([self.bar, self.label], layout=w.Layout(align_items="center"))

    def step(self, text: str) -> None:
        self.bar.value = min(self.bar.value + 1, self.bar.max)
        self.label.value = info_html(text)

    def done(self, text: str = "加载完成") -> None:
        self.bar.value = self.bar.max
        self.bar.bar_style = "success"
        self.label.value = info_html(text)

    def fail(self, message: str) -> None:
        self.bar.bar_style = "danger"
        self.label.value = error_html(message)


def load_workspace(folder: str | os.PathLike[str], as_of: Any = None, progress: Progress | None = None):
    """`workbench.load_folder` with a Chinese error for a missing or empty folder."""
    from . import workspace

    path = Path(folder)
    if not path.is_dir():
        raise DashboardError(f"数据文件夹不存在：{path.name or path}")
    if progress is not None:
        progress.step(f"正在读取 {path.name} 中的导出文件…")
    as_of_date = pd.Timestamp(as_of).date() if as_of else None
    ws = workspace.load_folder(path, as_of=as_of_date, progress=False)
    if progress is not None:
        progress.step("读取完成")
    return ws


def is_synthetic(folder: str | os.PathLike[str]) -> bool:
    """A generated (sample) county: the bundled data/samples or any folder with the generator's answer_key.csv."""
    path = Path(folder).resolve()
    samples = Path(__file__).resolve().parents[2] / "data" / "samples"
    return path == samples.resolve() or (path / "answer_key.csv").exists()


def ledger_url(folder: str | os.PathLike[str]) -> str | None:
    """Where the follow-up dashboard keeps its ledger: $WORKBENCH_LEDGER; for a sample county a database in the
    user's cache (never inside the data folder); else None (the settings' followup.database)."""
    if os.environ.get("WORKBENCH_LEDGER"):
        return os.environ["WORKBENCH_LEDGER"]
    if not is_synthetic(folder):
        return None
    import hashlib

    cache = Path(os.environ.get("WORKBENCH_CACHE") or Path.home() / ".cache" / "workbench")
    key = hashlib.sha1(str(Path(folder).resolve()).encode("utf-8")).hexdigest()[:12]
    return str(cache / "dashboards" / f"followup-{key}.sqlite")


def followup_ledger(ws: Any, folder: str | os.PathLike[str]):
    """The follow-up ledger for a loaded folder; a sample county's empty ledger is seeded from its suspect lists."""
    from .followup import Ledger

    url = ledger_url(folder)
    ledger = Ledger(url)
    suspects = ws.tables.get("suspects") if hasattr(ws, "tables") else None
    if url is not None and is_synthetic(folder) and suspects is not None and len(suspects) and \
            not len(ledger.lists()):
        if "list_id" in suspects.columns and suspects["list_id"].notna().any():
            issued = suspects.groupby("list_id")["issued_date"].min() if "issued_date" in suspects.columns \
                else suspects.groupby("list_id").size()
            for list_id in issued.sort_values(kind="stable").index:  # earlier lists are earlier rounds
                part = suspects[suspects["list_id"] == list_id]
                ledger.import_list(part, actor="样例数据", list_id=str(list_id))
        else:
            ledger.import_list(suspects, actor="样例数据")
    return ledger


# ---------------------------------------------------------------- masking and tables


def masked(frame: pd.DataFrame, unmask: bool = False) -> pd.DataFrame:
    """The frame with IDs and names masked (610928********123X, 张*) by `workbench.mask`, unless unmasking is
    asked for and the settings allow it. Also masks the person keys and names the analyses add."""
    from . import mask

    if unmask and mask.unmask_allowed():
        return frame
    cols = set(frame.columns)
    ids = [c for c in (*mask.ID_COLUMNS, *EXTRA_ID_COLUMNS) if c in cols]
    names = [c for c in (*mask.NAME_COLUMNS, *EXTRA_NAME_COLUMNS) if c in cols]
    return mask.mask_frame(frame, id_columns=ids, name_columns=names)


def labelled(frame: pd.DataFrame, labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Columns renamed to their Chinese labels."""
    names = {**COLUMN_LABELS, **(labels or {})}
    return frame.rename(columns={c: names.get(c, c) for c in frame.columns})


def table_html(frame: pd.DataFrame, highlight: pd.Series | None = None) -> str:
    """An HTML table of a (small) frame; rows where `highlight` is true get the `wb-alert` class (red)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    flags = highlight.tolist() if highlight is not None else [False] * len(frame)
    for values, flag in zip(frame.itertuples(index=False, name=None), flags, strict=True):
        cells = "".join(f"<td>{'' if pd.isna(v) else html.escape(str(v))}</td>" for v in values)
        cls = ' class="wb-alert" style="background:#fbe3e4;color:#a94442"' if flag is True else ""
        rows.append(f"<tr{cls}>{cells}</tr>")
    return (
        '<table class="wb-table" style="border-collapse:collapse;font-size:13px">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        "<style>.wb-table th,.wb-table td{border:1px solid #ddd;padding:2px 6px;line-height:1.4;text-align:left}"
        ".wb-table th{background:#f5f5f5}</style>"
    )


class PagedTable:
    """A server-side paged HTML table (50 rows a page): only the visible page is sent to the browser."""

    def __init__(self, page_size: int = PAGE_SIZE, labels: Mapping[str, str] | None = None,
                 highlight_column: str | None = None, unmask: bool = False):
        import ipywidgets as w

        self.page_size = page_size
        self.labels = dict(labels or {})
        self.highlight_column = highlight_column
        self.unmask = unmask
        self.frame = pd.DataFrame()
        self.page = 0
        self.summary = w.HTML()
        self.html = w.HTML()
        self.prev_button = w.Button(description="上一页", icon="chevron-left", layout=w.Layout(width="90px"))
        self.next_button = w.Button(description="下一页", icon="chevron-right", layout=w.Layout(width="90px"))
        self.status = w.HTML()
        self.prev_button.on_click(guarded("翻页", self.status)(lambda _: self.show(self.page - 1)))
        self.next_button.on_click(guarded("翻页", self.status)(lambda _: self.show(self.page + 1)))
        self.widget = w.VBox([w.HBox([self.prev_button, self.next_button, self.summary]), self.status, self.html])
        self.widget.add_class("wb-paged-table")

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.frame) // self.page_size))

    def set_frame(self, frame: pd.DataFrame) -> None:
        self.frame = frame.reset_index(drop=True)
        self.show(0)

    def show(self, page: int) -> None:
        self.page = min(max(page, 0), self.pages - 1)
        start = self.page * self.page_size
        part = self.frame.iloc[start:start + self.page_size]
        flags = None
        if self.highlight_column and self.highlight_column in part.columns:
            flags = part[self.highlight_column].astype("string").isin(["True", "true", "是"])
        shown = labelled(masked(part, self.unmask), self.labels)
        self.html.value = table_html(shown, flags) if len(part) else info_html("没有符合条件的记录")
        self.summary.value = (
            f'<span class="wb-count">共 <b>{len(self.frame)}</b> 条</span>，第 {self.page + 1} / {self.pages} 页'
        )
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= self.pages - 1


# ---------------------------------------------------------------- downloads


def xlsx_bytes(sheets: Mapping[str, pd.DataFrame]) -> bytes:
    """The workbook of the given sheets, written by the one Excel writer (`workbench.reports`)."""
    from . import reports

    return reports.write_workbook(None, dict(sheets))


def download_link_html(sheets: Mapping[str, pd.DataFrame], filename: str, text: str = "点击下载") -> str:
    """An <a download> link carrying the workbook as a data: URI (built on click, never at render time)."""
    return bytes_link_html(xlsx_bytes(sheets), filename, text)


def bytes_link_html(content: bytes, filename: str, text: str = "点击下载", mime: str = XLSX_MIME) -> str:
    """An <a download> link carrying `content` as a data: URI."""
    payload = base64.b64encode(content).decode("ascii")
    name = html.escape(filename, quote=True)
    return (
        f'<a class="wb-download" download="{name}" href="data:{mime};base64,{payload}" '
        f'style="font-weight:bold">⬇ {html.escape(text)}：{html.escape(filename)}</a>'
    )


class DownloadButton:
    """A button that builds the workbook on click and then offers the download link."""

    def __init__(self, make_sheets: Callable[[], Mapping[str, pd.DataFrame]], filename: str | Callable[[], str],
                 description: str = "生成 Excel"):
        import ipywidgets as w

        self.make_sheets = make_sheets
        self.filename = filename
        self.button = w.Button(description=description, icon="file-excel-o", button_style="primary")
        self.link = w.HTML()
        self.button.on_click(guarded("生成 Excel 文件", self.link)(self._build))
        self.widget = w.HBox([self.button, self.link], layout=w.Layout(align_items="center"))

    def _build(self, _: Any = None) -> None:
        self.link.value = info_html("正在生成…")
        name = self.filename() if callable(self.filename) else self.filename
        self.link.value = download_link_html(self.make_sheets(), name)

    def reset(self) -> None:
        self.link.value = ""


# ---------------------------------------------------------------- filters and charts


def options(values: Iterator[Any] | Sequence[Any] | pd.Series, with_all: bool = True) -> list[Any]:
    """Sorted distinct non-empty values for a dropdown, `全部` first."""
    vals = sorted({v for v in pd.Series(list(values)).dropna().tolist() if v != ""}, key=str)
    return ([ALL] if with_all else []) + vals


def grade_options(frame: pd.DataFrame) -> list[tuple[str, Any]]:
    """Dropdown options (label, (stage, grade)) for the stage/grade pairs present, in school order, 全部 first."""
    order = {s: i for i, s in enumerate(["学前", "小学", "初中", "高中", "中职", "高职", "大专及以上"])}
    pairs = frame[["stage", "grade"]].dropna().drop_duplicates()
    pairs = sorted(((str(s), int(g)) for s, g in pairs.itertuples(index=False)),
                   key=lambda p: (order.get(p[0], 99), p[1]))
    return [(ALL, ALL)] + [(f"{s}{g}年级", (s, g)) for s, g in pairs]


class GroupFilter:
    """Filter for the five special groups (multi-select with 任一 / 同时属于), town, school and grade.

    `students` has town, school, stage, grade columns; the school list follows the chosen town.
    """

    def __init__(self, groups: Sequence[str], students: pd.DataFrame):
        import ipywidgets as w

        self.students = students
        self.group_boxes = {g: w.Checkbox(value=False, description=g, indent=False,
                                          layout=w.Layout(width="70px")) for g in groups}
        self.mode = w.ToggleButtons(options=[("任一群体", "any"), ("同时属于", "all")], value="any",
                                    style={"button_width": "80px"})
        self.town = w.Dropdown(options=options(students["town"]), value=ALL, description="乡镇")
        self.school = w.Dropdown(options=options(students["school"]), value=ALL, description="学校",
                                 layout=w.Layout(width="360px"))
        self.grade = w.Dropdown(options=grade_options(students), value=ALL, description="年级")
        self._callbacks: list[Callable[[Any], None]] = []
        self._holding = False
        self.town.observe(self._town_changed, names="value")
        for widget in (*self.group_boxes.values(), self.mode, self.town, self.school, self.grade):
            widget.observe(self._notify, names="value")
        self.widget = w.VBox([
            w.HBox([w.HTML("<b>特殊群体：</b>"), *self.group_boxes.values(), self.mode],
                   layout=w.Layout(align_items="center")),
            w.HBox([self.town, self.school, self.grade]),
        ])
        self.widget.add_class("wb-group-filter")

    def _town_changed(self, change: Any) -> None:
        town = change["new"]
        rows = self.students if town == ALL else self.students[self.students["town"] == town]
        current = self.school.value
        opts = options(rows["school"])
        self._holding = True  # one update for the town change, not one per school-list change
        try:
            self.school.options = opts
            self.school.value = current if current in opts else ALL
        finally:
            self._holding = False

    def _notify(self, change: Any) -> None:
        if not self._holding:
            for callback in self._callbacks:
                callback(change)

    @property
    def selected_groups(self) -> list[str]:
        return [g for g, box in self.group_boxes.items() if box.value]

    def value(self) -> dict[str, Any]:
        stage, grade = (None, None) if self.grade.value == ALL else self.grade.value
        return {"groups": self.selected_groups, "mode": self.mode.value,
                "town": None if self.town.value == ALL else self.town.value,
                "school": None if self.school.value == ALL else self.school.value,
                "stage": stage, "grade": grade}

    def observe(self, callback: Callable[[Any], None]) -> None:
        """Call `callback` once per filter change."""
        self._callbacks.append(callback)


def figure_png(fig: Any) -> bytes:
    """PNG bytes of a matplotlib figure, for an `ipywidgets.Image` (one draw: fixed margins, no tight bbox)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _figure(width: float, height: float) -> tuple[Any, Any]:
    # A Figure without pyplot's state machine: cheaper, and safe in widget callbacks.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=96)
    return fig, fig.add_subplot()


def _label_width(labels: Sequence[str]) -> int:
    """Display width of the longest label (a CJK character counts as two)."""
    return max((sum(2 if ord(ch) > 0x2E80 else 1 for ch in str(x)) for x in labels), default=1)


def chart_widget() -> Any:
    import ipywidgets as w

    img = w.Image(format="png", layout=w.Layout(max_width="760px", height="auto", object_fit="contain"))
    img.add_class("wb-chart")
    return img


def bar_chart(series: pd.Series, title: str, xlabel: str = "", ylabel: str = "人数", horizontal: bool = False,
              color: str = "#3b7dd8") -> bytes:
    """A simple labelled bar chart of a Series (index = categories) as PNG bytes."""
    labels = [str(i) for i in series.index]
    n = max(len(series), 1)
    width = 7.5
    height = max(2.6, 0.28 * n + 1.1) if horizontal else 3.4
    fig, ax = _figure(width, height)
    rotate = not horizontal and n > 6
    if horizontal:
        left = min(0.45, 0.04 + 0.075 * _label_width(labels) / width)
        fig.subplots_adjust(left=left, right=0.96, top=1 - 0.45 / height, bottom=0.65 / height)
    else:
        bottom = (0.35 + 0.055 * _label_width(labels)) if rotate else 0.6
        fig.subplots_adjust(left=0.1, right=0.97, top=1 - 0.4 / height, bottom=min(0.5, bottom / height))
    if len(series) == 0:
        ax.text(0.5, 0.5, "没有数据", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    elif horizontal:
        ax.barh(labels[::-1], series.to_numpy()[::-1], color=color)
        ax.set_xlabel(ylabel)
    else:
        ax.bar(labels, series.to_numpy(), color=color)
        ax.set_ylabel(ylabel)
        ax.set_xlabel(xlabel)
        if rotate:
            for tick in ax.get_xticklabels():
                tick.set_rotation(35)
                tick.set_ha("right")
    if len(series) and pd.api.types.is_integer_dtype(series.dtype):
        from matplotlib.ticker import MaxNLocator

        (ax.xaxis if horizontal else ax.yaxis).set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    return figure_png(fig)


def stacked_bar_chart(frame: pd.DataFrame, title: str, ylabel: str = "数量") -> bytes:
    """Stacked bars: one bar per index value, one colour per column."""
    labels = [str(i) for i in frame.index]
    height = 3.6
    fig, ax = _figure(7.5, height)
    rotate = len(labels) > 6
    bottom_margin = (0.35 + 0.055 * _label_width(labels)) if rotate else 0.6
    fig.subplots_adjust(left=0.1, right=0.97, top=1 - 0.4 / height, bottom=min(0.5, bottom_margin / height))
    if frame.empty:
        ax.text(0.5, 0.5, "没有数据", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    else:
        bottom = None
        for col in frame.columns:
            vals = frame[col].to_numpy()
            ax.bar(labels, vals, bottom=bottom, label=str(col))
            bottom = vals if bottom is None else bottom + vals
        ax.legend(fontsize=8)
        ax.set_ylabel(ylabel)
        if rotate:
            for tick in ax.get_xticklabels():
                tick.set_rotation(35)
                tick.set_ha("right")
    ax.set_title(title)
    return figure_png(fig)


def figures_html(figures: Mapping[str, Any]) -> str:
    """Headline figures as cards: {label: value}."""
    cards = "".join(
        '<div class="wb-card" style="display:inline-block;min-width:130px;margin:4px;padding:8px 12px;'
        'border:1px solid #ddd;border-radius:6px;background:#fafafa">'
        f'<div style="font-size:12px;color:#666">{html.escape(str(k))}</div>'
        f'<div class="wb-figure" style="font-size:22px;font-weight:bold">{html.escape(str(v))}</div></div>'
        for k, v in figures.items()
    )
    return f'<div class="wb-cards">{cards}</div>'


def formatted(frame: pd.DataFrame) -> pd.DataFrame:
    """Display copy: rate columns (fractions) as percentages, dates without time."""
    out = frame.copy()
    for col in out.columns:
        if str(col).endswith("rate"):
            vals = pd.to_numeric(out[col], errors="coerce").astype("Float64")
            out[col] = (vals * 100).round(1).astype("string").str.cat(pd.Series("%", index=out.index))
        elif pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d").astype("string")
    return out


def percent(part: float, whole: float) -> str:
    return "—" if not whole else f"{100.0 * part / whole:.1f}%"
