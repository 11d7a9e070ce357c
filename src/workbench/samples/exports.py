"""Writing the sample county as analysts receive it: the official headers of domain.md, several files per system,
title rows, a two-level merged header, an .xls, a GBK CSV, a UTF-16 text file, and the real quirks (IDs as float
cells, full-width digits, lowercase x, leading apostrophes, trailing spaces, `1-男` codes, CNEMIS 年级 names,
dates in several formats). Each quirk changes how a value is written, never what it means after loading.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .county import AS_OF
from .xlsx import Sheet, write_xlsx

SHEET = "导出工作表"
FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


# ---------------------------------------------------------------------------------------------------- value styles
def fmt_date(s: pd.Series, style: str) -> pd.Series:
    """Dates as text in one of the styles found in exports ('excel' keeps real dates)."""
    d = pd.to_datetime(s)
    if style == "excel":
        return d
    if style == "ymd":
        out = d.dt.strftime("%Y%m%d")
    elif style == "iso":
        out = d.dt.strftime("%Y-%m-%d")
    elif style == "slash":
        out = d.dt.year.astype("string") + "/" + d.dt.month.astype("string") + "/" + d.dt.day.astype("string")
    elif style == "cn":
        out = (d.dt.year.astype("string") + "年" + d.dt.month.astype("string") + "月" + d.dt.day.astype("string")
               + "日")
    else:
        raise ValueError(style)
    return out.astype(object).where(d.notna(), None)


def quirk_ids(ids: pd.Series, quirk: str | None, rng: np.random.Generator, share: float = 0.15) -> pd.Series:
    """IDs as a careless export writes them: lowercase x, full-width digits, a leading apostrophe, trailing
    spaces, applied to a share of the rows (float cells, set elsewhere, are left alone)."""
    out = ids.astype(object).copy()
    if quirk is None:
        return out
    is_text = np.array([isinstance(v, str) for v in out], dtype=bool)
    hit = is_text & (rng.random(len(out)) < share)
    if quirk == "x":
        hit = is_text & np.array([isinstance(v, str) and v.endswith("X") for v in out], dtype=bool)
    vals = out[hit].astype(str)
    if quirk == "x":
        vals = vals.str.replace("X", "x")
    elif quirk == "fullwidth":
        vals = vals.map(lambda v: v.translate(FULLWIDTH))
    elif quirk == "apostrophe":
        vals = "'" + vals
    elif quirk == "spaces":
        vals = vals + "  "
    out[hit] = vals
    return out


def yes_no(b: pd.Series) -> pd.Series:
    return pd.Series(np.where(b.astype(bool).to_numpy(), "是", "否"), index=b.index)


def coded(values: pd.Series, codes: dict) -> pd.Series:
    """`1-男` style: code + '-' + label."""
    return values.map(lambda v: f"{codes[v]}-{v}" if v in codes else v)


SEX_CODES = {"男": 1, "女": 2}
LEFT_CODES = {"非留守": "0", "单亲留守": "1", "双亲留守": "2"}
LEFT_LABELS = {"非留守": "非留守儿童", "单亲留守": "单亲留守儿童", "双亲留守": "双亲留守儿童"}
BOARD_CODES = {"走读": 1, "住校": 2}
DISABILITY_CODES = {"无残疾": 0, "视力残疾": 1, "听力残疾": 2, "言语残疾": 3, "肢体残疾": 4, "智力残疾": 5,
                    "精神残疾": 6, "多重残疾": 7, "其他残疾": 8}


# ------------------------------------------------------------------------------------------------------- registry
def school_label_towns(reg: pd.DataFrame) -> list[str]:
    """Towns whose 学籍 export names grades the school way (四年级) instead of CNEMIS (小学2016级)."""
    towns = list(dict.fromkeys(reg.loc[reg["term"] == "2019秋", "town"]))
    return [t for i, t in enumerate(towns) if i % 6 == 4 and t != "城关镇"]


def apply_label_styles(reg: pd.DataFrame) -> pd.DataFrame:
    """The registry's raw 年级 as each export writes it (canonical `grade_label` is the label as written)."""
    from .county import grade_label_school
    m = reg["town"].isin(school_label_towns(reg)).to_numpy() & (reg["term"] == "2019秋").to_numpy()
    reg = reg.copy()
    reg.loc[m, "grade_label"] = grade_label_school(reg.loc[m, "stage"].to_numpy(), reg.loc[m, "grade"].to_numpy())
    return reg


def registry_sheet(df: pd.DataFrame, rng: np.random.Generator, *, date_style: str, id_quirk: str | None,
                   codes: bool, ym_dash: bool) -> list[tuple[str, pd.Series]]:
    """The columns of a CNEMIS 学生学籍信息 export for the rows of `df` (canonical registry + `_id_cell`)."""
    ids = df["id_number"].astype(object).where(df["_id_cell"].isna(), df["_id_cell"])
    ids = quirk_ids(ids.reset_index(drop=True), id_quirk, rng)
    sex = df["sex"]
    left = df["left_behind"].map(LEFT_LABELS)
    boarding = df["boarding"]
    disability = df["disability"]
    if codes:
        sex = coded(sex, SEX_CODES)
        left = df["left_behind"].map(lambda v: f"{LEFT_CODES[v]}-{LEFT_LABELS[v]}")
        boarding = coded(boarding, BOARD_CODES)
        disability = coded(disability, DISABILITY_CODES)
    grade = df["grade_label"]
    ym = df["entry_ym"].str.replace("-", "", regex=False) if not ym_dash else df["entry_ym"]
    n = len(df)
    cols = [
        ("学校标识码", df["school_code"]), ("学校名称", df["school_name"]), ("姓名", df["name"]), ("性别", sex),
        ("出生日期", fmt_date(df["birth_date"], date_style)), ("出生地", pd.Series(["陕西省旬阳县"] * n, index=df.index)),
        ("民族", df["ethnicity"]), ("国籍/地区", pd.Series(["中国"] * n, index=df.index)),
        ("身份证件类型", df["id_type"] if not codes else pd.Series(["1-居民身份证"] * n, index=df.index)),
        ("身份证件号", ids), ("健康状况", pd.Series(["健康或良好"] * n, index=df.index)),
        ("户口所在地", df["household_address"]), ("学籍号", df["student_no"]), ("年级", grade),
        ("班级", df["class_name"]), ("入学年月", ym), ("入学方式", pd.Series(["就近入学"] * n, index=df.index)),
        ("就读方式", boarding), ("联系电话", df["phone"]), ("是否留守儿童", left),
        ("是否进城务工人员随迁子女", yes_no(df["migrant"])), ("是否孤儿", yes_no(df["orphan"])),
        ("随班就读", df["inclusive"]), ("残疾人类型", disability), ("学籍状态", df["status"]),
    ]
    return [(h, pd.Series(v).reset_index(drop=True)) for h, v in cols]


GROUPED = [("基本信息", ["学校标识码", "学校名称", "姓名", "性别", "出生日期", "出生地", "民族", "国籍/地区", "身份证件类型",
                     "身份证件号", "健康状况", "户口所在地"]),
           ("学籍信息", ["学籍号", "年级", "班级", "入学年月", "入学方式", "就读方式", "学籍状态", "随班就读", "残疾人类型"]),
           ("家庭信息", ["联系电话", "是否留守儿童", "是否进城务工人员随迁子女", "是否孤儿"])]


def write_xls(path: Path, title: str, columns: list[tuple[str, pd.Series]]) -> Path:
    """A small legacy .xls (xlwt) with one title row; IDs as text."""
    import xlwt
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet(SHEET)
    ws.write_merge(0, 0, 0, len(columns) - 1, title)
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for j, (h, v) in enumerate(columns):
        ws.write(1, j, h)
        for i, x in enumerate(v.tolist()):
            if x is None or x is pd.NA or x is pd.NaT or (isinstance(x, float) and np.isnan(x)):
                continue
            if isinstance(x, pd.Timestamp):
                ws.write(i + 2, j, x.to_pydatetime(), date_style)
            else:
                ws.write(i + 2, j, x if isinstance(x, (int, float)) and not isinstance(x, bool) else str(x))
    wb.save(str(path))
    return path


def write_registry(out: Path, reg: pd.DataFrame, prev: pd.DataFrame, rng: np.random.Generator) -> list[Path]:
    files = []
    styles = ["ymd", "iso", "excel", "slash", "cn"]
    quirks = [None, "x", "fullwidth", "apostrophe", "spaces"]
    folder = out / "学籍" / "2019年秋季学期"
    towns = list(dict.fromkeys(reg["town"]))
    sizes = reg.groupby("town").size()
    xls_town = sizes[sizes.index != "城关镇"].idxmin() if len(sizes) > 1 else None
    for i, town in enumerate(towns):
        part = reg[reg["town"] == town].sort_values(["school_code", "grade_label", "class_name"], kind="stable")
        kw = {"date_style": styles[i % 5], "id_quirk": quirks[i % 5], "codes": i % 7 == 3, "ym_dash": i % 8 == 5}
        cols = registry_sheet(part, rng, **kw)
        if town == "城关镇":
            order = [h for _, hs in GROUPED for h in hs]
            m = dict(cols)
            sheet = Sheet(SHEET, [(h, m[h]) for h in order], titles=["旬阳县县直及城关镇学校2019年秋季学期学生学籍信息"],
                          group_header=[(g, len(hs)) for g, hs in GROUPED])
            files.append(write_xlsx(folder / "旬阳县城关镇及县直学校学生学籍信息（2019年秋季学期）.xlsx", [sheet]))
        elif town == xls_town and len(part) < 20000:
            files.append(write_xls(folder / f"旬阳县{town}学生学籍信息.xls", f"旬阳县{town}2019年秋季学期学生学籍信息", cols))
        else:
            titles = [f"旬阳县{town}2019年秋季学期学生学籍信息"]
            if i % 3 == 1:
                titles.append(f"导出时间：{AS_OF:%Y-%m-%d}    导出单位：旬阳县教育体育和科技局")
            if i % 3 == 2:
                titles = [f"旬阳县{town}2019年秋季学期学生学籍信息", ["学段：全部", "", "学籍状态：在读"], ""]
            files.append(write_xlsx(folder / f"{town}学生学籍信息_2019秋.xlsx", [Sheet(SHEET, cols, titles=titles)]))
    prev_part = prev.assign(_id_cell=None).sort_values(["town", "school_code", "grade_label"], kind="stable")
    cols = registry_sheet(prev_part, rng, date_style="ymd", id_quirk=None, codes=False, ym_dash=False)
    files.append(write_xlsx(out / "学籍" / "2019年春季学期" / "旬阳县2019年春季学期学生学籍信息.xlsx",
                            [Sheet(SHEET, cols, titles=["旬阳县2019年春季学期学生学籍信息（期末）"])]))
    return files


# ------------------------------------------------------------------------------------------------------------ aid
def aid_columns(a: pd.DataFrame) -> list[tuple[str, pd.Series]]:
    n = len(a)
    return [("学校名称", a["school_name"]), ("学段", a["stage"]), ("年级", a["grade_label"]), ("班级", a["class_name"]),
            ("姓名", a["name"]), ("身份证件号", a["id_number"]), ("学籍号", a["student_no"]), ("资助项目", a["item_raw"]),
            ("资助金额", a["amount"]), ("学年", pd.Series(["2019-2020"] * n, index=a.index)),
            ("学期", pd.Series(["秋季"] * n, index=a.index)), ("家庭经济困难等级", a["difficulty_level"]),
            ("困难类型", a["difficulty_type"]), ("发放方式", a["payment_method"])]


def write_aid(out: Path, aid: pd.DataFrame) -> list[Path]:
    folder = out / "资助"
    folder.mkdir(parents=True, exist_ok=True)
    comp = aid[aid["stage"].isin(["小学", "初中"])].sort_values(["school_name", "grade_label"], kind="stable")
    rest = aid[~aid["stage"].isin(["小学", "初中"])].sort_values(["school_name", "grade_label"], kind="stable")
    cols = aid_columns(comp)
    frame = pd.DataFrame({h: v.to_numpy() for h, v in cols})
    frame["资助金额"] = frame["资助金额"].map(lambda x: f"{x:g}")
    p1 = folder / "旬阳县2019年秋季学期义务教育阶段资助发放名单.csv"
    frame.to_csv(p1, index=False, encoding="gbk")
    cols = [(h, v.reset_index(drop=True)) for h, v in aid_columns(rest)]
    p2 = write_xlsx(folder / "旬阳县2019年秋季学期普通高中及中职资助发放名单.xlsx",
                    [Sheet("资助名单", cols, titles=["旬阳县2019-2020学年秋季学期普通高中、中职学生资助发放名单"])])
    return [p1, p2]


# --------------------------------------------------------------------------------------------------------- roster
ROSTER_HEADERS = [("市", "city"), ("县", "county"), ("乡(镇)", "town"), ("行政村", "village"), ("自然村", "hamlet"),
                  ("户编号", "household_no"), ("人编号", "person_no"), ("姓名", "name"), ("证件号码", "id_number"),
                  ("证件类型", "id_type"), ("人数", "household_size"), ("与户主关系", "relation"), ("性别", "sex"),
                  ("民族", "ethnicity"), ("出生日期", "birth_date"), ("文化程度", "education"),
                  ("在校生状况", "school_status_raw"), ("健康状况", "health"), ("贫困户属性", "household_type"),
                  ("脱贫属性", "exit_status"), ("脱贫年度", "exit_year"), ("失学或辍学原因", "dropout_reason_raw"),
                  ("联系电话", "phone")]


def write_roster(out: Path, ro: pd.DataFrame, town_order: list[str], rng: np.random.Generator) -> list[Path]:
    folder = out / "建档立卡"
    half = set(town_order[: len(town_order) // 2])
    files = []
    for k, (part, suffix) in enumerate([(ro[ro["town"].isin(half)], "一"), (ro[~ro["town"].isin(half)], "二")]):
        cols = []
        for h, c in ROSTER_HEADERS:
            v = part[c]
            if c == "birth_date":
                v = fmt_date(v, "excel" if k == 0 else "iso")
            elif c == "household_size":
                v = v.astype(float)
            elif c == "id_number":
                v = quirk_ids(v.reset_index(drop=True), "spaces" if k == 0 else "x", rng)
            cols.append((h, v.reset_index(drop=True)))
        if k == 1:   # another column order in the second file
            order = [7, 8, 12, 14, 11, 0, 1, 2, 3, 4, 5, 6, 9, 10, 13, 15, 16, 17, 18, 19, 20, 21, 22]
            cols = [cols[i] for i in order]
        files.append(write_xlsx(folder / f"建档立卡贫困人口信息（{suffix}）.xlsx",
                                [Sheet("Sheet1", cols, titles=["全国扶贫开发信息系统 贫困人口信息（截至2019年11月）"])]))
    return files


# --------------------------------------------------------------------------------------------------------- ledger
def write_ledger(out: Path, led: pd.DataFrame) -> list[Path]:
    cols = [("乡镇", led["town"]), ("村", led["village"]), ("组", led["hamlet"]), ("姓名", led["name"]),
            ("性别", led["sex"]), ("出生日期", fmt_date(led["birth_date"], "cn")), ("身份证号", led["id_number"]),
            ("未在校原因", led["reason"]), ("就读学校", led["school_elsewhere"]), ("劝返情况", led["dropout_status"]),
            ("佐证材料", led["evidence"]), ("责任人", led["responsible"]), ("联系电话", led["phone"]),
            ("备注", led["note"])]
    cols = [(h, pd.Series(v).reset_index(drop=True)) for h, v in cols]
    return [write_xlsx(out / "控辍保学" / "旬阳县义务教育阶段适龄儿童少年未在校情况台账.xlsx",
                       [Sheet("台账", cols, titles=["旬阳县控辍保学工作台账（2019年秋季学期）",
                                                   [f"填报日期：{AS_OF:%Y年%m月%d日}"]])])]


# ------------------------------------------------------------------------------------------------------ mentoring
def write_mentoring(out: Path, pairs: pd.DataFrame, acts: pd.DataFrame, town_order: list[str]) -> list[Path]:
    folder = out / "结对帮扶"
    p = pairs.sort_values(["town", "school_name", "teacher_name"], kind="stable")
    # 教师所在学校 left blank where it is the pupil's school, in the first half of the towns (NA -> school_name)
    blank = p["town"].isin(town_order[1: len(town_order) // 2]) & (p["teacher_school"] == p["school_name"])
    tsch = p["teacher_school"].where(~blank, None)
    cols = [("学校", p["school_name"]), ("教师姓名", p["teacher_name"]), ("教师所在学校", tsch),
            ("学生姓名", p["student_name"]), ("学生身份证件号", p["id_number"]), ("帮扶类别", p["group_raw"]),
            ("结对日期", p["start_date"])]
    cols = [(h, pd.Series(v).reset_index(drop=True)) for h, v in cols]
    files = [write_xlsx(folder / "师生结对帮扶名单.xlsx", [Sheet("结对名单", cols,
                                                            titles=["旬阳县2019年秋季学期师生结对帮扶名单"])])]
    school_town = dict(zip(pairs["school_name"], pairs["town"]))
    a = acts.assign(_town=acts["school_name"].map(school_town).fillna("城关镇"))
    txt_town = town_order[-1]
    renamed_town = town_order[len(town_order) // 2]
    for town in town_order:
        part = a[a["_town"] == town].sort_values(["school_name", "teacher_name", "date"], kind="stable")
        if not len(part):
            continue
        act = part["activity"]
        if town == renamed_town:
            act = act.replace({"帮扶记录": "纪实手册记录", "家访": "入户走访", "心理疏导": "心理辅导"})
        if town == txt_town:
            frame = pd.DataFrame({"学校": part["school_name"].to_numpy(), "教师姓名": part["teacher_name"].to_numpy(),
                                  "学生姓名": part["student_name"].to_numpy(),
                                  "学生身份证件号": part["id_number"].to_numpy(), "活动类型": act.to_numpy(),
                                  "活动日期": fmt_date(part["date"], "slash").to_numpy(),
                                  "活动内容": part["content"].to_numpy()})
            path = folder / f"帮扶活动记录_{town}.txt"
            frame.to_csv(path, sep="\t", index=False, encoding="utf-16")
            files.append(path)
            continue
        cols = [("学校", part["school_name"]), ("教师姓名", part["teacher_name"]), ("学生姓名", part["student_name"]),
                ("学生身份证件号", part["id_number"]), ("活动类型", act), ("活动日期", part["date"]),
                ("活动内容", part["content"])]
        cols = [(h, pd.Series(v).reset_index(drop=True)) for h, v in cols]
        files.append(write_xlsx(folder / f"帮扶活动记录_{town}.xlsx",
                                [Sheet("活动记录", cols, titles=[f"{town}师生结对帮扶活动记录（纪实手册）"])]))
    return files


def write_struggling(out: Path, s: pd.DataFrame) -> list[Path]:
    files = []
    for school, part in s.groupby("school_name", sort=True):
        cols = [("学校", part["school_name"]), ("年级", part["grade_label"]), ("班级", part["class_name"]),
                ("姓名", part["name"]), ("身份证号", part["id_number"]), ("学困科目", part["subjects"]),
                ("学困原因", part["reason"])]
        cols = [(h, pd.Series(v).reset_index(drop=True)) for h, v in cols]
        files.append(write_xlsx(out / "学困生" / f"{school}学困生名单.xlsx",
                                [Sheet("Sheet1", cols, titles=[f"{school}2019年秋季学期学困生名单"])]))
    return files


def write_suspects(out: Path, sus: pd.DataFrame) -> list[Path]:
    cols = [("序号", sus["seq"]), ("市", sus["city"]), ("县", sus["county"]), ("乡镇", sus["town"]),
            ("村", sus["village"]), ("学校", sus["school_name"]), ("姓名", sus["name"]), ("身份证号", sus["id_number"]),
            ("问题类型", sus["category"]), ("问题描述", sus["description"]), ("下发日期", sus["issued_date"]),
            ("整改时限", sus["deadline"])]
    cols = [(h, pd.Series(v).reset_index(drop=True)) for h, v in cols]
    note = ("说明：以下为省级平台比对发现的疑似问题数据，请各县（区）逐条核查，于整改时限前反馈核查结果、整改情况及佐证材料。")
    return [write_xlsx(out / "疑似问题" / "陕西省教育扶贫疑似问题数据（第一批）.xlsx",
                       [Sheet("疑似问题", cols, titles=["陕西省教育脱贫攻坚疑似问题数据（第一批）", note])])]
