"""资助 (aid): policy table, item names, entitlements, coverage and the four aid finding kinds."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from workbench import aid

W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
TERM = "2019秋"


def make_id(birth: str, seq: int) -> str:
    body = f"610928{birth}{seq:03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, W)) % 11]


def frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=columns)
    for col in df.columns:
        if col in ("grade",):
            df[col] = df[col].astype("Int64")
        elif col == "amount":
            df[col] = df[col].astype("float64")
        elif col != "id_valid":
            df[col] = df[col].astype("string")
    if "id_number" in df.columns:
        df["id_valid"] = pd.array([True] * len(df), dtype="boolean")
        df["person_id"] = df["id_number"]
    return df


REG_COLS = ["term", "school_code", "school_name", "town", "name", "id_number", "stage", "grade", "boarding",
            "status", "source_file", "source_row"]
AID_COLS = ["term", "school_name", "town", "name", "id_number", "item_raw", "amount", "difficulty_level",
            "difficulty_type"]
ROS_COLS = ["town", "village", "name", "id_number"]

P = {k: make_id(f"20{y:02d}0101", i * 2 + 1) for i, (k, y) in enumerate(
    [("A", 10), ("B", 9), ("C", 8), ("D", 4), ("E", 6), ("F", 7), ("G", 5), ("H", 11), ("I", 3)])}


def reg(key, stage, grade, boarding, term=TERM, school="蜀河镇中心小学", status=None):
    return {"term": term, "school_code": "1", "school_name": school, "town": "蜀河镇", "name": f"学生{key}",
                "id_number": P[key], "stage": stage, "grade": grade, "boarding": boarding, "status": status,
                "source_file": "x.xlsx", "source_row": "2"}


def rec(key, item_raw, amount, term=TERM, school="蜀河镇中心小学", dtype=None, level=None):
    return {"term": term, "school_name": school, "town": "蜀河镇", "name": f"学生{key}", "id_number": P[key],
                "item_raw": item_raw, "amount": amount, "difficulty_level": level, "difficulty_type": dtype}


def county() -> SimpleNamespace:
    registry = [
        reg("A", "小学", 3, "住校"), reg("A", "小学", 2, "住校", term="2019春"),
        reg("B", "小学", 4, "走读"), reg("D", "高中", 1, "住校", school="旬阳县中学"),
        reg("E", "初中", 2, "住校"), reg("F", "初中", 1, "住校"), reg("G", "初中", 3, "走读"),
        reg("H", "小学", 2, "住校"), reg("I", "高中", 2, "住校", school="旬阳县中学"),
    ]
    records = [
        rec("A", "家庭经济困难寄宿生生活补助", 500, dtype="建档立卡"), rec("A", "营养改善计划", 400),
        rec("B", "营养餐", 400),
        rec("C", "营养改善计划", 400),
        rec("D", "寄宿生生活补助", 500, school="旬阳县中学", dtype="低保"),
        rec("E", "义务教育家庭经济困难学生生活补助", 625, dtype="建档立卡"), rec("E", "营养改善计划", 400),
        rec("F", "寄宿生生活补助", 625, dtype="建档立卡"), rec("F", "寄宿生生活补助", 625, school="吕河镇中学",
                                                       dtype="建档立卡"),
        rec("F", "营养改善计划", 400),
        rec("G", "非寄宿生生活补助", 625, dtype="建档立卡"), rec("G", "营养改善计划", 400),
        rec("H", "寄宿生生活补助", 500, dtype="农村低保"),
        rec("I", "普通高中国家助学金", 1000, school="旬阳县中学", dtype="建档立卡", level="困难"),
    ]
    roster = [{"town": "蜀河镇", "village": "某村", "name": f"学生{k}", "id_number": P[k]} for k in "ABFGI"]
    return SimpleNamespace(as_of=date(2019, 11, 30), frames={
        "registry": frame(registry, REG_COLS), "aid": frame(records, AID_COLS), "roster": frame(roster, ROS_COLS)})


def keys(found: pd.DataFrame, kind: str) -> set[tuple]:
    sub = found[found["kind"] == kind]
    inv = {v: k for k, v in P.items()}
    return {(inv.get(i, i), it, p) for i, it, p in zip(sub["id_number"], sub["item"], sub["period"])}


@pytest.fixture(scope="module")
def found() -> pd.DataFrame:
    return aid.findings(county())


def test_policy_table_has_the_2019_shaanxi_standards():
    table = aid.policy()
    row = table[(table["item"] == "compulsory_living") & (table["stage"] == "初中") & (table["boarding"] == "住校")]
    assert row["semester_amount"].tolist() == [625]
    assert set(table.columns) >= {"item", "label", "stage", "grade_min", "grade_max", "boarding", "level",
                                  "semester_amount", "yearly_amount", "amount_rule", "terms", "once",
                                  "accepted_statuses", "entitled_statuses", "aliases"}
    # per-semester amounts are half the yearly standard wherever the item is paid every term
    both = table[(table["terms"] == "秋;春") & table["semester_amount"].notna()]
    assert (both["semester_amount"] * 2 == both["yearly_amount"]).all()


def test_canonical_item_maps_labels_aliases_fullwidth_and_spaces():
    raw = pd.Series(["营养餐", " 普通高中 国家助学金 ", "寄宿生生活补助", "ＸＸ补助", None, "普通高中国家助学金（特别困难）",
                     "义务教育家庭经济困难学生生活补助"])
    assert aid.canonical_item(raw).tolist()[:3] == ["nutrition", "hs_grant", "compulsory_living"]
    out = aid.canonical_item(raw)
    assert out.isna().tolist() == [False, False, False, True, True, False, False]
    assert out.iloc[5] == "hs_grant" and out.iloc[6] == "compulsory_living"
    longer = aid.canonical_item(pd.Series(["农村义务教育家庭经济困难寄宿生生活补助", "高职国家助学金", "２０１９年秋季营养改善计划补助"]))
    assert longer.tolist()[0] == "compulsory_living" and pd.isna(longer.iloc[1])
    assert longer.iloc[2] == "nutrition"


def test_missed_entitled_poor_day_pupil_and_nutrition_for_everyone(found):
    assert keys(found, "aid_missed") == {("B", "compulsory_living", TERM), ("H", "nutrition", TERM)}


def test_ineligible_not_enrolled_wrong_stage_and_false_poverty_claim(found):
    assert keys(found, "aid_ineligible") == {("C", "nutrition", TERM), ("D", "compulsory_living", TERM),
                                             ("E", "compulsory_living", TERM)}
    detail = found.set_index(["id_number", "kind"])["detail"]
    assert "学籍中无此人" in detail[(P["C"], "aid_ineligible")]
    assert "学段" in detail[(P["D"], "aid_ineligible")]
    assert "不在建档立卡名单" in detail[(P["E"], "aid_ineligible")]


def test_duplicate_across_schools(found):
    assert keys(found, "aid_duplicate") == {("F", "compulsory_living", TERM)}
    detail = found[found["kind"] == "aid_duplicate"]["detail"].iloc[0]
    assert "2 次" in detail and "吕河镇中学" in detail


def test_amount_mismatch_boarding_standard_and_poor_counts_as_special_hardship(found):
    assert keys(found, "aid_amount_mismatch") == {("G", "compulsory_living", TERM), ("I", "hs_grant", TERM)}
    detail = found.set_index(["id_number", "kind"])["detail"]
    assert "标准 312.5 元" in detail[(P["G"], "aid_amount_mismatch")]
    assert "标准 1250 元" in detail[(P["I"], "aid_amount_mismatch")]


def test_findings_shape_labels_and_determinism(found):
    from workbench.findings import FINDING_COLUMNS
    assert list(found.columns) == FINDING_COLUMNS
    assert set(found["label"]) == {"应助未助", "不符合条件的受资助对象", "重复资助", "资助金额与标准不符"}
    again = aid.findings(county())
    pd.testing.assert_frame_equal(found, again)


def test_items_and_terms_no_list_contains_are_not_covered_never_missed(found):
    # I is a poor 高中 pupil entitled to hs_fee_waiver, which no list contains; 2019春 has no aid list at all
    assert not (found["period"] == "2019春").any()
    assert not (found["item"] == "hs_fee_waiver").any()
    items = aid.coverage(county(), by="item")
    row = items[(items["item"] == "hs_fee_waiver") & (items["term"] == TERM)].iloc[0]
    assert row["status"] == aid.NOT_COVERED and row["not_covered"] == 1 and row["entitled"] == 0
    assert row["missed"] == 0
    spring = items[items["term"] == "2019春"]
    assert (spring["status"] == aid.NOT_COVERED).all() and spring["missed"].sum() == 0
    assert items.loc[(items["item"] == "nutrition") & (items["term"] == TERM), "status"].item() == "已覆盖"
    nc = aid.not_covered(county())
    pairs = dict(zip(zip(nc["item"], nc["term"]), nc["not_covered"]))
    assert pairs[("hs_fee_waiver", TERM)] == 1 and pairs[("two_exemptions", TERM)] == 6
    assert ("nutrition", TERM) not in pairs and ("compulsory_living", TERM) not in pairs


def test_coverage_per_student_and_rollups():
    ws = county()
    per = aid.coverage(ws)
    b = per[(per["person_id"] == P["B"]) & (per["item"] == "compulsory_living")].iloc[0]
    assert bool(b["entitled"]) and not bool(b["received"]) and bool(b["missed"])
    town = aid.coverage(ws, by="town")
    # judged entitlements (2019秋, items the list holds): A, B, F, G compulsory_living; A, B, E, F, G, H nutrition;
    # I hs_grant. Not covered: I hs_fee_waiver, everyone's two_exemptions, and all of 2019春 (no list)
    assert town["entitled"].sum() == 11 and town["not_covered"].sum() > 0
    assert town["missed"].sum() == 2 and town["duplicate"].sum() == 1 and town["ineligible"].sum() == 3
    assert town["amount_mismatch"].sum() == 2
    school = aid.coverage(ws, by="school")
    assert set(school["school"].dropna()) >= {"蜀河镇中心小学", "旬阳县中学"}
    ent = aid.entitlements(ws)
    a = ent[(ent["person_id"] == P["A"]) & (ent["item"] == "compulsory_living") & (ent["term"] == TERM)].iloc[0]
    assert bool(a["entitled"]) and bool(a["received"]) and "建档立卡" in a["reason"]


def test_day_pupil_subsidy_is_not_paid_in_spring_2019():
    ws = county()
    frames = ws.frames
    frames["registry"] = pd.concat([frames["registry"], frame([reg("B", "小学", 3, "走读", term="2019春")],
                                                             REG_COLS)], ignore_index=True)
    frames["aid"] = pd.concat([frames["aid"], frame([rec("B", "生活补助", 250, term="2019春", dtype="建档立卡"),
                                                     rec("A", "寄宿生生活补助", 500, term="2019春")], AID_COLS)],
                              ignore_index=True)
    found = aid.findings(ws)
    spring = found[found["period"] == "2019春"]
    assert keys(spring, "aid_ineligible") == {("B", "compulsory_living", "2019春")}
    assert "就读方式" in spring["detail"].iloc[0]
    # A is a poor boarder: entitled in spring too, and paid
    assert keys(spring, "aid_missed") == set()


def test_policy_selected_by_settings_absolute_path(tmp_path, monkeypatch):
    from workbench import rules
    edited = tmp_path / "aid_policy_edited.csv"
    text = (Path(rules.RULES_DIR) / "aid_policy_shaanxi_2019.csv").read_text(encoding="utf-8")
    edited.write_text(text.replace("初中,1,3,住校,,625,1250", "初中,1,3,住校,,700,1400"), encoding="utf-8")
    settings_file = tmp_path / "settings.yaml"
    settings_file.write_text(f"aid_policy: {edited}\n", encoding="utf-8")
    monkeypatch.setenv("WORKBENCH_SETTINGS", str(settings_file))
    rules.settings.cache_clear()
    try:
        table = aid.policy()
        assert 700 in table["semester_amount"].tolist()
        found = aid.findings(county())
        # F's two 625 records now differ from the edited 700 standard
        assert ("F", "compulsory_living", TERM) in keys(found, "aid_amount_mismatch")
    finally:
        monkeypatch.delenv("WORKBENCH_SETTINGS")
        rules.settings.cache_clear()


def test_missing_policy_file_is_reported_in_chinese(tmp_path):
    with pytest.raises(FileNotFoundError, match="资助标准文件不存在"):
        aid.policy(str(tmp_path / "nope.csv"))


# --------------------------------------------------------------------------------------------------- answer key

AID_KINDS = ["aid_missed", "aid_ineligible", "aid_duplicate", "aid_amount_mismatch"]
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
AS_OF = date(2019, 11, 30)


def answer_key(path: Path) -> pd.DataFrame:
    key = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    return key[key["kind"].isin(AID_KINDS)]


def compare(found: pd.DataFrame, key: pd.DataFrame, kind: str) -> None:
    def grains(df):
        sub = df[df["kind"] == kind]
        return set(zip(*(sub[c].astype("string").fillna("").tolist() for c in ("id_number", "item", "period"))))
    got, want = grains(found), grains(key)
    missing, extra = sorted(want - got), sorted(got - want)
    recall = 1 - len(missing) / len(want) if want else 1.0
    precision = 1 - len(extra) / len(got) if got else 1.0
    detail = found[found["kind"] == kind].set_index(["id_number", "item", "period"])["detail"]
    extra_detail = [detail.get(e) for e in extra[:5]]
    assert not missing and not extra, (
        f"{kind}: recall {recall:.1%} precision {precision:.1%}; missing {missing[:5]} extra {extra[:5]} "
        f"{extra_detail}")


@pytest.fixture(scope="module")
def sample_findings() -> tuple[pd.DataFrame, pd.DataFrame]:
    from workbench.workspace import load_folder
    ws = load_folder(str(SAMPLES), as_of=AS_OF, progress=False)
    return aid.findings(ws), answer_key(SAMPLES / "answer_key.csv"), ws


@pytest.mark.parametrize("kind", AID_KINDS)
def test_sample_county_matches_answer_key(sample_findings, kind):
    found, key, _ = sample_findings
    assert (key["kind"] == kind).any(), f"answer key has no {kind}"
    compare(found, key, kind)


def test_sample_county_coverage_rollups(sample_findings):
    _, key, ws = sample_findings
    town = aid.coverage(ws, by="town")
    for kind, flag in (("aid_missed", "missed"), ("aid_ineligible", "ineligible"), ("aid_duplicate", "duplicate"),
                       ("aid_amount_mismatch", "amount_mismatch")):
        assert town[flag].sum() == (key["kind"] == kind).sum(), flag
    items = aid.coverage(ws, by="item").set_index(["item", "term"])
    # the county holds no 营养改善计划 list and no 2019春 aid list: 数据未覆盖, never missed
    assert items.loc[("nutrition", "2019秋"), "status"] == aid.NOT_COVERED
    assert items.loc[("compulsory_living", "2019秋"), "status"] == "已覆盖"
    assert items.xs("2019春", level="term")["missed"].sum() == 0
    assert (items.loc[items["status"] == aid.NOT_COVERED, "missed"] == 0).all()
    school = aid.coverage(ws, by="school")
    assert school["entitled"].sum() == town["entitled"].sum() > 0


@pytest.fixture(scope="module")
def generated_findings(county_60k_parquet) -> tuple[pd.DataFrame, pd.DataFrame]:
    from workbench.workspace import load_parquet_folder
    ws = load_parquet_folder(county_60k_parquet, AS_OF)
    return aid.findings(ws), answer_key(county_60k_parquet / "answer_key.csv")


@pytest.mark.slow
@pytest.mark.parametrize("kind", AID_KINDS)
def test_generated_60k_county_matches_answer_key(generated_findings, kind):
    found, key = generated_findings
    assert (key["kind"] == kind).any(), f"answer key has no {kind}"
    compare(found, key, kind)


def test_coverage_flags_agree_with_findings():
    ws = county()
    per = aid.coverage(ws)
    found = aid.findings(ws)
    for kind, flag in (("aid_missed", "missed"), ("aid_ineligible", "ineligible"), ("aid_duplicate", "duplicate"),
                       ("aid_amount_mismatch", "amount_mismatch")):
        sub = found[found["kind"] == kind]
        assert set(zip(sub["id_number"], sub["item"], sub["period"])) == set(
            zip(*(per.loc[per[flag], c] for c in ("person_id", "item", "term")))), kind
    # received without entitlement: C (not enrolled) is listed with the generic reason
    c = per[per["person_id"] == P["C"]].iloc[0]
    assert not c["entitled"] and c["received"] and "不在应助范围" in c["reason"]


def test_findings_read_the_engine_not_linked_pandas_frames(sample_findings):
    found, _, ws = sample_findings
    assert getattr(ws, "linked", None) is None  # link.attach_person_ids never ran for aid
    pd.testing.assert_frame_equal(found, aid.findings(ws))


def test_amount_text_matches_the_pandas_formatting():
    import numpy as np
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.uniform(-5000, 5000, 2000), rng.integers(0, 4000, 500) / 8,
                             [0.0, 312.5, 1250.0, 2.675, 0.005, 1e16, np.nan]])
    assert [aid._amount_text(v) for v in values] == aid._fmt_amount(pd.Series(values)).tolist()


def test_lazy_parquet_workspace_gives_the_same_findings_without_loading_tables(tmp_path):
    from workbench.workspace import load_folder, load_parquet_folder
    ws = load_folder(str(SAMPLES), as_of=AS_OF, progress=False)
    for key in ("registry", "aid", "roster"):
        ws.tables[key].to_parquet(tmp_path / f"{key}.parquet", index=False)
    eager = aid.findings(load_parquet_folder(tmp_path, AS_OF))
    lazy_ws = load_parquet_folder(tmp_path, AS_OF, lazy=True)
    lazy = aid.findings(lazy_ws)
    assert not any(lazy_ws.tables.loaded(key) for key in ("registry", "aid", "roster"))
    pd.testing.assert_frame_equal(eager, lazy)
    assert len(lazy) > 0
