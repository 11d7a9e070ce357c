"""三一致 findings: each kind on hand-built frames, person_status, continuity, and the sample county's answer key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from builders import frame, make_id, typo
from workbench import dropout, reconcile
from workbench.findings import FINDING_COLUMNS
from workbench.workspace import load_folder, load_parquet_folder

AS_OF = dt.date(2019, 11, 30)
REPO = Path(__file__).resolve().parents[1]


P = {  # person -> ID (birth date and sex inside)
    "zhang": make_id("61092820080101123"),   # 男 2008-01-01, registry ID typo (linked to the roster)
    "li": make_id("61092820070505224"),      # 女 2007-05-05, roster says 七年级, registry 小学6
    "wang": make_id("61092820100303123"),    # 男, registry records 女
    "dup": make_id("61092820090909111"),     # 男, enrolled in two schools
    "chen": make_id("61092820110202222"),    # 女, registry 陈明 / aid 陈铭
    "birth": make_id("61092820120606133"),   # 男, registry birth date 2012-06-07
    "zhao": make_id("61092820090101444"),    # 女, poor school-age, nowhere: not_enrolled
    "qian": make_id("61092820080808155"),    # 男, ledger 县外就读 without evidence
    "sun": make_id("61092820070707166"),     # 女, ledger 辍学 劝返中 with evidence
    "zhou": make_id("61092819800101177"),    # 男 adult
    "miss": make_id("61092820110101188"),    # 女, 2019春 小学2, gone in 2019秋: missing_from_registry
    "grad": make_id("61092820040404199"),    # 男, 2019春 初中3: graduated
    "gone": make_id("61092820100202200"),    # 女, 2019春 转出
    "lost": make_id("61092820090303311"),    # 男, aid ID as a float (precision lost)
}
REG = ["term", "school_name", "town", "student_no", "name", "sex", "birth_date", "id_type", "id_number",
       "id_valid", "id_reason", "stage", "grade", "boarding", "status"]
ROS = ["town", "village", "household_no", "name", "sex", "birth_date", "id_number", "id_valid", "id_reason",
       "school_status_raw", "stage", "grade"]
AID = ["term", "school_name", "town", "name", "id_number", "id_valid", "id_reason", "student_no", "item", "amount"]
LED = ["town", "village", "name", "id_number", "id_valid", "id_reason", "sex", "birth_date", "reason",
       "dropout_status", "evidence"]
S1, S2 = "旬阳县蜀河镇中心小学", "旬阳县蜀河镇初级中学"


def reg(term, who, name, sex, birth, school=S1, stage="小学", grade=4, status=None, id_number=None):
    idn = id_number or P[who]
    ok = id_number is None
    return {"term": term, "school_name": school, "town": "蜀河镇", "student_no": "G" + P[who], "name": name, "sex": sex,
                "birth_date": birth, "id_type": "居民身份证", "id_number": idn, "id_valid": ok,
                "id_reason": "ok" if ok else "bad_checksum", "stage": stage, "grade": grade, "boarding": "走读", "status": status}


def ros(who, name, sex, birth, raw, stage, grade=None):
    return {"town": "蜀河镇", "village": "红岩村", "household_no": "H1", "name": name, "sex": sex, "birth_date": birth,
                "id_number": P[who], "id_valid": True, "id_reason": "ok", "school_status_raw": raw, "stage": stage, "grade": grade}


def county() -> dict[str, pd.DataFrame]:
    registry = frame([
        reg("2019秋", "zhang", "张玮", "男", "2008-01-01", grade=6, id_number=typo(P["zhang"], 12)),
        reg("2019秋", "li", "李娜", "女", "2007-05-05", grade=6),
        reg("2019秋", "wang", "王强", "女", "2010-03-03", grade=4),
        reg("2019秋", "dup", "杜一", "男", "2009-09-09", grade=5),
        reg("2019秋", "dup", "杜一", "男", "2009-09-09", school="旬阳县蜀河镇红岩小学", grade=5),
        reg("2019秋", "chen", "陈明", "女", "2011-02-02", grade=3),
        reg("2019秋", "birth", "白一", "男", "2012-06-07", grade=2),
        reg("2019秋", "lost", "刘六", "男", "2009-03-03", grade=5),
        reg("2019春", "li", "李娜", "女", "2007-05-05", grade=5),
        reg("2019春", "miss", "苗苗", "女", "2011-01-01", grade=2),
        reg("2019春", "grad", "高三", "男", "2004-04-04", school=S2, stage="初中", grade=3),
        reg("2019春", "gone", "顾二", "女", "2010-02-02", grade=3, status="转出"),
        reg("2019春", "wang", "王强", "女", "2010-03-03", grade=3),
    ], REG)
    roster = frame([
        ros("zhang", "张伟", "男", "2008-01-01", "小学", "小学"),
        ros("li", "李娜", "女", "2007-05-05", "七年级", "初中", 1),
        ros("zhao", "赵兰", "女", "2009-01-01", "小学", "小学"),
        ros("qian", "钱七", "男", "2008-08-08", "非在校生", None),
        ros("sun", "孙八", "女", "2007-07-07", "非在校生", None),
        ros("zhou", "周九", "男", "1980-01-01", "非在校生", None),
    ], ROS)
    aid = frame([
        {"term": "2019秋", "school_name": S1, "town": "蜀河镇", "name": "陈铭", "id_number": P["chen"], "id_valid": True,
             "id_reason": "ok", "student_no": "G" + P["chen"], "item": "x", "amount": "250"},
        {"term": "2019秋", "school_name": S1, "town": "蜀河镇", "name": "刘六", "id_number": P["lost"][:15] + "000",
             "id_valid": False, "id_reason": "precision_lost", "student_no": "G" + P["lost"], "item": "x", "amount": "250"},
    ], AID)
    ledger = frame([
        {"town": "蜀河镇", "village": "红岩村", "name": "钱七", "id_number": P["qian"], "id_valid": True, "id_reason": "ok",
             "sex": "男", "birth_date": "2008-08-08", "reason": "县外就读", "dropout_status": None, "evidence": "无"},
        {"town": "蜀河镇", "village": "红岩村", "name": "孙八", "id_number": P["sun"], "id_valid": True, "id_reason": "ok",
             "sex": "女", "birth_date": "2007-07-07", "reason": "辍学", "dropout_status": "劝返中", "evidence": "劝返记录"},
    ], LED)
    return {"registry": registry, "roster": roster, "aid": aid, "ledger": ledger}


class FakeWorkspace:
    def __init__(self, tables):
        self.tables = tables
        self.as_of = AS_OF
        self.term = "2019秋"
        self.previous_term = "2019春"


@pytest.fixture()
def ws():
    return FakeWorkspace(county())


def kinds_of(f: pd.DataFrame) -> dict[str, set]:
    return {k: set(g["id_number"]) for k, g in f.groupby("kind")}


def test_findings_each_kind_on_hand_built_county(ws):
    f = reconcile.findings(ws)
    assert list(f.columns) == FINDING_COLUMNS
    got = kinds_of(f)
    assert got == {
        "id_invalid": {typo(P["zhang"], 12)},
        "id_precision_lost": {P["lost"][:15] + "000"},
        "duplicate_record": {P["dup"]},
        "name_mismatch": {P["chen"]},
        "sex_mismatch": {P["wang"]},
        "birthdate_mismatch": {P["birth"]},
        "stage_mismatch": {P["li"]},
        "missing_from_registry": {P["miss"]},
    }


def test_id_invalid_suggests_the_linked_id_with_evidence(ws):
    f = reconcile.findings(ws)
    row = f[f["kind"] == "id_invalid"].iloc[0]
    assert row["suggested_id"] == P["zhang"]
    assert row["suggestion"].startswith(f"建议核对为 {P['zhang']}：建档立卡")
    assert "姓名同音（张玮/张伟）" in row["suggestion"] and "身份证号相差1位（第12位）" in row["suggestion"]
    assert row["systems"] == "registry" and row["school"] == S1 and row["label"] == "身份证号无效"
    lost = f[f["kind"] == "id_precision_lost"].iloc[0]
    assert lost["suggested_id"] == P["lost"] and lost["systems"] == "aid"


def test_details_are_chinese_evidence(ws):
    f = reconcile.findings(ws).set_index("kind")
    assert "学籍：陈明" in f.loc["name_mismatch", "detail"] and "资助：陈铭" in f.loc["name_mismatch", "detail"]
    assert "登记性别为女" in f.loc["sex_mismatch", "detail"]
    assert "2012-06-07" in f.loc["birthdate_mismatch", "detail"]
    assert "七年级" in f.loc["stage_mismatch", "detail"] and "小学6年级" in f.loc["stage_mismatch", "detail"]
    assert S1 in f.loc["duplicate_record", "detail"] and "红岩小学" in f.loc["duplicate_record", "detail"]
    assert f.loc["stage_mismatch", "village"] == "红岩村"


def test_dropout_findings(ws):
    f = dropout.findings(ws)
    assert kinds_of(f) == {"not_enrolled": {P["zhao"]}, "exception_unverified": {P["qian"]}}


def test_findings_are_deterministic(ws):
    a = reconcile.findings(ws)
    b = reconcile.findings(FakeWorkspace(county()))
    pd.testing.assert_frame_equal(a, b)


def test_analyses_side_by_side_equal_one_by_one():
    """findings.run_analyses runs the analyses on threads (a DuckDB connection each): the same findings as calling
    them one after another on a fresh Workspace."""
    import threading

    from workbench import aid, engine, findings

    parallel = findings.run_analyses(FakeWorkspace(county()), ("reconcile", "dropout", "aid"))
    one = FakeWorkspace(county())
    for name, module in (("reconcile", reconcile), ("dropout", dropout), ("aid", aid)):
        pd.testing.assert_frame_equal(parallel[name], module.findings(one))
    # another thread gets its own connection to the same database: it sees the shared link map and views
    eng = engine.of(one)
    seen = {}

    def look():
        seen["con"] = eng.con
        seen["links"] = eng.con.execute("SELECT count(*) FROM link_map").fetchone()[0]
        seen["rows"] = eng.con.execute("SELECT count(*) FROM registry").fetchone()[0]

    worker = threading.Thread(target=look)
    worker.start()
    worker.join()
    assert seen["con"] is not eng.con
    assert seen["links"] == eng.con.execute("SELECT count(*) FROM link_map").fetchone()[0] > 0
    assert seen["rows"] == len(one.tables["registry"])


def test_early_part_needs_no_link():
    """reconcile.early (run while the link is built) reads valid IDs only: it leaves the link undone, and the
    findings built on it equal those of a Workspace without it."""
    from workbench import engine

    early = FakeWorkspace(county())
    reconcile.early(early)
    assert getattr(early, "_link_state", None) is None
    assert engine.of(early).con.execute("SELECT count(*) FROM rec_duplicates").fetchone()[0] == 1
    pd.testing.assert_frame_equal(reconcile.findings(early), reconcile.findings(FakeWorkspace(county())))


def test_views_built_before_the_link_read_its_map():
    """The linked views can be made before the link stores its map (dropout.early does, on another thread); the
    analyses over them then see the links, as when the views come after the link."""
    from workbench import dropout, engine

    early = FakeWorkspace(county())
    dropout.early(early)
    assert getattr(early, "_link_state", None) is None
    assert engine.of(early).con.execute("SELECT count(*) FROM link_map").fetchone()[0] == 0
    late = FakeWorkspace(county())
    for a, b in ((dropout.findings(early), dropout.findings(late)), (reconcile.findings(early),
                                                                      reconcile.findings(late))):
        pd.testing.assert_frame_equal(a, b)
    assert engine.of(early).con.execute("SELECT count(*) FROM link_map").fetchone()[0] > 0


def test_continuity_outcomes(ws):
    c = reconcile.continuity(ws).set_index("person_id")["outcome"].to_dict()
    assert c == {P["li"]: "promoted", P["miss"]: "missing", P["grad"]: "graduated", P["wang"]: "promoted"}
    # 转出 rows are not previous-term students in the enrolled sense: they never appear as missing
    assert P["gone"] not in c


def test_person_status_one_row_per_person(ws):
    st = reconcile.person_status(ws)
    assert st["person_id"].is_unique
    # every roster member and every enrolled student of the as-of term (the typo student by link)
    expected = {P[k] for k in ("zhang", "li", "zhao", "qian", "sun", "zhou", "wang", "dup", "chen", "birth", "lost")}
    assert set(st["person_id"]) == expected
    row = st.set_index("person_id").loc[P["zhang"]]
    assert bool(row["in_roster"]) and bool(row["in_registry"]) and not bool(row["in_aid"])
    assert row["registry_grade"] == 6 and row["roster_school_status"] == "小学"
    assert bool(st.set_index("person_id").loc[P["zhou"], "school_age"]) is False
    assert st.set_index("person_id").loc[P["qian"], "ledger_reason"] == "县外就读"
    assert st.set_index("person_id").loc[P["lost"], "aid_items"] == "x"


# ------------------------------------------------------------------ the sample county and its answer key
def _load_sample():
    folder = REPO / "data" / "samples"
    ws = load_folder(folder, progress=False)
    answer = pd.read_csv(folder / "answer_key.csv", dtype=str, encoding="utf-8-sig", keep_default_na=False)
    return ws, answer


OWN_KINDS = ["id_invalid", "id_precision_lost", "duplicate_record", "name_mismatch", "sex_mismatch",
             "birthdate_mismatch", "stage_mismatch", "not_enrolled", "exception_unverified", "missing_from_registry"]


def score_against_key(found: pd.DataFrame, answer: pd.DataFrame) -> dict[str, tuple[float, float, set, set]]:
    """Per kind: precision, recall, false positives, misses on (kind, id_number, item, period)."""
    def keys(df):
        d = df[["kind", "id_number", "item", "period"]].astype("string").fillna("")
        return set(map(tuple, d.to_numpy()))

    out = {}
    for kind in OWN_KINDS:
        f = keys(found[found["kind"] == kind])
        a = keys(answer[answer["kind"] == kind])
        tp = len(f & a)
        prec = tp / len(f) if f else 1.0
        rec = tp / len(a) if a else 1.0
        out[kind] = (prec, rec, f - a, a - f)
    return out


def is_typo(bad: str, true: str) -> bool:
    """One wrong character, two adjacent characters swapped, or the 15-digit prefix of an Excel-mangled ID."""
    if len(bad) != 18 or len(true) != 18:
        return False
    diff = [i for i in range(18) if bad[i] != true[i]]
    if len(diff) == 1:
        return True
    if len(diff) == 2 and diff[1] == diff[0] + 1:
        i = diff[0]
        return bad[i] == true[i + 1] and bad[i + 1] == true[i]
    return bad.endswith("000") and bad[:15] == true[:15]


def suggestion_hit_rate(found: pd.DataFrame, answer: pd.DataFrame) -> tuple[int, int]:
    """(right first suggestions, injected ID typos): the suggested ID of the finding on a typo'd ID is the real one."""
    typos = answer[answer["kind"].isin(["id_invalid", "id_precision_lost"]) & answer["true_id"].ne("")]
    typos = typos[[is_typo(b, t) for b, t in zip(typos["id_number"], typos["true_id"])]]
    sugg = found.drop_duplicates(["kind", "id_number"]).set_index(["kind", "id_number"])["suggested_id"]
    hits = sum(str(sugg.get((k, i), "")) == t for k, i, t in typos[["kind", "id_number", "true_id"]].to_numpy())
    return int(hits), len(typos)


def test_sample_county_matches_answer_key():
    ws, answer = _load_sample()
    found = pd.concat([reconcile.findings(ws), dropout.findings(ws)], ignore_index=True)
    scores = score_against_key(found, answer)
    for kind, (p, r, fp, fn) in scores.items():
        print(f"{kind:24s} precision {p:6.1%} recall {r:6.1%} fp {sorted(fp)[:3]} fn {sorted(fn)[:3]}")
    hits, n = suggestion_hit_rate(found, answer)
    print(f"ID typo suggestions right: {hits}/{n}")
    bad = {k: v for k, v in scores.items() if v[0] < 1 or v[1] < 1}
    assert not bad, {k: (v[0], v[1], sorted(v[2])[:5], sorted(v[3])[:5]) for k, v in bad.items()}
    assert n == 0 or hits / n >= 0.95


@pytest.mark.slow
def test_generated_60k_county_matches_answer_key(county_60k_parquet):
    out = county_60k_parquet
    ws = load_parquet_folder(out, AS_OF)
    answer = pd.read_csv(Path(out) / "answer_key.csv", dtype=str, encoding="utf-8-sig", keep_default_na=False)
    found = pd.concat([reconcile.findings(ws), dropout.findings(ws)], ignore_index=True)
    scores = score_against_key(found, answer)
    for kind, (p, r, fp, fn) in scores.items():
        print(f"{kind:24s} precision {p:6.1%} recall {r:6.1%}")
    bad = {k: v for k, v in scores.items() if v[0] < 1 or v[1] < 1}
    assert not bad, {k: (v[0], v[1], sorted(v[2])[:5], sorted(v[3])[:5]) for k, v in bad.items()}
    hits, total = suggestion_hit_rate(found, answer)
    assert total == 0 or hits / total >= 0.95


@pytest.mark.slow
def test_lazy_parquet_workspace_gives_the_same_findings(county_60k_parquet):
    eager = load_parquet_folder(county_60k_parquet, AS_OF)
    lazy = load_parquet_folder(county_60k_parquet, AS_OF, lazy=True)
    a = pd.concat([reconcile.findings(eager), dropout.findings(eager)], ignore_index=True)
    b = pd.concat([reconcile.findings(lazy), dropout.findings(lazy)], ignore_index=True)
    pd.testing.assert_frame_equal(a, b)
    assert not any(lazy.tables.loaded(k) for k in lazy.tables.paths)   # nothing was read into pandas
