"""Defects injected into the clean county, one victim at a time, each recording the exact findings it implies.

Victims never overlap (one person, one injection), and each is chosen so the injection implies no other finding
(see the knock-on notes per kind). The result is the answer key (`answer_key.csv`, columns of docs/design.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import ids
from .county import (
    AS_OF,
    COHORT,
    TERM,
    Ctx,
    digits_of,
    id_strings,
    roster_status,
    school_days,
    stage_of_overall,
)

KEY_COLUMNS = ["kind", "system", "id_number", "item", "period", "detail", "true_id"]
BASE_COUNT = {  # victims per 3,000 pupils
    "id_invalid_registry": 5, "id_invalid_aid": 3, "id_invalid_roster": 3, "id_precision_lost": 4,
    "duplicate_record": 4, "duplicate_roster": 2, "name_mismatch": 6, "sex_mismatch": 5, "birthdate_mismatch": 5,
    "stage_mismatch": 6, "not_enrolled": 6, "exception_unverified": 4, "aid_missed": 6, "aid_ineligible": 6,
    "aid_duplicate": 4, "aid_amount_mismatch": 5, "missing_from_registry": 5, "mentor_missing": 5,
    "weekly_record_gap": 6, "home_visit_gap": 5, "pair_stale": 5,
}
STAGE_TEXT = {"小学": "小学", "初中": "初中", "高中": "高中", "中职": "中职"}


class Injector:
    """Holds the county's tables and the victims used so far; each `inject_*` method appends answer-key rows."""

    def __init__(self, ctx: Ctx, county: dict):
        self.ctx = ctx
        self.rng = ctx.rng
        self.t = county["tables"]
        self.st = county["students"].set_index("_pid", drop=False)
        self.lv = county["leavers"].set_index("_pid", drop=False)
        self.people = county["people"].set_index("_pid", drop=False)
        self.teachers = county["teachers"]
        self.used: set[int] = set()
        self.to_drop: dict[str, set] = {}
        self.drop_labels: dict[str, set] = {}
        self.changes: list[tuple[str, object, str, object]] = []
        for df in self.t.values():
            df["_pid"] = df["_pid"].astype(np.int64)
        self.key: list[dict] = []
        self.suspect_info: list[dict] = []
        scale = ctx.n_students / 3000
        self.count = {k: max(1, round(v * scale)) if scale < 1 else round(v * scale)
                      for k, v in BASE_COUNT.items()}
        self.t["registry"]["_id_cell"] = None
        aid_pids = set(self.t["aid"]["_pid"])
        st = self.st
        st["has_aid"] = st["_pid"].isin(aid_pids)
        b = pd.to_datetime(st["birth_date"])
        st["school_age"] = (b >= COHORT[0]) & (b <= COHORT[1])
        st["in_prev"] = ~((st["stage"] == "小学") & (st["grade"] == 1))
        self.id_set = set(self.people["id_number"])

    # ------------------------------------------------------------------ helpers
    def pick(self, frame: pd.DataFrame, mask, k: int) -> pd.DataFrame:
        cand = frame[np.asarray(mask) & ~frame["_pid"].isin(self.used).to_numpy()]
        k = min(k, len(cand))
        chosen = cand.iloc[np.sort(self.rng.choice(len(cand), k, replace=False))] if k else cand.iloc[:0]
        self.used.update(chosen["_pid"].tolist())
        return chosen

    def add(self, kind: str, system: str, id_number: str, detail: str, pid: int, item=None, period=None,
            true_id=None, listed_name: str | None = None):
        self.key.append({"kind": kind, "system": system, "id_number": id_number, "item": item, "period": period,
                         "detail": detail, "true_id": true_id, "_pid": pid, "_name": listed_name})

    def drop_rows(self, system: str, pids):
        """Remove every row of these people from a system (applied at the end of `run`, all at once)."""
        self.to_drop.setdefault(system, set()).update(int(p) for p in pids)

    def rows(self, system: str, pid) -> np.ndarray:
        """Index labels of a person's rows in a system (integer comparison, fast)."""
        df = self.t[system]
        return df.index[df["_pid"].to_numpy(dtype=np.int64) == int(pid)]

    def typo(self, id_number: str, positions: list[int], transposition: bool) -> str:
        """A single-digit substitution (or adjacent transposition) that fails the check, never ending in 00."""
        for _ in range(200):
            d = list(id_number)
            p = int(self.rng.choice(positions))
            if transposition and p < 16 and d[p] != d[p + 1]:
                d[p], d[p + 1] = d[p + 1], d[p]
            else:
                d[p] = str((int(d[p]) + int(self.rng.integers(1, 10))) % 10)
            new = "".join(d)
            # never ending in 00 and never exactly a float64 value: a reader could take either for Excel damage
            exact_float = new.isdigit() and int(float(new)) == int(new)
            if new.endswith("00") or new in self.id_set or exact_float:
                continue
            if ids.check(pd.Series([new]), as_of=AS_OF)["reason"].iloc[0] in ("bad_checksum", "bad_birthdate",
                                                                              "bad_region"):
                self.id_set.add(new)
                return new
        raise RuntimeError("样例生成：无法构造错误身份证号")

    def homophone(self, name: str) -> str | None:
        pairs = self.ctx.names["homophones"]
        for i in range(len(name) - 1, 0, -1):
            if name[i] in pairs and pairs[name[i]] != name[i]:
                return name[:i] + pairs[name[i]] + name[i + 1:]
        return None

    def set_value(self, system: str, pid: int, column: str, value):
        self.change(system, self.rows(system, pid), column, value)

    def change(self, system: str, labels, column: str, value):
        """Record a change of some rows (index labels); applied at the end of `run`, one column at a time."""
        self.changes.append((system, np.atleast_1d(np.asarray(labels)), column, value))

    def apply(self):
        """Apply the recorded changes, then drop rows (by label, then every row of the dropped people)."""
        by_col: dict[tuple[str, str], list] = {}
        for system, labels, column, value in self.changes:
            by_col.setdefault((system, column), []).append((labels, value))
        for (system, column), edits in by_col.items():
            df = self.t[system]
            arr = df[column].to_numpy(dtype=object, copy=True)
            for labels, value in edits:
                pos = df.index.get_indexer(labels)
                for p in pos:
                    arr[p] = value
            if pd.api.types.is_datetime64_any_dtype(df[column].dtype):
                df[column] = pd.to_datetime(pd.Series(arr, index=df.index))
            elif column == "amount":
                df[column] = arr.astype(float)
            else:
                df[column] = arr
        for system, labels in self.drop_labels.items():
            df = self.t[system]
            self.t[system] = df.drop(index=list(labels))
        for system, pids in self.to_drop.items():
            df = self.t[system]
            self.t[system] = df[~np.isin(df["_pid"].to_numpy(dtype=np.int64), list(pids))]
        for system in self.t:
            self.t[system] = self.t[system].reset_index(drop=True)

    # ------------------------------------------------------------------ kinds
    def inject_id_errors(self):
        st = self.st
        # registry typos: the roster keeps the right ID; name, birth date and sex stay equal so the linker finds it
        tail_ok = ~st["id_number"].str.endswith("00")   # a typo of such an ID would look like precision loss
        for _, v in self.pick(st, st["poor"] & tail_ok, self.count["id_invalid_registry"]).iterrows():
            trans = bool(self.rng.random() < 0.4)
            bad = self.typo(v["id_number"], list(range(6, 17)) if trans else list(range(17)), trans)
            self.change("registry", self.rows("registry", v["_pid"]), "id_number", bad)
            self.add("id_invalid", "registry", bad, f"学籍身份证件号校验不通过（{'相邻数字颠倒' if trans else '单个数字错误'}），"
                     f"建档立卡登记为 {v['id_number']}", v["_pid"], true_id=v["id_number"], listed_name=v["name"])
        # aid typos in the sequence digits (birth date and sex of the ID unchanged)
        for _, v in self.pick(st, st["poor"] & st["has_aid"] & tail_ok, self.count["id_invalid_aid"]).iterrows():
            bad = self.typo(v["id_number"], [14, 15], False)
            self.change("aid", self.rows("aid", v["_pid"]), "id_number", bad)
            self.add("id_invalid", "aid", bad, f"资助名单身份证件号校验不通过，学籍登记为 {v['id_number']}", v["_pid"],
                     true_id=v["id_number"], listed_name=v["name"])
        # roster adults: a region code that never existed, or an impossible birth date (check character recomputed)
        adults = self.people[(self.people["kind"] == "adult") & (self.people["household"] >= 0)]
        regions = ids.region_codes()
        for j, (_, v) in enumerate(self.pick(adults, np.ones(len(adults), bool),
                                            self.count["id_invalid_roster"]).iterrows()):
            d = digits_of(np.array([v["id_number"]]))
            if j % 2 == 0:
                for cand in ("619028", "610298", "691028", "610982"):
                    if cand not in regions:
                        d[0, :6] = [int(c) for c in cand]
                        break
                why = "地区码不存在"
            else:
                d[0, 10:14] = [0, 2, 3, 0]   # February 30th
                why = "出生日期不存在"
            bad = str(id_strings(d)[0])
            self.change("roster", self.rows("roster", v["_pid"]), "id_number", bad)
            self.add("id_invalid", "roster", bad, f"建档立卡证件号码{why}，应为 {v['id_number']}", v["_pid"],
                     true_id=v["id_number"], listed_name=v["name"])
        # Excel precision loss in the registry: a float cell with 15 significant digits
        ok_tail = st["id_number"].str[-1].ne("X")
        trunc = st["id_number"].str[:15] + "000"
        # the float cell Excel keeps, and its exact binary value as a reader prints it: both must fail the check
        exact = trunc.map(lambda v: str(int(float(v))))
        fails = ~ids.is_valid(trunc, as_of=AS_OF).to_numpy() & ~ids.is_valid(exact, as_of=AS_OF).to_numpy()
        fails &= ~exact.isin(self.id_set).to_numpy()
        # distinct 15-digit prefixes: unique within the chunk, and chunks use different birth days
        distinct = ~trunc.duplicated(keep=False)
        if self.ctx.n_chunks > 1:
            distinct &= pd.to_datetime(st["birth_date"]).dt.day % self.ctx.n_chunks == self.ctx.chunk
        for _, v in self.pick(st, st["poor"] & ok_tail & fails & distinct,
                              self.count["id_precision_lost"]).iterrows():
            cell = float(v["id_number"][:15] + "000")
            mangled = str(ids.normalize(pd.Series([cell], dtype=object)).iloc[0])
            m = self.rows("registry", v["_pid"])
            self.change("registry", m, "id_number", mangled)
            self.change("registry", m, "_id_cell", cell)
            self.add("id_precision_lost", "registry", mangled, "学籍身份证件号以数字格式保存，末三位丢失", v["_pid"],
                     true_id=v["id_number"], listed_name=v["name"])

    def inject_duplicates(self):
        st, t, sch = self.st, self.t, self.ctx.schools
        plain = (st["groups"] == "") & st["stage"].isin(["小学", "初中"])
        reg = t["registry"]
        extra = []
        for _, v in self.pick(st, plain, self.count["duplicate_record"]).iterrows():
            row = reg.loc[self.rows("registry", v["_pid"])].copy()
            types = ["小学", "九年制"] if v["stage"] == "小学" else ["初中", "九年制"]
            other = sch[sch["type"].isin(types) & (sch["town"] != v["town"])]
            o = other.iloc[int(self.rng.integers(0, len(other)))]
            row[["school_name", "school_code", "town"]] = [o["school_name"], o["school_code"], o["town"]]
            extra.append(row)
            self.add("duplicate_record", "registry", v["id_number"],
                     f"同一学期在两所学校有学籍：{v['school_name']}、{o['school_name']}", v["_pid"], listed_name=v["name"])
        if extra:
            t["registry"] = pd.concat([reg] + extra, ignore_index=True)
        ro = t["roster"]
        adults = self.people[(self.people["kind"] == "adult") & (self.people["household"] >= 0)]
        extra = []
        for _, v in self.pick(adults, np.ones(len(adults), bool), self.count["duplicate_roster"]).iterrows():
            row = ro.loc[self.rows("roster", v["_pid"])].copy()
            other = ro.iloc[int(self.rng.integers(0, len(ro)))]
            row[["town", "village", "hamlet", "household_no"]] = other[["town", "village", "hamlet",
                                                                       "household_no"]].to_numpy()
            row["person_no"] = str(other["household_no"]) + "09"
            row["relation"] = "其他"
            extra.append(row)
            self.add("duplicate_record", "roster", v["id_number"],
                     f"同一人在两户登记：{v['village']}、{other['village']}", v["_pid"], listed_name=v["name"])
        if extra:
            t["roster"] = pd.concat([ro] + extra, ignore_index=True)

    def inject_person_mismatches(self):
        st = self.st
        has_h = st["name"].map(lambda s: self.homophone(s) is not None)
        systems = ["registry", "roster", "aid"]
        for j, (_, v) in enumerate(self.pick(st, st["poor"] & st["has_aid"] & has_h,
                                            self.count["name_mismatch"]).iterrows()):
            system = systems[j % 3]
            new = self.homophone(v["name"])
            self.set_value(system, v["_pid"], "name", new)
            self.add("name_mismatch", system, v["id_number"], f"{label(system)}姓名为 {new}，其他系统为 {v['name']}",
                     v["_pid"], listed_name=new)
        # sex: registry (any pupil) or roster label
        for j, (_, v) in enumerate(self.pick(st, st["stage"].isin(["小学", "初中", "高中"]),
                                            self.count["sex_mismatch"]).iterrows()):
            system = "roster" if (v["poor"] and j % 2) else "registry"
            wrong = "女" if v["sex"] == "男" else "男"
            self.set_value(system, v["_pid"], "sex", wrong)
            self.add("sex_mismatch", system, v["id_number"], f"{label(system)}性别登记为{wrong}，身份证号为{v['sex']}性",
                     v["_pid"], listed_name=v["name"])
        for j, (_, v) in enumerate(self.pick(st, st["stage"].isin(["小学", "初中", "高中", "中职"]),
                                            self.count["birthdate_mismatch"]).iterrows()):
            system = "roster" if (v["poor"] and j % 2) else "registry"
            shift = int(self.rng.choice([-31, -10, -1, 1, 30, 365]))
            wrong = pd.Timestamp(v["birth_date"]) + pd.Timedelta(days=shift)
            self.set_value(system, v["_pid"], "birth_date", wrong)
            self.add("birthdate_mismatch", system, v["id_number"],
                     f"{label(system)}出生日期登记为{wrong:%Y-%m-%d}，身份证号为{pd.Timestamp(v['birth_date']):%Y-%m-%d}",
                     v["_pid"], listed_name=v["name"])
        # stage: the roster's 在校生状况 disagrees with the registry
        for _, v in self.pick(st, st["poor"], self.count["stage_mismatch"]).iterrows():
            s, g = v["stage"], int(v["grade"])
            if s == "小学":
                wrong = ("七年级", "初中", 1.0) if g == 6 else ("非在校生", None, np.nan)
            elif s == "初中":
                g2 = g + 1 if g < 3 else 1
                wrong = (roster_status(np.array(["初中"]), np.array([g2]))[0], "初中", float(g2))
            elif s == "高中":
                wrong = (roster_status(np.array(["中职"]), np.array([g]))[0], "中职", float(g))
            else:
                wrong = (roster_status(np.array(["高中"]), np.array([g]))[0], "高中", float(g))
            m = self.rows("roster", v["_pid"])
            self.change("roster", m, "school_status_raw", wrong[0])
            self.change("roster", m, "stage", wrong[1])
            self.change("roster", m, "grade", wrong[2])
            self.add("stage_mismatch", "roster", v["id_number"],
                     f"建档立卡在校生状况为{wrong[0]}，学籍为{s}{g}年级（{v['school_name']}）", v["_pid"],
                     listed_name=v["name"])

    def inject_dropout(self):
        st, t = self.st, self.t
        for _, v in self.pick(st, st["poor"] & st["school_age"] & st["stage"].isin(["小学", "初中"]),
                              self.count["not_enrolled"]).iterrows():
            for system in ("registry", "aid", "pairs", "activities", "struggling"):
                self.drop_rows(system, [v["_pid"]])
            self.add("not_enrolled", "roster", v["id_number"],
                     f"建档立卡适龄儿童（{pd.Timestamp(v['birth_date']):%Y-%m-%d}出生）本学期无学籍、无控辍保学台账记录",
                     v["_pid"], listed_name=v["name"])
            if v["in_prev"]:   # last term in 小学1-6 or 初中1-2: not a graduation, so also missing
                self.add("missing_from_registry", "registry", v["id_number"],
                         "上学期在籍，本学期学籍中查无此人，且无毕业、转学或台账记录", v["_pid"], listed_name=v["name"])
        led = t["ledger"]
        choices = [None, "无", "暂无"]
        cand = led.assign(_pid=led["_pid"])
        for j, (_, v) in enumerate(self.pick(cand, np.ones(len(cand), bool),
                                            self.count["exception_unverified"]).iterrows()):
            self.change("ledger", self.rows("ledger", v["_pid"]), "evidence", choices[j % 3])
            self.add("exception_unverified", "ledger", v["id_number"],
                     f"控辍保学台账登记原因为{v['reason']}，佐证材料为空", v["_pid"], listed_name=v["name"])
        # missing from this term's registry: a non-poor pupil without group, aid or pair, not in a final grade
        plain = (st["groups"] == "") & st["in_prev"] & ~(st["stage"].isin(["高中", "中职"]) & (st["grade"] == 1))
        for _, v in self.pick(st, plain, self.count["missing_from_registry"]).iterrows():
            self.drop_rows("registry", [v["_pid"]])
            self.add("missing_from_registry", "registry", v["id_number"],
                     "上学期在籍，本学期学籍中查无此人，且无毕业、转学或台账记录", v["_pid"], listed_name=v["name"])

    def inject_aid(self):
        st, t, pol = self.st, self.t, self.ctx.policy
        aid = t["aid"]
        for _, v in self.pick(st, st["poor"] & st["has_aid"], self.count["aid_missed"]).iterrows():
            rows = aid.index[aid["_pid"].to_numpy() == v["_pid"]]
            r = rows[int(self.rng.integers(0, len(rows)))]
            item = aid.at[r, "item"]
            self.drop_labels.setdefault("aid", set()).add(r)
            self.add("aid_missed", "aid", v["id_number"], f"符合{aid_label(pol, item)}条件，本学期未发放", v["_pid"],
                     item=item, period=TERM, listed_name=v["name"])
        extra = []
        for _, v in self.pick(st, st["poor"] & st["has_aid"], self.count["aid_duplicate"]).iterrows():
            rows = aid[aid["_pid"].to_numpy() == v["_pid"]]
            row = rows.iloc[[int(self.rng.integers(0, len(rows)))]].copy()
            extra.append(row)
            self.add("aid_duplicate", "aid", v["id_number"], f"{row['item_raw'].iloc[0]}本学期发放2次", v["_pid"],
                     item=row["item"].iloc[0], period=TERM, listed_name=v["name"])
        for _, v in self.pick(st, st["poor"] & st["has_aid"], self.count["aid_amount_mismatch"]).iterrows():
            rows = aid.index[aid["_pid"].to_numpy() == v["_pid"]]
            r = rows[int(self.rng.integers(0, len(rows)))]
            std = float(aid.at[r, "amount"])
            wrong = std / 2 if self.rng.random() < 0.5 else std + 100
            self.change("aid", [r], "amount", wrong)
            self.add("aid_amount_mismatch", "aid", v["id_number"], f"{aid.at[r, 'item_raw']}发放{wrong:g}元，标准为{std:g}元",
                     v["_pid"], item=aid.at[r, "item"], period=TERM, listed_name=v["name"])
        # ineligible: (a) a graduate no longer enrolled, (b) an item of another stage, (c) a status not accepted
        n = self.count["aid_ineligible"]
        lv = self.lv
        for _, v in self.pick(lv, ~lv["poor"] & lv["stage"].isin(["高中"]) & (lv["prev_status"] != "转出"),
                              max(1, n // 3)).iterrows():
            extra.append(self.aid_record(v, "hs_grant", "低保", "困难", 1000.0))
            self.add("aid_ineligible", "aid", v["id_number"], "受助学生本学期不在校（已毕业）", v["_pid"], item="hs_grant",
                     period=TERM, listed_name=v["name"])
        for _, v in self.pick(st, st["poor"] & st["has_aid"] & st["stage"].isin(["初中", "高中"]),
                              max(1, n // 3)).iterrows():
            item, amount = ("hs_grant", 1250.0) if v["stage"] == "初中" else ("compulsory_living", 312.5)
            extra.append(self.aid_record(v, item, "建档立卡", "特别困难", amount))
            self.add("aid_ineligible", "aid", v["id_number"], f"{aid_label(pol, item)}不覆盖{v['stage']}学段", v["_pid"],
                     item=item, period=TERM, listed_name=v["name"])
        grp = (st["groups"] != "") & ~st["poor"] & st["aid_type"].isna() & (st["t1"] >= 0)
        k = max(1, n - 2 * max(1, n // 3))
        for j, (_, v) in enumerate(self.pick(st, grp & (st["stage"] == "高中"), k).iterrows()):
            if j % 2:
                extra.append(self.aid_record(v, "hs_grant", "建档立卡", "特别困难", 1250.0))
                why, item = "困难类型为建档立卡，但不在建档立卡人员中", "hs_grant"
            else:
                extra.append(self.aid_record(v, "hs_fee_waiver", "其他困难", "一般困难", 800.0))
                why, item = "困难类型“其他困难”不属于普通高中免学杂费的资助对象", "hs_fee_waiver"
            self.add("aid_ineligible", "aid", v["id_number"], why, v["_pid"], item=item, period=TERM,
                     listed_name=v["name"])
        if extra:
            aid = pd.concat([aid] + extra, ignore_index=True)
        t["aid"] = aid

    def aid_record(self, v, item: str, dtype: str, level: str, amount: float) -> pd.DataFrame:
        from .county import grade_label_school
        pol = self.ctx.policy
        row = pol[pol["item"] == item].iloc[0]
        return pd.DataFrame([{
            "term": TERM, "school_name": v["school_name"], "town": v["town"], "stage": v["stage"],
            "grade": int(v["grade"]),
            "grade_label": grade_label_school(np.array([v["stage"]]), np.array([int(v["grade"])]))[0],
            "class_name": f"{v['class_no']}班", "name": v["name"], "id_number": v["id_number"],
            "student_no": "G" + v["id_number"], "item_raw": row["label"], "item": item, "amount": amount,
            "difficulty_level": level, "difficulty_type": dtype,
            "payment_method": "直接减免" if row["family"] == "免" else "一卡通发放", "_pid": v["_pid"]}])

    def inject_mentoring(self):
        st, t = self.st, self.t
        paired = (st["t1"] >= 0) & (st["t2"] < 0) & ~st["late"]
        for _, v in self.pick(st, paired, self.count["mentor_missing"]).iterrows():
            self.drop_rows("pairs", [v["_pid"]])
            self.drop_rows("activities", [v["_pid"]])
            self.add("mentor_missing", "pairs", v["id_number"], f"五类特殊群体学生（{v['groups']}）未安排结对帮扶教师",
                     v["_pid"], listed_name=v["name"])
        days = school_days()
        weeks = sorted(days.loc[days["week_complete"], "week"].unique())
        months = sorted(days.loc[days["month_complete"], "month"].unique())
        act = t["activities"]
        when = pd.DatetimeIndex(act["date"])
        week_no = when.isocalendar().week.to_numpy().astype(np.int64)
        month_no = when.month.to_numpy().astype(np.int64)
        apid = act["_pid"].to_numpy(dtype=np.int64)
        kind = act["activity"].to_numpy()
        gaps_w, gaps_m = [], []
        for _, v in self.pick(st, (st["t1"] >= 0) & ~st["late"], self.count["weekly_record_gap"]).iterrows():
            w = weeks[int(self.rng.integers(0, len(weeks)))]
            gaps_w.append(v["_pid"] * 100 + int(w[-2:]))
            self.add("weekly_record_gap", "activities", v["id_number"], f"{w}周无帮扶记录", v["_pid"], period=w,
                     listed_name=v["name"])
        for _, v in self.pick(st, (st["t1"] >= 0) & ~st["late"], self.count["home_visit_gap"]).iterrows():
            mo = months[int(self.rng.integers(0, len(months)))]
            gaps_m.append(v["_pid"] * 100 + int(mo[-2:]))
            self.add("home_visit_gap", "activities", v["id_number"], f"{mo}月无家访记录", v["_pid"], period=mo,
                     listed_name=v["name"])
        drop = ((kind == "帮扶记录") & np.isin(apid * 100 + week_no, gaps_w)) | \
               ((kind == "家访") & np.isin(apid * 100 + month_no, gaps_m))
        t["activities"] = act[~drop].reset_index(drop=True)
        # stale pairs: (a) the pupil left (graduated or transferred out), (b) the teacher is at another school
        n = self.count["pair_stale"]
        lv = self.lv
        extra = []
        te = self.teachers
        for _, v in self.pick(lv, ~lv["poor"], max(1, n // 2)).iterrows():
            tt = te[te["school"] == v["school"]]
            tr = tt.iloc[int(self.rng.integers(0, len(tt)))]
            extra.append(pd.DataFrame([{
                "school_name": v["school_name"], "town": v["town"], "teacher_name": tr["teacher_name"],
                "teacher_id_number": None, "teacher_school": v["school_name"], "student_name": v["name"],
                "id_number": v["id_number"], "group_raw": "留守", "start_date": pd.Timestamp("2019-03-04"),
                "end_date": pd.NaT, "_pid": v["_pid"], "_teacher": tr.name}]))
            self.add("pair_stale", "pairs", v["id_number"],
                     f"结对学生已不在校（上学期{v['school_name']}，{'已毕业' if v['prev_status'] != '转出' else '已转出'}）",
                     v["_pid"], listed_name=v["name"])
        pairs = t["pairs"]
        for _, v in self.pick(st, paired, max(1, n - max(1, n // 2))).iterrows():
            tt = te[te["school"] != v["school"]]
            tr = tt.iloc[int(self.rng.integers(0, len(tt)))]
            m = self.rows("pairs", v["_pid"])
            self.change("pairs", m, "teacher_name", tr["teacher_name"])
            self.change("pairs", m, "teacher_school", tr["school_name"])
            act = t["activities"]
            self.change("activities", self.rows("activities", v["_pid"]), "teacher_name", tr["teacher_name"])
            self.add("pair_stale", "pairs", v["id_number"],
                     f"帮扶教师（{tr['school_name']}）与学生（{v['school_name']}）不在同一学校", v["_pid"],
                     listed_name=v["name"])
        if extra:
            t["pairs"] = pd.concat([pairs] + extra, ignore_index=True)

    def run(self) -> pd.DataFrame:
        self.inject_id_errors()
        self.inject_duplicates()
        self.inject_person_mismatches()
        self.inject_dropout()
        self.inject_aid()
        self.inject_mentoring()
        self.apply()
        key = pd.DataFrame(self.key)
        key = key.sort_values(["kind", "system", "id_number", "item", "period"], na_position="first",
                              kind="stable").reset_index(drop=True)
        return key


def label(system: str) -> str:
    return {"registry": "学籍", "roster": "建档立卡", "aid": "资助名单", "ledger": "控辍保学台账"}[system]


def aid_label(pol: pd.DataFrame, item: str) -> str:
    return str(pol.loc[pol["item"] == item, "label"].iloc[0])


def inject(ctx: Ctx, county: dict) -> pd.DataFrame:
    """Inject every defect kind into `county` (in place) and return the answer key with internal columns
    `_pid` and `_name` (the name as the faulty system lists it)."""
    return Injector(ctx, county).run()


__all__ = ["KEY_COLUMNS", "inject", "stage_of_overall"]
