"""Triage of a suspected-error list against hand-made local tables (synthetic people)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from workbench import ids
from workbench.followup.triage import roster_status_label, triage

AS_OF = dt.date(2019, 11, 30)
S = "旬阳县蜀河镇中心小学"
J = "旬阳县蜀河镇初级中学"


def pid(birth: str, seq: int) -> str:
    return ids.compose(["610928"], [birth], [seq]).iloc[0]


def typo(value: str, pos: int = 15) -> str:
    """One wrong digit at `pos` (0-based) that breaks the check digit."""
    digit = str((int(value[pos]) + 3) % 10)
    out = value[:pos] + digit + value[pos + 1:]
    assert not ids.is_valid(pd.Series([out]), as_of=AS_OF).iloc[0]
    return out


P = {  # the people (all synthetic)
    "typo": ("王小明", pid("2010-03-05", 11), "男", "2010-03-05"),
    "name": ("张伟", pid("2011-04-06", 13), "男", "2011-04-06"),
    "stage": ("李娜", pid("2007-05-07", 22), "女", "2007-05-07"),
    "enrolled": ("赵强", pid("2009-06-08", 15), "男", "2009-06-08"),
    "dropout": ("孙丽", pid("2008-07-09", 24), "女", "2008-07-09"),
    "sex": ("周杰", pid("2010-08-10", 17), "男", "2010-08-10"),
    "ledger": ("吴敏", pid("2009-09-11", 26), "女", "2009-09-11"),
    "double": ("郑好", pid("2010-10-12", 19), "男", "2010-10-12"),
    "hidden": ("冯雪", pid("2011-11-13", 28), "女", "2011-11-13"),
}
TYPO_ID = typo(P["typo"][1])
HIDDEN_TYPO = typo(P["hidden"][1], 14)
ADULT_BAD = "619028" + pid("1980-01-01", 31)[6:]  # a region code that never existed


def registry() -> pd.DataFrame:
    rows = [
        ("王小明", TYPO_ID, "男", "2010-03-05", S, "小学", 4),
        ("张玮", P["name"][1], "男", "2011-04-06", S, "小学", 3),
        ("李娜", P["stage"][1], "女", "2007-05-07", J, "初中", 1),
        ("赵强", P["enrolled"][1], "男", "2009-06-08", S, "小学", 5),
        ("周杰", P["sex"][1], "女", "2010-08-10", S, "小学", 4),
        ("郑好", P["double"][1], "男", "2010-10-12", S, "小学", 4),
        ("郑好", P["double"][1], "男", "2010-10-12", "旬阳县吕河镇中心小学", "小学", 4),
        ("冯雪", HIDDEN_TYPO, "女", "2011-11-13", S, "小学", 3),
    ]
    df = pd.DataFrame(rows, columns=["name", "id_number", "sex", "birth_date", "school_name", "stage", "grade"])
    df["birth_date"] = pd.to_datetime(df["birth_date"])
    df["term"] = "2019秋"
    df["town"] = ["蜀河镇"] * 6 + ["吕河镇", "蜀河镇"]
    prev = df.iloc[[5]].assign(term="2019春", grade=3)  # last term: the double-enrolled pupil was at S only
    df = pd.concat([df.drop(columns="town"), prev.drop(columns="town")], ignore_index=True)
    df["town"] = ["蜀河镇"] * 6 + ["吕河镇", "蜀河镇", "蜀河镇"]
    df["status"] = pd.NA
    return df.astype({"id_number": "string", "name": "string"})


def roster() -> pd.DataFrame:
    rows = [(n, i, s, b) for n, i, s, b in P.values()] + [("钱大", ADULT_BAD, "男", "1980-01-01")]
    df = pd.DataFrame(rows, columns=["name", "id_number", "sex", "birth_date"])
    df["birth_date"] = pd.to_datetime(df["birth_date"])
    df["town"] = "蜀河镇"
    df["village"] = "一村"
    df["school_status_raw"] = ["小学", "小学", "小学", "小学", "非在校生", "小学", "非在校生", "小学", "小学",
                               "非在校生"]
    df["stage"] = ["小学", "小学", "小学", "小学", pd.NA, "小学", pd.NA, "小学", "小学", pd.NA]
    df["grade"] = pd.array([pd.NA] * 10, dtype="Int64")
    return df.astype({"id_number": "string", "name": "string"})


def aid() -> pd.DataFrame:
    df = pd.DataFrame({"name": ["张伟"], "id_number": [P["name"][1]], "school_name": [S], "stage": ["小学"],
                       "grade": [3], "item": ["一补"], "term": ["2019秋"], "town": ["蜀河镇"]})
    return df.astype({"id_number": "string", "name": "string"})


def ledger() -> pd.DataFrame:
    df = pd.DataFrame({"name": ["吴敏"], "id_number": [P["ledger"][1]], "town": ["蜀河镇"], "village": ["一村"],
                       "reason": ["县外就读"], "sex": ["女"], "birth_date": pd.to_datetime(["2009-09-11"])})
    return df.astype({"id_number": "string", "name": "string"})


def suspects() -> pd.DataFrame:
    rows = [
        ("王小明", TYPO_ID, "身份证号校验不通过"),
        ("张伟", P["name"][1], "人员信息不一致"),
        ("李娜", P["stage"][1], "在校生状况与学籍不一致"),
        ("赵强", P["enrolled"][1], "疑似辍学"),
        ("孙丽", P["dropout"][1], "适龄未入学"),
        ("钱多多", pid("2010-01-01", 99), "学籍系统无此人"),
        ("周杰", P["sex"][1], "人员信息不一致"),
        ("吴敏", P["ledger"][1], "疑似辍学"),
        ("钱大", ADULT_BAD, "身份证号错误"),
        ("郑好", P["double"][1], "身份证件号重复"),
        ("冯雪", P["hidden"][1], "学籍系统无此人"),
    ]
    df = pd.DataFrame(rows, columns=["name", "id_number", "category"])
    df["seq"] = [str(i + 1) for i in range(len(df))]
    df["town"] = "蜀河镇"
    df["school_name"] = S
    df["list_id"] = "第1批"
    df["deadline"] = pd.Timestamp("2019-12-05")
    return df


def local_tables() -> dict[str, pd.DataFrame]:
    """The canonical frames carry id_valid / id_reason (docs/design.md)."""
    out = {"registry": registry(), "roster": roster(), "aid": aid(), "ledger": ledger()}
    for df in out.values():
        chk = ids.check(df["id_number"], as_of=AS_OF)
        df["id_valid"] = chk["valid"].astype("boolean")
        df["id_reason"] = chk["reason"]
    return out


@pytest.fixture(scope="module")
def result() -> pd.DataFrame:
    tables = local_tables()
    return triage(suspects(), tables, findings=pd.DataFrame(columns=["kind", "label", "id_number"]), as_of=AS_OF)


def test_every_item_is_matched_or_explicitly_not_found(result):
    assert len(result) == 11
    assert result["match"].notna().all()
    assert result["match"].tolist()[5] == "本地未找到"
    assert result["likely_result"].tolist()[5] == "本地未找到"
    assert (result["match"] != "本地未找到").sum() == 10


def test_id_typo_suggests_the_linked_id_with_evidence(result):
    row = result.iloc[0]
    assert row["cause"] == "id_invalid"
    assert row["suggested_id"] == P["typo"][1]
    assert row["suggestion"].startswith(f"建议核对为 {P['typo'][1]}")
    assert "校验位错误" in row["suggestion"]
    assert bool(row["in_registry"]) and bool(row["in_roster"])
    assert row["responsible_school"] == S and row["responsible_town"] == "蜀河镇"


def test_name_mismatch_takes_the_name_most_systems_agree_on(result):
    row = result.iloc[1]
    assert (row["cause"], row["suggested_value"]) == ("name_mismatch", "张伟")
    assert "学籍" in row["suggestion"]


def test_stage_mismatch_suggests_the_roster_words_for_the_registry_grade(result):
    row = result.iloc[2]
    assert (row["cause"], row["suggested_value"]) == ("stage_mismatch", "初中1年级")
    assert row["suggestion"].startswith("建议在校生状况更正为 七年级")
    assert roster_status_label("高中", 2) == "高中二年级"


def test_enrolment_claims_are_checked_against_registry_and_ledger(result):
    assert result.iloc[3]["likely_result"] == "不属实" and S in result.iloc[3]["suggestion"]
    assert (result.iloc[4]["cause"], result.iloc[4]["likely_result"]) == ("not_enrolled", "属实")
    assert result.iloc[7]["likely_result"] == "不属实" and "县外就读" in result.iloc[7]["suggestion"]


def test_sex_mismatch_follows_the_id(result):
    row = result.iloc[6]
    assert (row["cause"], row["suggested_value"]) == ("sex_mismatch", "男")


def test_local_findings_are_reported():
    tables = local_tables()
    findings = pd.DataFrame({"kind": ["name_mismatch", "aid_missed"], "label": ["姓名不一致", "应助未助"],
                             "id_number": [P["name"][1], P["dropout"][1]], "item": [pd.NA, "一补"],
                             "period": [pd.NA, "2019秋"], "detail": ["学籍:张玮;建档立卡:张伟", "未发放一补"],
                             "suggestion": [pd.NA, "请补发"], "suggested_id": [pd.NA, pd.NA]})
    items = suspects()
    items.loc[4, "category"] = "应助未助"
    out = triage(items, tables, findings=findings, as_of=AS_OF)
    assert out.iloc[1]["local_finding"] == "是：姓名不一致"
    assert out.iloc[4]["cause"] == "aid_missed" and out.iloc[4]["likely_result"] == "属实"
    assert out.iloc[0]["local_finding"] == "否"


def test_an_invalid_id_nobody_else_holds_gets_the_county_code_when_one_swap_away(result):
    row = result.iloc[8]  # 619028… : the county code 610928 with two adjacent digits swapped
    assert (row["cause"], row["likely_result"]) == ("id_invalid", "属实")
    assert row["suggested_id"] == pid("1980-01-01", 31)
    assert "地区码不存在" in row["suggestion"] and "本县代码610928" in row["suggestion"]


def test_no_guess_when_the_records_do_not_determine_the_id():
    tables = local_tables()
    bad = pid("1981-02-02", 33)[:17] + ("0" if pid("1981-02-02", 33)[17] != "0" else "1")  # check digit only
    tables["roster"] = pd.concat([tables["roster"], pd.DataFrame({
        "name": ["孙大"], "id_number": [bad], "sex": ["男"], "birth_date": pd.to_datetime(["1981-02-02"]),
        "town": ["蜀河镇"], "village": ["一村"], "school_status_raw": ["非在校生"]})], ignore_index=True)
    chk = ids.check(tables["roster"]["id_number"], as_of=AS_OF)
    tables["roster"]["id_valid"], tables["roster"]["id_reason"] = chk["valid"].astype("boolean"), chk["reason"]
    items = pd.DataFrame({"name": ["孙大"], "id_number": [bad], "category": ["身份证号错误"], "seq": ["1"]})
    row = triage(items, tables, findings=pd.DataFrame(columns=["kind", "label", "id_number"]), as_of=AS_OF).iloc[0]
    assert (row["cause"], row["match"]) == ("id_invalid", "身份证号")
    assert pd.isna(row["suggested_id"]) and "校验位错误" in row["suggestion"]


def test_double_enrolment_keeps_last_terms_school(result):
    row = result.iloc[9]
    assert (row["cause"], row["suggested_value"]) == ("duplicate_record", S)
    assert "上学期" in row["suggestion"]


def test_missing_from_registry_explained_by_a_registry_id_typo(result):
    row = result.iloc[10]
    assert (row["cause"], row["suggested_id"]) == ("id_invalid", P["hidden"][1])
    assert "学籍" in row["suggestion"]


def test_triage_again_replaces_the_earlier_triage(result):
    again = triage(result, local_tables(), findings=pd.DataFrame(columns=["kind", "label", "id_number"]),
                   as_of=AS_OF)
    assert list(again.columns) == list(result.columns) and again.columns.is_unique
    assert again["suggestion"].equals(result["suggestion"])
