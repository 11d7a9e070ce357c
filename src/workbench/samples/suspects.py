"""The province's 疑似问题 list for the sample county, and its key (`suspects_key.csv`).

Most items point at injected defects (with the ID as the province has it), some are 不属实 (the county's data is
right), a few name people the county cannot find.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .county import Ctx, make_ids, random_dates, random_names

CATEGORY = {   # injected kind -> the province's 问题类型
    "id_invalid": "身份证号错误",
    "id_precision_lost": "身份证号错误",
    "duplicate_record": "身份证件号重复",
    "name_mismatch": "身份证号与姓名不匹配",
    "sex_mismatch": "人员信息不一致",
    "birthdate_mismatch": "人员信息不一致",
    "stage_mismatch": "在校生状况与学籍不一致",
    "not_enrolled": "疑似辍学",
    "missing_from_registry": "学籍系统无此人",
    "aid_missed": "应助未助",
    "aid_duplicate": "重复资助",
    "aid_ineligible": "不符合条件的受资助对象",
}
DESCRIPTION = {
    "身份证号错误": "身份证号校验不通过，与公安人口信息比对不一致",
    "身份证件号重复": "同一身份证件号在学籍系统中存在多条在籍记录",
    "身份证号与姓名不匹配": "身份证号与公安人口库登记姓名不一致",
    "人员信息不一致": "学籍、扶贫、公安系统中性别或出生日期不一致",
    "在校生状况与学籍不一致": "全国扶贫开发信息系统在校生状况与学籍系统不一致",
    "疑似辍学": "建档立卡适龄儿童未在学籍系统中，疑似辍学",
    "学籍系统无此人": "上学期在籍学生本学期学籍系统中无此人",
    "应助未助": "建档立卡学生未享受应享受的资助项目",
    "重复资助": "同一学生同一学期重复享受同一资助项目",
    "不符合条件的受资助对象": "受资助学生不在校或不符合资助条件",
}
ISSUED = pd.Timestamp("2019-11-20")
DEADLINE = pd.Timestamp("2019-11-27")


def build_suspects(ctx: Ctx, county: dict, key: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(suspects list rows, suspects key). 60-150 items depending on the county's size."""
    rng = ctx.rng
    people = county["people"].set_index("_pid", drop=False)
    st = county["students"].set_index("_pid", drop=False)
    n_items = int(np.clip(round(ctx.n_students / 3000 * 80), 60, 150))
    n_true = int(n_items * 0.7)
    n_false = int(n_items * 0.2)
    n_missing = n_items - n_true - n_false
    k = key[key["kind"].isin(CATEGORY)].drop_duplicates("_pid")
    k = k.iloc[np.sort(rng.choice(len(k), min(n_true, len(k)), replace=False))]
    rows = []
    for _, r in k.iterrows():
        p = people.loc[r["_pid"]]
        cat = CATEGORY[r["kind"]]
        correct_id, correct_value = None, None
        if r["kind"] in ("id_invalid", "id_precision_lost"):
            correct_id = r["true_id"]
        elif r["kind"] == "name_mismatch":
            correct_value = p["name"]
        elif r["kind"] == "sex_mismatch":
            correct_value = p["sex"]
        elif r["kind"] == "birthdate_mismatch":
            correct_value = f"{pd.Timestamp(p['birth_date']):%Y-%m-%d}"
        elif r["kind"] == "stage_mismatch":
            s = st.loc[r["_pid"]]
            correct_value = f"{s['stage']}{int(s['grade'])}年级"
        rows.append({"pid": r["_pid"], "name": r["_name"] if isinstance(r["_name"], str) else p["name"],
                     "id_number": r["id_number"], "category": cat, "cause": r["kind"], "correct_id": correct_id,
                     "correct_value": correct_value})
    used = set(key["_pid"])
    clean = st[st["poor"] & ~st["_pid"].isin(used)]
    clean = clean.iloc[np.sort(rng.choice(len(clean), min(n_false, len(clean)), replace=False))]
    cats = ["疑似辍学", "学籍系统无此人", "在校生状况与学籍不一致", "身份证号与姓名不匹配"]
    for j, (_, s) in enumerate(clean.iterrows()):
        rows.append({"pid": s["_pid"], "name": s["name"], "id_number": s["id_number"], "category": cats[j % 4],
                     "cause": "不属实", "correct_id": None, "correct_value": None})
    # people the county cannot find (not in any of its systems)
    sex = np.where(rng.random(n_missing) < 0.5, "男", "女")
    birth = random_dates(rng, np.datetime64("2005-09-01"), np.datetime64("2013-08-31"), n_missing)
    ghost_ids = make_ids(ctx, np.full(n_missing, "610928"), birth, sex)
    ghost_ids = [g for g in ghost_ids if g not in set(people["id_number"])]
    ghost_names = random_names(ctx, sex)
    towns = ctx.towns["town"].to_numpy()
    for j, g in enumerate(ghost_ids):
        rows.append({"pid": -1, "name": ghost_names[j], "id_number": g, "category": "疑似辍学", "cause": "not_found",
                     "correct_id": None, "correct_value": None, "town": towns[rng.integers(0, len(towns))]})
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    out, skey = [], []
    for seq, r in enumerate(rows, start=1):
        pid = r["pid"]
        if pid >= 0:
            p = people.loc[pid]
            town, village = p["home_town"], p["village"]
            school = st.loc[pid, "school_name"] if pid in st.index else None
        else:
            town, village, school = r["town"], None, None
        out.append({"seq": str(seq), "city": "安康市", "county": "旬阳县", "town": town, "village": village,
                    "school_name": school, "name": r["name"], "id_number": r["id_number"], "category": r["category"],
                    "description": DESCRIPTION[r["category"]], "issued_date": ISSUED, "deadline": DEADLINE})
        skey.append({"seq": seq, "category": r["category"], "id_number": r["id_number"], "cause": r["cause"],
                     "correct_id": r["correct_id"], "correct_value": r["correct_value"]})
    return pd.DataFrame(out), pd.DataFrame(skey)
