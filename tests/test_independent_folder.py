"""End-to-end on an independent folder of exports (tests/independent/build.py, not made by workbench.samples):
every file lands in the right system with the rows we wrote, and all_findings matches the hand-built answer key
per kind (precision and recall 100 %)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

import workbench
from workbench import findings as wb_findings


def _builder():
    """tests/independent/build.py, loaded by path under its own name."""
    path = Path(__file__).resolve().parent / "independent" / "build.py"
    spec = importlib.util.spec_from_file_location("independent_build", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


independent = _builder()

AS_OF = dt.date(2019, 11, 30)
GRAIN = ["kind", "id_number", "item", "period"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return independent.build(tmp_path_factory.mktemp("independent") / "旬阳县教育扶贫数据")


@pytest.fixture(scope="module")
def ws(built, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("WORKBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    return workbench.load_folder(built.root, as_of=AS_OF, progress=False)


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def found(ws):
    return wb_findings.all_findings(ws)


def test_the_builder_does_not_use_the_generator():
    here = Path(independent.__file__).parent
    for name in ("build.py", "tables.py"):
        code = (here / name).read_text(encoding="utf-8")
        assert "import workbench" not in code and "from workbench" not in code, name


def test_every_file_in_its_system_with_the_rows_written(built, ws):
    rep = ws.report.copy()
    rep["sheet"] = rep["sheet"].fillna("")
    got = {}
    for r in rep.itertuples():
        system = None if pd.isna(r.system) else r.system
        got[(str(r.file).replace("\\", "/"), str(r.sheet))] = (system, int(r.rows_loaded or 0), int(r.rows_rejected or 0))
    assert len(ws.warnings) == 0, ws.warnings.head(10).to_string()  # every value of the folder is readable
    placed = rep[rep["system"].notna()]
    assert (placed["rows_read"] == placed["rows_loaded"] + placed["rows_rejected"]).all()
    problems = []
    for k, v in built.expect.items():
        g = got.get(k)
        if g is None or g[:2] != v[:2] or (v[2] is not None and g[2] != v[2]):
            problems.append(f"{k}: expected {v}, got {g}")
    extra = sorted(set(got) - set(built.expect))
    assert not problems and not extra, "\n".join(problems + [f"unexpected {e}: {got[e]}" for e in extra])


def test_terms_and_canonical_values(built, ws):
    reg = ws.table("registry")
    counts = [(k[0], v[1]) for k, v in built.expect.items() if v[0] == "registry"]
    SPRING = sum(n for f, n in counts if "第二学期" in f)
    FALL = sum(n for f, n in counts if "第二学期" not in f)
    assert reg.groupby("term").size().to_dict() == {"2019春": SPRING, "2019秋": FALL}
    fall = ws.registry_term("2019秋")
    assert set(fall["sex"].dropna()) == {"男", "女"}
    assert set(fall["boarding"].dropna()) == {"住校", "走读"}
    assert set(fall["left_behind"].dropna()) <= {"非留守", "单亲留守", "双亲留守"}
    assert fall["left_behind"].notna().all() and fall["boarding"].notna().all() and fall["birth_date"].notna().all()
    assert fall["migrant"].fillna(False).sum() == 2
    assert set(fall["stage"]) == {"小学", "初中", "高中"}
    assert fall["grade"].notna().all()
    assert set(fall.loc[fall["school_name"] == "旬阳县中学", "town"]) == {"城关镇"}
    roster = ws.table("roster")
    assert roster["person_no"].str.len().isin([20]).all()
    lü = roster[roster["town"] == "吕河镇"]
    assert lü["sex"].isna().all()  # 1/2 codes of a platform that codes 1 女 2 男: the ID decides
    acts = ws.table("activities")
    assert set(acts["activity"].dropna()) == {"帮扶记录", "家访", "心理疏导"}
    # a log without 活动类型 is typed by workbench.mentoring from its sheet / file name (家访记录)
    assert set(acts.loc[acts["activity"].isna(), "source_file"]) <= {"结对帮扶/蜀河镇初级中学家访记录.xlsx"}
    assert acts["date"].notna().all()
    assert acts["date"].min() >= pd.Timestamp("2019-08-30") and acts["date"].max() <= pd.Timestamp("2019-11-30")
    aid = ws.table("aid")
    assert set(aid["term"]) == {"2019秋"}
    assert aid["item"].notna().all()


def test_registry_rows_carry_what_was_written(built, ws):
    """Every 2019秋 registry row, decoded from codes / labels / 1-男 styles, equals the pupil the builder wrote."""
    fall = ws.registry_term("2019秋").copy()
    want = []
    for p in built.county.people:
        if not (p.fall and p.school):
            continue
        schools = [p.school] + ([p.ov["also_at"]] if p.ov.get("also_at") else [])
        for s in schools:
            want.append({"student_no": "G" + p.id, "school_name": independent.T.SCHOOLS[s][0],
                         "town": independent.T.SCHOOLS[s][1], "name": p.name, "sex": p.ov.get("reg_sex", p.sex),
                         "birth_date": str(p.ov.get("reg_birth", p.birth)), "stage": p.stage,
                         "grade": p.grade(), "boarding": p.boarding, "left_behind": p.left, "migrant": p.migrant,
                         "disability": p.disability, "inclusive": p.inclusive, "status": p.fall_status})
    want = pd.DataFrame(want).drop_duplicates().sort_values(["student_no", "school_name"]).reset_index(drop=True)
    got = fall[list(want.columns)].copy()
    got["status"] = got["status"].fillna("在读")
    got = got.drop_duplicates().astype(object).sort_values(["student_no", "school_name"]).reset_index(drop=True)
    got["grade"] = got["grade"].astype(int)
    got["migrant"] = got["migrant"].astype(bool)
    got["birth_date"] = pd.to_datetime(got["birth_date"]).dt.strftime("%Y-%m-%d")
    diff = []
    for col in want.columns:
        bad = want[col].astype(str) != got[col].astype(str)
        if bad.any():
            i = bad.idxmax()
            diff.append(f"{col}: {bad.sum()} rows differ, e.g. {want.loc[i, 'student_no']} want {want.loc[i, col]!r} "
                        f"got {got.loc[i, col]!r}")
    assert len(want) == len(got) and not diff, "\n".join(diff)


def test_ids_grades_and_items_as_written(built, ws):
    people = built.county.people
    # the pupil's own ID, never a family member's (成员1身份证件号 / 成员2身份证件号 in the high-school CSV)
    hs = ws.registry_term("2019秋").query("school_name == '旬阳县中学'")
    assert set(hs["id_number"]) == {p.id for p in people if p.fall and p.school == "S4"}
    # a 15-digit roster number upgraded to 18 digits and valid
    old15 = [p.id for p in people if p.ov.get("roster_15")]
    roster = ws.table("roster").set_index("id_number")
    assert all(bool(roster.loc[i, "id_valid"]) for i in old15)
    # school-made grade names in the aid and 学困生 lists: 初一 / 七年级 / 高一 / 高中二年级
    for key in ("aid", "struggling"):
        t = ws.table(key)
        for label, stage, grade in (("初一", "初中", 1), ("七年级", "初中", 1), ("高一", "高中", 1),
                                    ("高中二年级", "高中", 2), ("三年级", "小学", 3)):
            rows = t[t["grade_label"] == label]
            if len(rows):
                assert set(rows["stage"]) == {stage} and set(rows["grade"]) == {grade}, (key, label)
    aid = ws.table("aid")
    assert not aid["name"].str.contains("\u3000| ", regex=True).any()
    assert set(aid["item"]) == {"compulsory_living", "hs_grant", "hs_fee_waiver"}
    assert aid["amount"].sum() == pytest.approx(sum(r["amount"] for r in built.county.aid))


def _keyed(df: pd.DataFrame) -> set[tuple]:
    out = set()
    for r in df[GRAIN].itertuples(index=False):
        out.add(tuple("" if (v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v))) else str(v) for v in r))
    return out


def comparison(key: pd.DataFrame, found: pd.DataFrame) -> tuple[pd.DataFrame, set, set]:
    want, got = _keyed(key), _keyed(found)
    kinds = sorted({k[0] for k in want | got})
    rows = []
    for k in kinds:
        w = {x for x in want if x[0] == k}
        g = {x for x in got if x[0] == k}
        tp = len(w & g)
        rows.append({"kind": k, "key": len(w), "found": len(g), "hit": tp,
                     "precision": tp / len(g) if g else 1.0, "recall": tp / len(w) if w else 1.0})
    return pd.DataFrame(rows), want - got, got - want


def test_findings_match_the_answer_key(built, found):
    table, missed, spurious = comparison(built.key, found)
    if missed or spurious:
        lines = [table.to_string(index=False), "", "missed (in the key, not found):"]
        for m in sorted(missed):
            d = built.key[(built.key["kind"] == m[0]) & (built.key["id_number"] == m[1])]["detail"].tolist()
            lines.append(f"  {m} key: {d}")
        lines.append("spurious (found, not in the key):")
        for s in sorted(spurious):
            d = [str(x) for x in found[(found["kind"] == s[0]) & (found["id_number"] == s[1])]["detail"].tolist()]
            lines.append(f"  {s} {d[:2]}")
        pytest.fail("\n".join(lines))


def test_cli_findings_json(built, found, tmp_path):
    """`workbench findings DIR --out x.json` runs on the folder and writes the same findings as all_findings."""
    from workbench import cli
    out = tmp_path / "x.json"
    rc = cli.main(["findings", str(built.root), "--as-of", "2019-11-30", "--out", str(out)])
    assert rc == 0
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert rows and set(rows[0]) >= set(wb_findings.FINDING_COLUMNS)
    assert _keyed(pd.DataFrame(rows)) == _keyed(found)
    assert {r["kind"] for r in rows} == set(built.key["kind"])
