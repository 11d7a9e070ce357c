"""Person linking across systems: person_id by ID, confident candidates for bad IDs, evidence, suggestions."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from builders import frame, make_id, typo
from workbench import link

ZHANG = make_id("61092820080101123")   # 男, born 2008-01-01
LI = make_id("61092820090505224")      # 女, born 2009-05-05
WANG = make_id("61092820100303123")    # 男, born 2010-03-03
REG = ["term", "school_name", "town", "student_no", "name", "sex", "birth_date", "id_number", "id_valid",
       "id_reason", "stage", "grade", "status"]
ROS = ["town", "village", "name", "sex", "birth_date", "id_number", "id_valid", "id_reason", "stage", "grade"]
AID = ["term", "school_name", "town", "name", "id_number", "id_valid", "id_reason", "student_no", "item", "amount"]


def tables() -> dict[str, pd.DataFrame]:
    bad_zhang = typo(ZHANG, 12)
    registry = frame([
        # typo in the registry, homophone name: roster keeps the right ID
        {"term": "2019秋", "school_name": "旬阳县蜀河镇中心小学", "town": "蜀河镇", "student_no": "G" + ZHANG, "name": "张玮",
             "sex": "男", "birth_date": "2008-01-01", "id_number": bad_zhang, "id_valid": False, "id_reason": "bad_checksum",
             "stage": "小学", "grade": 6},
        {"term": "2019秋", "school_name": "旬阳县蜀河镇中心小学", "town": "蜀河镇", "student_no": "G" + LI, "name": "李娜",
             "sex": "女", "birth_date": "2009-05-05", "id_number": LI, "id_valid": True, "id_reason": "ok", "stage": "小学", "grade": 5},
        {"term": "2019秋", "school_name": "旬阳县蜀河镇中心小学", "town": "蜀河镇", "student_no": "G" + WANG, "name": "王强",
             "sex": "男", "birth_date": "2010-03-03", "id_number": WANG, "id_valid": True, "id_reason": "ok", "stage": "小学",
             "grade": 4},
    ], REG)
    roster = frame([
        {"town": "蜀河镇", "village": "红岩村", "name": "张伟", "sex": "男", "birth_date": "2008-01-01", "id_number": ZHANG,
             "id_valid": True, "id_reason": "ok", "stage": "小学", "grade": None},
        {"town": "蜀河镇", "village": "红岩村", "name": "李娜", "sex": "女", "birth_date": "2009-05-05", "id_number": LI,
             "id_valid": True, "id_reason": "ok", "stage": "小学", "grade": None},
    ], ROS)
    lost = LI[:15] + "000"
    aid = frame([
        {"term": "2019秋", "school_name": "旬阳县蜀河镇中心小学", "town": "蜀河镇", "name": "李娜", "id_number": lost,
             "id_valid": False, "id_reason": "precision_lost", "student_no": "G" + LI, "item": "x", "amount": 250.0},
        # a transposition in the aid list (positions 15/16 swapped)
        {"term": "2019秋", "school_name": "旬阳县蜀河镇中心小学", "town": "蜀河镇", "name": "王强",
             "id_number": WANG[:14] + WANG[15] + WANG[14] + WANG[16:], "id_valid": False, "id_reason": "bad_checksum",
             "student_no": None, "item": "x", "amount": 250.0},
    ], AID)
    return {"registry": registry, "roster": roster, "aid": aid}


def test_bad_registry_id_links_to_roster_person_with_evidence():
    t = tables()
    linked = link.attach_person_ids(t, dt.date(2019, 11, 30))
    reg = linked["registry"]
    row = reg.iloc[0]
    assert row["person_id"] == ZHANG
    assert row["link_method"] == "candidate"
    assert row["suggested_id"] == ZHANG
    ev = row["link_evidence"]
    assert "姓名同音（张玮/张伟）" in ev and "出生日期相同" in ev and "性别相同" in ev
    assert "身份证号相差1位（第12位）" in ev
    assert ev.startswith("建档立卡")
    # valid records keep their own ID
    assert list(reg["person_id"].iloc[1:]) == [LI, WANG]
    assert list(reg["link_method"].iloc[1:]) == ["id", "id"]
    # the input frames are not rewritten
    assert "person_id" not in t["registry"].columns
    assert t["registry"]["id_number"].iloc[0] != ZHANG


def test_precision_lost_and_transposition_link():
    linked = link.attach_person_ids(tables(), dt.date(2019, 11, 30))
    aid = linked["aid"]
    assert aid["person_id"].tolist() == [LI, WANG]
    assert "前15位相同" in aid["link_evidence"].iloc[0]
    assert "相邻两位颠倒" in aid["link_evidence"].iloc[1]


def test_cached_per_object():
    t = tables()
    a = link.attach_person_ids(t, dt.date(2019, 11, 30))
    b = link.attach_person_ids(t, dt.date(2019, 11, 30))
    assert a is b


def test_ambiguous_candidates_do_not_link():
    t = tables()
    twin = make_id("61092820080101125")  # another 张伟, same birth date and sex, also one digit from the typo? no
    bad = t["registry"]["id_number"].iloc[0]
    # a second person exactly one digit away from the bad ID with the same name and birth date
    other = None
    for pos in range(15, 18):
        for d in "0123456789":
            cand = bad[: pos - 1] + d + bad[pos:]
            cand = cand[:17]
            full = make_id(cand)
            if full != ZHANG and sum(a != b for a, b in zip(full, bad)) == 1:
                other = full
                break
        if other:
            break
    assert other is not None and twin
    extra = t["roster"].iloc[[0]].copy()
    extra["id_number"] = other
    extra["sex"] = "男" if int(other[16]) % 2 else "女"
    t["roster"] = pd.concat([t["roster"], extra], ignore_index=True)
    linked = link.attach_person_ids(t, dt.date(2019, 11, 30))
    row = linked["registry"].iloc[0]
    cands = link.candidates(t)
    mine = cands[cands["record_id_number"] == bad]
    if mine["confident"].sum() >= 2:
        assert pd.isna(row["person_id"]) and pd.isna(row["suggested_id"])
    else:  # the other ID has another sex: still a unique confident candidate
        assert row["person_id"] == ZHANG


def test_candidates_and_suggest_for():
    t = tables()
    cands = link.candidates(t, dt.date(2019, 11, 30))
    assert set(link.CANDIDATE_COLUMNS) <= set(cands.columns)
    top = cands[(cands["record_id_number"] == t["registry"]["id_number"].iloc[0]) & (cands["rank"] == 1)]
    assert top["candidate_id"].tolist() == [ZHANG]

    class WS:
        tables = t
        as_of = dt.date(2019, 11, 30)
        term = "2019秋"

    s = link.suggest_for("张玮", typo(ZHANG, 5), birth_date="2008-01-01", sex="男", ws=WS())
    assert s["candidate_id"].iloc[0] == ZHANG
    assert "身份证号相差1位（第5位）" in s["evidence"].iloc[0]
    s2 = link.suggest_for("李娜", LI, ws=WS())
    assert s2["candidate_id"].iloc[0] == LI and "身份证号相同" in s2["evidence"].iloc[0]


def test_wrong_length_id_still_gets_candidates_with_evidence():
    t = tables()
    reg = t["registry"].copy()
    short = reg.iloc[[1]].copy()
    short["id_number"] = LI[:17]            # one character dropped
    short["id_valid"] = False
    short["id_reason"] = "bad_length"
    short["name"] = "李娜"
    short["school_name"] = "旬阳县蜀河镇红岩小学"
    t["registry"] = pd.concat([reg, short], ignore_index=True)
    linked = link.attach_person_ids(t, dt.date(2019, 11, 30))
    row = linked["registry"].iloc[-1]
    # no ID comparison is possible, so it is not confident, but the candidate is listed with its evidence
    assert pd.isna(row["person_id"])
    cands = link.candidates(t)
    mine = cands[cands["record_id_number"] == LI[:17]]
    assert mine["candidate_id"].iloc[0] == LI
    assert "姓名相同" in mine["evidence"].iloc[0] and "出生日期相同" in mine["evidence"].iloc[0]


def test_name_key_hashes_equal_exactly_when_pinyin_keys_are_equal():
    names = pd.Series(["张伟", "张玮", "章伟", "李娜", "阿依·古丽", "阿依古丽", "王强", "zhang", "Zhang", None, ""],
                      dtype="string")
    keys = link.name_keys(names)
    hashes = link.name_key_hashes(names)
    assert hashes.isna().tolist() == [False] * 9 + [True, True]
    for i in range(9):
        for j in range(9):
            assert (keys[i] == keys[j]) == (hashes[i] == hashes[j]), (names[i], names[j])


def test_valid_id_found_nowhere_lists_candidates_but_never_links():
    # the roster writes a different valid ID for the registry's 李娜 (same name, birth date and sex): two valid IDs
    # differ in at least two places, so the pair is listed as a candidate with its evidence, never linked
    t = tables()
    other = make_id(LI[:14] + "987")
    t["roster"].loc[1, "id_number"] = other
    linked = link.attach_person_ids(t, dt.date(2019, 11, 30))
    assert linked["roster"]["person_id"].iloc[1] == other
    assert pd.isna(linked["roster"]["suggested_id"].iloc[1])
    cands = link.candidates(t, dt.date(2019, 11, 30))
    row = cands[(cands["record_id_number"] == other) & (cands["candidate_id"] == LI)]
    assert len(row) == 1 and not bool(row["confident"].iloc[0])
    assert "姓名相同" in row["evidence"].iloc[0] and "出生日期相同" in row["evidence"].iloc[0]


def test_a_name_only_a_bad_record_carries_still_counts_as_homophone():
    """A pairs record (学生姓名 written only there, as a homophone) with a mistyped ID links by its pinyin: its name
    is added to the name table after the candidates' names."""
    t = tables()
    pairs = frame([{"school_name": "旬阳县蜀河镇中心小学", "town": "蜀河镇", "student_name": "李纳",
                    "id_number": typo(LI, 16), "id_valid": False, "id_reason": "bad_checksum"}],
                  ["school_name", "town", "student_name", "id_number", "id_valid", "id_reason"])
    t["pairs"] = pairs
    linked = link.attach_person_ids(t, dt.date(2019, 11, 30))["pairs"]
    assert linked["person_id"].tolist() == [LI]
    assert "姓名同音（李纳/李娜）" in linked["link_evidence"].iloc[0]


def test_key_conjuncts_of_blocking_rules():
    """The candidates are narrowed by a rule's top-level `l.a = r.b` conjuncts on cheap keys only: an OR at the
    top, a key inside a function or parentheses, or a costly key (birth date) gives no such condition."""
    k = link._key_conjuncts
    assert k("l.birth_date = r.birth_date AND l.name_key = r.name_key") == [("name_key", "name_key")]
    assert k("l.name_key = r.name_key AND l.town = r.town AND year(l.birth_date) = year(r.birth_date)") == [
        ("name_key", "name_key"), ("town", "town")]
    assert k("r.student_no = l.student_no") == [("student_no", "student_no")]
    assert k("substr(l.id_number, 1, 15) = substr(r.id_number, 1, 15)") == []
    assert k("l.name_key = r.name_key OR l.student_no = r.student_no") == []
    assert k("l.town = r.town AND (l.name_key = r.name_key OR l.school = r.school)") == [("town", "town")]
    assert k("l.birth_date = r.birth_date") == []
