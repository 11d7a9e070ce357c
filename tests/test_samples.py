"""The sample county generator: a clean baseline without accidental defects, an exact answer key, determinism,
and exports with the quirks analysts meet. The reference rules below are a deliberately simple, independent
re-statement of rules/findings.yaml on the canonical tables (links by ID only, plus the key's true IDs)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from workbench import ids
from workbench.rules import finding_kinds, rule_path, settings
from workbench.samples import build_county, generate
from workbench.samples.county import AS_OF, COHORT, TERM, WRITTEN_ITEMS, build_clean, make_ctx, school_days
from workbench.samples.defects import KEY_COLUMNS

GROUPS_NONE = {"无残疾", "非随班就读", "非留守"}


@pytest.fixture(scope="module")
def clean():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pd.option_context("future.infer_string", False):
            ctx = make_ctx(3000, 7)
            return build_clean(ctx)


@pytest.fixture(scope="module")
def county():
    return build_county(3000, 1)


def policy() -> pd.DataFrame:
    pol = pd.read_csv(rule_path(settings()["aid_policy"]), dtype=str, keep_default_na=False)
    pol = pol[pol["item"].isin(WRITTEN_ITEMS)].copy()
    pol["stage"] = pol["stage"].str.split(";")
    pol = pol.explode("stage")
    for c in ("grade_min", "grade_max"):
        pol[c] = pol[c].astype(int)
    pol["semester_amount"] = pol["semester_amount"].astype(float)
    return pol


# ------------------------------------------------------------------------------------------------ reference rules
def reference_findings(t: dict, link: dict | None = None) -> set[tuple]:
    """(kind, id_number, item, period) implied by the tables under the rules of findings.yaml, linking records
    by ID and by `link` (bad ID -> true ID, what a confident linker finds)."""
    link = link or {}
    out: set[tuple] = set()
    reg_all = pd.concat([t["registry"], t["registry_prev"]], ignore_index=True)
    reg = t["registry"]

    def pid(s: pd.Series) -> pd.Series:
        return s.map(lambda v: link.get(v, v))

    # ID validity in every system (registry of the as-of term)
    for name in ("registry", "aid", "roster", "ledger", "pairs", "activities", "struggling"):
        chk = ids.check(t[name]["id_number"], as_of=AS_OF)
        for i, r in zip(chk["id_number"], chk["reason"]):
            if r == "precision_lost":
                out.add(("id_precision_lost", i, "", ""))
            elif r != "ok":
                out.add(("id_invalid", i, "", ""))
    valid = lambda s: ids.check(s, as_of=AS_OF)["valid"].to_numpy()
    # duplicates per term / roster
    for term, part in reg_all.groupby("term"):
        v = part[valid(part["id_number"])]
        out |= {("duplicate_record", i, "", "") for i in v["id_number"][v["id_number"].duplicated()]}
    ro = t["roster"]
    v = ro[valid(ro["id_number"])]
    out |= {("duplicate_record", i, "", "") for i in v["id_number"][v["id_number"].duplicated()]}
    # names across registry (as-of), roster, aid, ledger
    names = pd.concat([df.loc[valid(df["id_number"]), ["id_number", "name"]]
                       for df in (reg, ro, t["aid"], t["ledger"])])
    n = names.groupby("id_number")["name"].nunique()
    out |= {("name_mismatch", i, "", "") for i in n[n > 1].index}
    # sex and birth date against the ID
    for df in (reg_all, ro, t["ledger"]):
        chk = ids.check(df["id_number"], as_of=AS_OF)
        ok = chk["valid"].to_numpy()
        sex_bad = ok & (chk["sex"].astype(object).fillna("").to_numpy() != df["sex"].to_numpy())
        out |= {("sex_mismatch", i, "", "") for i in df["id_number"][sex_bad]}
        bd = pd.to_datetime(df["birth_date"]).to_numpy("datetime64[D]")
        bad = ok & (pd.to_datetime(chk["birth_date"]).to_numpy("datetime64[D]") != bd)
        out |= {("birthdate_mismatch", i, "", "") for i in df["id_number"][bad]}
    # enrolment (as-of term), linked
    enrolled = reg.assign(pid=pid(reg["id_number"]))
    enrolled = enrolled[enrolled["status"].isin(["在读", "转入"]) | enrolled["status"].isna()]
    enr_ids = set(enrolled["pid"])
    ro = ro.assign(pid=pid(ro["id_number"]))
    led_ids = set(pid(t["ledger"]["id_number"]))
    # stage mismatch
    m = ro.merge(enrolled[["pid", "stage", "grade"]], on="pid", suffixes=("_ro", "_reg"))
    bad = (m["stage_ro"] != m["stage_reg"]) | (m["grade_ro"].notna() & (m["grade_ro"] != m["grade_reg"]))
    out |= {("stage_mismatch", i, "", "") for i in m.loc[bad, "pid"]}
    # not enrolled
    chk = ids.check(ro["id_number"], as_of=AS_OF)
    birth = pd.to_datetime(chk["birth_date"]).where(chk["valid"].to_numpy(), pd.to_datetime(ro["birth_date"]))
    age = (birth >= COHORT[0]).to_numpy() & (birth <= COHORT[1]).to_numpy()
    out |= {("not_enrolled", i, "", "") for i, a in zip(ro["pid"], age) if a and i not in enr_ids
            and i not in led_ids}
    # ledger evidence
    ev = t["ledger"]["evidence"]
    out |= {("exception_unverified", i, "", "") for i in t["ledger"]["id_number"][
        ev.isna().to_numpy() | ev.isin(["无", "暂无", "无佐证", "-"]).to_numpy()]}
    # aid
    pol = policy()
    aid = t["aid"].assign(pid=pid(t["aid"]["id_number"]))
    poor = set(ro["pid"])
    e = enrolled.drop_duplicates("pid").set_index("pid")
    for p in sorted(poor & enr_ids):
        s = e.loc[p]
        rows = pol[(pol["stage"] == s["stage"]) & (pol["grade_min"] <= s["grade"]) & (pol["grade_max"] >= s["grade"])
                   & pol["boarding"].isin(["", s["boarding"]]) & pol["entitled_statuses"].str.contains("建档立卡")]
        got = set(aid.loc[aid["pid"] == p, "item"])
        out |= {("aid_missed", p, it, TERM) for it in set(rows["item"]) - got}
    dup = aid.groupby(["pid", "item"]).size()
    out |= {("aid_duplicate", p, it, TERM) for (p, it), k in dup.items() if k > 1}
    for _, a in aid.iterrows():
        p = a["pid"]
        if p not in enr_ids:
            out.add(("aid_ineligible", p, a["item"], TERM))
            continue
        s = e.loc[p]
        status = "建档立卡" if p in poor else (a["difficulty_type"] if a["difficulty_type"] != "建档立卡" else None)
        level = "特别困难" if p in poor else a["difficulty_level"]
        rows = pol[(pol["item"] == a["item"]) & (pol["stage"] == s["stage"]) & (pol["grade_min"] <= s["grade"])
                   & (pol["grade_max"] >= s["grade"]) & pol["boarding"].isin(["", s["boarding"]])]
        accepted = rows["accepted_statuses"].str.split(";").explode()
        if rows.empty or status is None or not (status in set(accepted) or "全体" in set(accepted)):
            out.add(("aid_ineligible", p, a["item"], TERM))
            continue
        std = rows[rows["level"].isin(["", level])]["semester_amount"]
        if not len(std) or float(std.iloc[0]) != float(a["amount"]):
            out.add(("aid_amount_mismatch", p, a["item"], TERM))
    # missing from this term's registry
    prev = t["registry_prev"].assign(pid=pid(t["registry_prev"]["id_number"]))
    prev = prev[prev["status"].isin(["在读", "转入"]) | prev["status"].isna()]
    final = prev["stage"].isin(["初中", "高中", "中职"]) & (prev["grade"] == 3)
    out |= {("missing_from_registry", p, "", "") for p in prev.loc[~final, "pid"]
            if p not in enr_ids and p not in led_ids}
    # mentoring: groups of enrolled pupils, pairs, weekly records and monthly visits
    stug = set(pid(t["struggling"]["id_number"]))
    aided = set(aid["pid"])
    g = e[(e["disability"] != "无残疾") | (e["inclusive"] != "非随班就读") | (e["left_behind"] != "非留守")
          | e["migrant"].astype(bool) | e.index.isin(list(poor | aided | stug))]
    pairs = t["pairs"].assign(pid=pid(t["pairs"]["id_number"]))
    out |= {("mentor_missing", p, "", "") for p in set(g.index) - set(pairs["pid"])}
    tsch = pairs["teacher_school"].fillna(pairs["school_name"])
    school = pairs["pid"].map(e["school_name"])
    stale = ~pairs["pid"].isin(enr_ids) | (tsch != school)
    out |= {("pair_stale", p, "", "") for p in pairs.loc[stale, "pid"]}
    days = school_days()
    act = t["activities"].assign(pid=pid(t["activities"]["id_number"]))
    act["date"] = pd.to_datetime(act["date"])
    iso = act["date"].dt.isocalendar()
    act["week"] = iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)
    act["month"] = act["date"].dt.strftime("%Y-%m")
    have_w = set(zip(act.loc[act["activity"] == "帮扶记录", "pid"], act.loc[act["activity"] == "帮扶记录", "week"]))
    have_m = set(zip(act.loc[act["activity"] == "家访", "pid"], act.loc[act["activity"] == "家访", "month"]))
    weeks = days[days["week_complete"]].groupby("week")["date"].min()
    months = days[days["month_complete"]].groupby("month")["date"].min()
    start = pairs[pairs["pid"].isin(g.index)].groupby("pid")["start_date"].min()
    for p, s0 in start.items():
        s0 = pd.Timestamp(s0)
        out |= {("weekly_record_gap", p, "", w) for w, d0 in weeks.items() if s0 <= d0 and (p, w) not in have_w}
        out |= {("home_visit_gap", p, "", mo) for mo, d0 in months.items() if s0 <= d0 and (p, mo) not in have_m}
    return out


def key_set(key: pd.DataFrame) -> set[tuple]:
    k = key[["kind", "id_number", "item", "period"]].astype(object).where(key[["kind", "id_number", "item",
                                                                               "period"]].notna(), "")
    return set(map(tuple, k.to_numpy()))


# ------------------------------------------------------------------------------------------------ clean baseline
def test_clean_county_implies_no_finding(clean):
    assert reference_findings(clean["tables"]) == set()


def test_clean_ids_valid_and_one_per_person(clean):
    people = clean["people"]
    assert people["id_number"].is_unique
    chk = ids.check(people["id_number"], as_of=AS_OF)
    assert chk["valid"].all()
    assert (chk["sex"].to_numpy() == people["sex"].to_numpy()).all()
    for name, df in clean["tables"].items():
        assert ids.check(df["id_number"], as_of=AS_OF)["valid"].all(), name
        # the same ID always names the same person (name) in every system
        m = df[["id_number", "name" if "name" in df else "student_name"]].drop_duplicates()
        assert m["id_number"].is_unique, name
    # region 610928 for most pupils; older adults may carry 612429
    reg = clean["tables"]["registry"]
    assert (reg["id_number"].str[:6] == "610928").mean() > 0.9
    assert (clean["tables"]["roster"]["id_number"].str[:6] == "612429").any()


def test_clean_households_and_school_age_children_accounted_for(clean):
    ro = clean["tables"]["roster"]
    assert ro.groupby("household_no")["relation"].apply(lambda r: (r == "本人或户主").sum()).eq(1).all()
    assert (ro.groupby("household_no").size() == ro.groupby("household_no")["household_size"].first()).all()
    reg_ids = set(clean["tables"]["registry"]["id_number"])
    led_ids = set(clean["tables"]["ledger"]["id_number"])
    b = pd.to_datetime(ro["birth_date"])
    school_age = ro[(b >= COHORT[0]) & (b <= COHORT[1])]
    assert len(school_age) > 100
    assert all(i in reg_ids or i in led_ids for i in school_age["id_number"])
    # about a third of the pupils come from registered poor households
    share = clean["tables"]["registry"]["id_number"].isin(set(ro["id_number"])).mean()
    assert 0.28 < share < 0.38
    led = clean["tables"]["ledger"]
    assert led["evidence"].notna().all() and not led["evidence"].isin(["无", "暂无"]).any()
    assert led.loc[led["reason"].isin(["县外就读", "省外就读"]), "school_elsewhere"].notna().all()


def test_clean_ages_follow_the_8_31_rule(clean):
    reg = clean["tables"]["registry"]
    overall = reg["grade"] + reg["stage"].map({"小学": 0, "初中": 6, "高中": 9, "中职": 9})
    b = pd.to_datetime(reg["birth_date"])
    cohort_year = b.dt.year + (b.dt.month >= 9)           # born 2012-09..2013-08 -> 2013 -> 一年级
    lag = (2013 - cohort_year + 1) - overall
    assert lag.isin([0, 1]).all()                        # on time, or one year late (3 %)
    assert (lag == 0).mean() > 0.95


def test_clean_aid_complete_and_exact(clean):
    t = clean["tables"]
    pol = policy()
    reg = t["registry"].set_index("id_number")
    poor = set(t["roster"]["id_number"])
    aid = t["aid"]
    assert not aid.duplicated(["id_number", "item"]).any()
    assert set(aid["item"]) <= set(WRITTEN_ITEMS) and {"compulsory_living", "hs_grant", "vs_poverty_grant"} <= set(
        aid["item"])
    assert (aid["term"] == TERM).all()
    for _, a in aid.iterrows():
        s = reg.loc[a["id_number"]]
        rows = pol[(pol["item"] == a["item"]) & (pol["stage"] == s["stage"]) & (pol["grade_min"] <= s["grade"])
                   & (pol["grade_max"] >= s["grade"]) & pol["boarding"].isin(["", s["boarding"]])
                   & pol["level"].isin(["", a["difficulty_level"]])]
        assert len(rows) == 1, (a["item"], s["stage"])
        assert float(rows["semester_amount"].iloc[0]) == a["amount"]
        if a["id_number"] in poor:
            assert a["difficulty_type"] == "建档立卡" and a["difficulty_level"] == "特别困难"
        else:
            accepted = rows["accepted_statuses"].iloc[0].split(";")
            assert a["difficulty_type"] in accepted or "全体" in accepted
    # non-poor aided pupils exist with several difficulty types
    assert set(aid.loc[~aid["id_number"].isin(poor), "difficulty_type"]) >= {"低保", "其他困难"}


def test_clean_mentoring_logs_complete(clean):
    t = clean["tables"]
    pairs, act = t["pairs"], t["activities"]
    assert (pairs["teacher_school"] == pairs["school_name"]).all()
    assert (pd.to_datetime(pairs["start_date"]) <= pd.Timestamp("2019-09-02")).mean() > 0.97
    days = set(school_days()["date"])
    d = pd.to_datetime(act["date"])
    assert d.isin(days).all() and (d <= pd.Timestamp(AS_OF)).all()
    assert set(act["activity"]) == {"帮扶记录", "家访", "心理疏导"}
    shapes = pairs.groupby(["school_name", "teacher_name"]).size()
    assert (shapes == 1).any() and (shapes > 1).any()                 # 一对一 and 一对多
    assert pairs["id_number"].duplicated().any()                     # 多对一
    # activities are written by one of the pupil's own teachers
    m = act.merge(pairs[["id_number", "teacher_name"]].drop_duplicates(), on=["id_number", "teacher_name"])
    assert len(m) == len(act)


# ------------------------------------------------------------------------------------------------ answer key
def test_answer_key_is_exactly_what_the_rules_imply(county):
    key = county["key"]
    link = dict(zip(key.loc[key["true_id"].notna(), "id_number"], key.loc[key["true_id"].notna(), "true_id"]))
    found = reference_findings(county["tables"], link)
    expected = key_set(key)
    # a linked record's other findings are reported under the person's (true) ID: map them back for comparison
    assert found - expected == set(), sorted(found - expected)[:10]
    assert expected - found == set(), sorted(expected - found)[:10]


def test_every_finding_kind_is_injected(county):
    key = county["key"]
    assert set(finding_kinds()) == set(key["kind"])
    assert list(key.columns[: len(KEY_COLUMNS)]) == KEY_COLUMNS
    assert not key.duplicated(["kind", "id_number", "item", "period"]).any()
    assert (key["kind"].value_counts() >= 3).all()
    assert key.loc[key["kind"].isin(["id_invalid", "id_precision_lost"]), "true_id"].notna().all()
    sys_ = set(key.loc[key["kind"] == "id_invalid", "system"])
    assert {"registry", "aid", "roster"} <= sys_
    reasons = set(ids.check(key.loc[key["kind"] == "id_invalid", "id_number"], as_of=AS_OF)["reason"])
    assert {"bad_checksum", "bad_region", "bad_birthdate"} <= reasons
    assert key["period"].dropna().str.match(r"^(2019秋|2019-W\d\d|2019-\d\d)$").all()


def test_suspects_key_points_at_injected_causes(county):
    sk, sus = county["suspects_key"], county["suspects"]
    assert 60 <= len(sus) <= 150 and len(sk) == len(sus)
    assert {"不属实", "not_found"} <= set(sk["cause"])
    injected = sk[~sk["cause"].isin(["不属实", "not_found"])]
    assert len(injected) > len(sk) / 2
    key = county["key"]
    pairs = set(zip(key["kind"], key["id_number"]))
    assert all((c, i) in pairs for c, i in zip(injected["cause"], injected["id_number"]))
    idc = injected[injected["cause"].isin(["id_invalid", "id_precision_lost"])]
    assert idc["correct_id"].notna().all()
    assert ids.check(idc["correct_id"], as_of=AS_OF)["valid"].all()
    people = set(county["people"]["id_number"])
    assert not set(sk.loc[sk["cause"] == "not_found", "id_number"]) & people


# ------------------------------------------------------------------------------------------------ files
@pytest.fixture(scope="module")
def excel_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("county")
    return generate(out / "a", students=1200, seed=3)


def test_generate_is_deterministic(excel_dir, tmp_path):
    again = generate(tmp_path / "b", students=1200, seed=3)
    assert (excel_dir / "answer_key.csv").read_bytes() == (again / "answer_key.csv").read_bytes()
    assert (excel_dir / "suspects_key.csv").read_bytes() == (again / "suspects_key.csv").read_bytes()
    other = generate(tmp_path / "c", students=1200, seed=4)
    assert (excel_dir / "answer_key.csv").read_bytes() != (other / "answer_key.csv").read_bytes()


def test_exports_carry_the_quirks(excel_dir):
    import openpyxl
    import xlrd
    files = sorted(p.relative_to(excel_dir).as_posix() for p in excel_dir.rglob("*") if p.is_file())
    assert any(f.endswith(".xls") for f in files)
    assert any(f.endswith(".txt") for f in files)
    assert (excel_dir / "answer_key.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    csv = next(excel_dir.glob("资助/*.csv"))
    frame = pd.read_csv(csv, encoding="gbk", dtype=str)
    assert {"身份证件号", "资助项目", "资助金额", "学年", "学期"} <= set(frame.columns)
    txt = next(excel_dir.glob("结对帮扶/*.txt"))
    assert txt.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")
    spring = next(excel_dir.glob("学籍/2019年春季学期/*.xlsx"))
    ws = openpyxl.load_workbook(spring, read_only=True).active
    assert "2019年春季学期" in str(next(ws.iter_rows(values_only=True))[0])
    # the county-level file has a two-level merged header; registry sheets are named 导出工作表
    grouped = next(excel_dir.glob("学籍/2019年秋季学期/*县直*.xlsx"))
    wb = openpyxl.load_workbook(grouped)
    assert wb.sheetnames == ["导出工作表"]
    assert next(c.value for c in wb.active[2]) == "基本信息" and wb.active.merged_cells.ranges
    cells = []
    for f in excel_dir.glob("学籍/2019年秋季学期/*.xlsx"):
        for row in openpyxl.load_workbook(f, read_only=True).active.iter_rows(values_only=True):
            cells += [v for v in row if v is not None]
    text = [v for v in cells if isinstance(v, str)]
    assert any(isinstance(v, float) and v > 1e17 for v in cells)                 # ID mangled into a float
    assert any(v.startswith("'61") for v in text)                               # leading apostrophe
    assert any(v[:1] == "６" for v in text)                                      # full-width digits
    assert any(v.startswith("61") and v.endswith("  ") for v in text)           # trailing spaces
    assert any(v.startswith("61") and v.endswith("x") for v in text)            # lowercase x
    assert any(v.startswith("小学20") and v.endswith("级") for v in text)         # CNEMIS 年级
    assert any(v in ("1-男", "2-女") for v in text)
    xls = next(excel_dir.glob("学籍/**/*.xls"))
    assert xlrd.open_workbook(str(xls)).sheet_by_index(0).nrows > 2


def test_parquet_tables_are_canonical(tmp_path):
    out = generate(tmp_path / "p", students=900, seed=2, fmt="parquet")
    reg = pd.read_parquet(out / "registry.parquet")
    assert set(reg["term"]) == {"2019秋", "2019春"}
    for col in ("term", "school_code", "school_name", "town", "student_no", "name", "sex", "birth_date",
                "id_number", "stage", "grade", "boarding", "left_behind", "migrant", "status", "source_file",
                "source_row", "id_valid", "id_reason"):
        assert col in reg.columns, col
    assert pd.api.types.is_datetime64_any_dtype(reg["birth_date"])
    assert str(reg["id_number"].dtype) in ("string", "str")
    for name in ("aid", "roster", "ledger", "pairs", "activities", "struggling", "suspects"):
        assert (out / f"{name}.parquet").exists(), name
    key = pd.read_csv(out / "answer_key.csv", dtype=str)
    lost = key.loc[key["kind"] == "id_precision_lost", "id_number"]
    assert set(lost) <= set(reg.loc[reg["id_reason"] == "precision_lost", "id_number"])
    assert ids.check(lost, as_of=AS_OF)["reason"].eq("precision_lost").all()


def test_cli_writes_the_county(tmp_path, capsys):
    from workbench.cli import main
    assert main(["samples", str(tmp_path / "cli"), "--students", "600", "--seed", "5"]) == 0
    assert (tmp_path / "cli" / "answer_key.csv").exists()
    assert "样例县" in capsys.readouterr().out


def _values(s: pd.Series) -> pd.Series:
    """Comparable text of a column's values (dates as YYYY-MM-DD, numbers as floats)."""
    def one(v):
        if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
            return "<NA>"
        if isinstance(v, pd.Timestamp):
            return f"{v:%Y-%m-%d}"
        if isinstance(v, (bool, np.bool_)):
            return str(bool(v))
        if isinstance(v, (int, float, np.integer, np.floating)):
            return str(float(v))
        return str(v)
    return s.astype(object).map(one)


def test_committed_sample_loads_into_exactly_the_canonical_tables(county):
    """The committed exports, read by the loader, give the same values as the generator's canonical tables
    (what `--format parquet` writes), column by column (source_* columns aside)."""
    from pathlib import Path

    workspace = pytest.importorskip("workbench.workspace")
    from workbench.samples import canonical_tables
    folder = Path(__file__).resolve().parents[1] / "data" / "samples"
    ws = workspace.load_folder(folder, progress=False)
    canonical = canonical_tables(county)   # the committed county is seed 1, 3,000 pupils
    key = pd.read_csv(folder / "answer_key.csv", dtype=str, keep_default_na=False)
    assert key_set(key) == key_set(county["key"].fillna(""))
    for name, c in canonical.items():
        loaded = ws.table(name)
        assert len(loaded) == len(c), name
        for col in c.columns:
            if col.startswith("source_"):
                continue
            assert col in loaded.columns, (name, col)
            a = _values(c[col]).value_counts().sort_index()
            b = _values(loaded[col]).value_counts().sort_index()
            assert a.to_dict() == b.to_dict(), (name, col)
