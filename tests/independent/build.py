"""An independent folder of exports (not made by workbench.samples) with a hand-built answer key.

`build(out_dir) -> Built` writes a small synthetic county (旬阳县 蜀河镇 / 吕河镇 / the county high school; ~150
pupils, ~90 poor-household members; every name synthetic) in the export formats of domain.md 3.x, with header
spellings, codes, title rows and file formats chosen to differ from the project's generator, and returns the
answer key of the defects planted on purpose plus what each file should load as.

Written from scratch with openpyxl / csv / xlwt: nothing here imports workbench. Everything not planted is clean:
mentoring logs complete for every group student, aid complete and exact for every entitled pupil, every
school-age poor child enrolled or on the 控辍保学 ledger with evidence.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import random
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import pandas as pd
import xlwt
from openpyxl.styles import Alignment


def _tables():
    """The data tables next to this file, loaded by path (no package, no clash with PyTables' `tables`)."""
    path = Path(__file__).with_name("tables.py")
    spec = importlib.util.spec_from_file_location("independent_tables", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


T = _tables()

W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
KEY_COLUMNS = ["kind", "system", "id_number", "item", "period", "detail"]


def check_char(body: str) -> str:
    return "10X98765432"[sum(int(c) * w for c, w in zip(body, W)) % 11]


def is_valid(idn: str) -> bool:
    return len(idn) == 18 and idn[:17].isdigit() and check_char(idn[:17]) == idn[17]


def iso_week(d: dt.date) -> str:
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


def school_weeks() -> list[dt.date]:
    """Mondays of the complete school weeks of 2019秋 on the as-of date."""
    out, m = [], T.TERM_START
    while m + dt.timedelta(days=6) <= T.AS_OF:
        if iso_week(m) not in T.HOLIDAY_WEEKS:
            out.append(m)
        m += dt.timedelta(days=7)
    return out


@dataclass
class Person:
    pid: int
    name: str
    sex: str
    birth: dt.date
    id: str
    # registry
    school: str | None = None          # S1..S4 (2019秋, or the last school for spring-only pupils)
    entry: int | None = None           # entry year of the CNEMIS 年级 (小学2016级 -> 2016)
    cls: str = "1班"
    boarding: str = "走读"
    left: str = "非留守"
    migrant: bool = False
    disability: str = "无残疾"
    inclusive: str = "非随班就读"
    orphan: bool = False
    fall: bool = False
    fall_status: str = "在读"
    spring: bool = False
    spring_status: str = "在读"
    # roster
    household: dict | None = None
    relation: str = ""
    roster_stage: str | None = None
    # aid / groups / mentoring
    aid_type: str | None = None        # 困难类型 of a non-roster aid recipient (低保 / 孤儿 / 建档立卡 claimed)
    struggling: bool = False
    pair: bool | None = None           # None: decided by group membership
    ov: dict = field(default_factory=dict)  # per-system overrides (planted defects)

    @property
    def stage(self) -> str:
        return T.SCHOOLS[self.school][2]

    def grade(self, year: int = 2019) -> int:
        return year - self.entry + 1

    @property
    def enrolled(self) -> bool:
        return self.fall and self.fall_status in ("在读", "转入")


class County:
    def __init__(self, seed: int = 20191130):
        self.rng = random.Random(seed)
        self.people: list[Person] = []
        self.names: set[str] = set()
        self.ids: set[str] = set()
        self.households: list[dict] = []
        self.key: list[dict] = []
        self.aid: list[dict] = []
        self.ledger: list[dict] = []

    # ------------------------------------------------------------------ people
    def new_name(self, sex: str) -> str:
        while True:
            n = self.rng.choice(T.SURNAMES) + "".join(self.rng.choice(T.GIVEN) for _ in range(self.rng.choice([1, 2])))
            if n not in self.names and not any(c in T.HOMOPHONES.values() for c in n):
                self.names.add(n)
                return n

    def new_id(self, birth: dt.date, sex: str, region: str = "610928") -> str:
        while True:
            seq = self.rng.randrange(1, 999)
            if (seq % 2 == 1) != (sex == "男"):
                seq = seq + 1 if seq < 998 else seq - 1
            body = f"{region}{birth:%Y%m%d}{seq:03d}"
            idn = body + check_char(body)
            if idn not in self.ids:
                self.ids.add(idn)
                return idn

    def person(self, birth: dt.date, sex: str | None = None, region: str = "610928", **kw) -> Person:
        sex = sex or self.rng.choice("男女")
        p = Person(len(self.people) + 1, self.new_name(sex), sex, birth, self.new_id(birth, sex, region), **kw)
        self.people.append(p)
        return p

    def birth_for(self, stage: str, entry: int) -> dt.date:
        offset = {"小学": 7, "初中": 13, "高中": 16}[stage]
        lo = dt.date(entry - offset, 9, 1)
        return lo + dt.timedelta(days=self.rng.randrange(0, 364))

    def student(self, school: str, entry: int, spring: bool | None = None, **kw) -> Person:
        stage = T.SCHOOLS[school][2]
        birth = kw.pop("birth", None) or self.birth_for(stage, entry)
        p = self.person(birth, kw.pop("sex", None), kw.pop("region", "610928"), school=school, entry=entry,
                        fall=kw.pop("fall", True), **kw)
        p.cls = f"{self.rng.randint(1, 2)}班"
        p.spring = (entry <= 2018 or (stage == "初中" and entry == 2019)) if spring is None else spring
        return p

    def add_key(self, kind: str, system: str, idn: str, detail: str, item: str = "", period: str = "") -> None:
        self.key.append({"kind": kind, "system": system, "id_number": idn, "item": item, "period": period,
                         "detail": detail})

    def household_of(self, p: Person, town: str | None = None) -> dict:
        town = town or (T.SCHOOLS[p.school][1] if p.school in ("S1", "S2", "S3") else self.rng.choice(["蜀河镇", "吕河镇"]))
        n = len(self.households) + 1
        town_code = {"蜀河镇": "103", "吕河镇": "110"}[town]
        hh = {"no": f"610928{town_code}{n:09d}", "town": town, "village": self.rng.choice(T.VILLAGES[town]),
              "hamlet": self.rng.choice(T.HAMLETS), "members": [], "type": self.rng.choice(["一般贫困户", "低保贫困户"]),
              "exit": self.rng.choice(["已脱贫", "未脱贫"])}
        head = self.person(dt.date(self.rng.randint(1970, 1984), self.rng.randint(1, 12), self.rng.randint(1, 28)),
                           "男", relation="本人或户主")
        spouse = self.person(dt.date(self.rng.randint(1972, 1986), self.rng.randint(1, 12), self.rng.randint(1, 28)),
                             "女", relation="配偶")
        for m in (head, spouse):
            m.household = hh
            hh["members"].append(m)
        self.households.append(hh)
        self.join(hh, p)
        return hh

    def join(self, hh: dict, p: Person) -> None:
        p.household = hh
        p.relation = p.relation or ("之子" if p.sex == "男" else "之女")
        hh["members"].append(p)
        if p.fall and p.school and p.roster_stage is None:
            p.roster_stage = roster_stage(p, hh["town"] == "吕河镇")


def roster_stage(p: Person, later_names: bool) -> str:
    g = p.grade()
    if p.stage == "小学":
        return "小学"
    if p.stage == "初中":
        return T.CN_GRADE[g + 5] + "年级"
    return ("普通高中" if later_names else "高中") + T.CN_GRADE[g - 1] + "年级"


def typo(idn: str, pos: int = 14) -> str:
    """One digit changed (the check character then fails: GB 11643 catches every single-digit error)."""
    d = str((int(idn[pos]) + 3) % 10)
    return idn[:pos] + d + idn[pos + 1:]


def truncated(idn: str) -> str:
    """What Excel keeps of an 18-digit ID typed as a number: 15 significant digits, then zeros."""
    return idn[:15] + "000"


# ---------------------------------------------------------------------------------------------------- the county
def make_county(seed: int = 20191130) -> County:
    c = County(seed)
    rng = c.rng
    # ordinary pupils with random group memberships (all clean)
    for s, (_, _, stage, entries, n) in T.SCHOOLS.items():
        for e in entries:
            for _ in range(n):
                p = c.student(s, e)
                r = rng.random()
                if r < 0.14:
                    p.left = rng.choice(["单亲留守", "双亲留守"])
                elif r < 0.17 and stage != "高中":
                    p.disability = rng.choice(["肢体残疾", "听力残疾"])
                    p.inclusive = "其他残疾随班就读" if p.disability == "肢体残疾" else "听力残疾随班就读"
                elif r < 0.20:
                    p.struggling = True
                if (stage != "小学" and rng.random() < 0.5) or (stage == "小学" and rng.random() < 0.15):
                    p.boarding = "住校"
                if rng.random() < 0.12:
                    c.household_of(p)
                elif rng.random() < 0.06:
                    p.aid_type = "低保"
    # poor pupils the planted aid and stage defects draw on (so the plan never runs short)
    for s_, e_, board in (("S1", 2015, "住校"), ("S3", 2016, "住校"), ("S1", 2018, "住校"), ("S2", 2019, "走读"),
                          ("S2", 2019, "走读"), ("S2", 2018, "走读"), ("S2", 2018, "走读"), ("S2", 2017, "走读"),
                          ("S4", 2017, "住校"), ("S4", 2018, "走读"), ("S4", 2019, "住校")):
        c.household_of(c.student(s_, e_, boarding=board))
    # a migrant pupil from 白河县 (clean, paired)
    c.student("S1", 2016, region="610929", migrant=True)
    # siblings in one household (both enrolled, clean)
    a = c.student("S1", 2017, boarding="住校")
    hh = c.household_of(a)
    b = c.student("S2", 2018)
    c.join(hh, b)
    # boundary children of one household: 2013-08-31 (school age, enrolled), 2013-09-01 (学前), 2003-08-20 (too old)
    e = c.student("S3", 2019, birth=dt.date(2013, 8, 31))
    hh = c.household_of(e)
    pre = c.person(dt.date(2013, 9, 1), roster_stage="学前教育")
    c.join(hh, pre)
    old = c.person(dt.date(2003, 8, 20), roster_stage="非在校生")
    c.join(hh, old)
    # a head of household whose ID kept the pre-2000 county code 612429 (valid)
    hh["members"][0].id = c.new_id(hh["members"][0].birth, "男", "612429")
    # a 2019春 graduate (初中2016级) born 2003-09-10 in a poor household, on the ledger as 初中已毕业 with evidence
    g = c.student("S2", 2016, fall=False, spring=True, birth=dt.date(2003, 9, 10))
    hh = c.household_of(g, "蜀河镇")
    g.roster_stage = "非在校生"
    c.ledger.append(ledger_row(g, "初中已毕业", "初中毕业证书复印件"))
    # other 2019春 leavers that are no finding: graduates of 初中 and 高中, a recorded transfer
    c.student("S2", 2016, fall=False, spring=True)
    c.student("S4", 2016, fall=False, spring=True)
    c.student("S3", 2015, fall=False, spring=True, spring_status="转出")
    lv = c.student("S1", 2014, fall=False, spring=True)
    c.ledger.append(ledger_row(lv, "县外就读", "安康市汉滨区某小学在读证明", school="安康市汉滨区培新小学"))
    # a 转入 pupil (enrolled) and a pupil who is not in the 2019春 export at all (new to the county)
    c.student("S3", 2017, fall_status="转入", spring=False)

    plant(c)
    return c


def ledger_row(p: Person, reason: str, evidence: str | None, school: str | None = None, **ov) -> dict:
    town = p.household["town"] if p.household else T.SCHOOLS[p.school][1]
    village = p.household["village"] if p.household else "黄金村"
    row = {"person": p, "town": town, "village": village, "hamlet": "三组", "reason": reason,
           "school": school, "evidence": evidence, "status": "劝返中" if reason.startswith("辍学") else None}
    row.update(ov)
    return row


def plant(c: County) -> None:
    rng = c.rng
    ordinary = [p for p in c.people if p.fall and p.school and not p.household and not p.aid_type
                and p.left == "非留守" and p.disability == "无残疾" and not p.struggling and not p.migrant]
    poor = [p for p in c.people if p.fall and p.household and p.enrolled]

    def pick(pool, pred=lambda p: True):
        for p in pool:
            if pred(p) and not p.ov.get("used"):
                p.ov["used"] = True
                return p
        raise LookupError("no candidate")

    # --- id_invalid (registry): new first-year pupils, not in any group
    p = c.student("S1", 2019)
    p.ov["reg_id"] = p.id[:17] + ("0" if p.id[17] != "0" else "1")
    c.add_key("id_invalid", "registry", p.ov["reg_id"], "校验位错误")
    p = c.student("S3", 2019, birth=dt.date(2013, 2, 28))
    body = "61092820130231" + f"{rng.randrange(100, 999):03d}"
    p.ov["reg_id"] = body + check_char(body)
    c.add_key("id_invalid", "registry", p.ov["reg_id"], "出生日期不存在（2月31日）")
    p = c.student("S1", 2019)
    p.ov["reg_id"] = p.id[:17]
    c.add_key("id_invalid", "registry", p.ov["reg_id"], "17位")
    # a typo in 2019秋 for a pupil whose 2019春 record has the right ID: linked, so not missing_from_registry
    p = c.student("S3", 2016)
    p.ov["reg_id"] = typo(p.id, 15)
    c.add_key("id_invalid", "registry", p.ov["reg_id"], "一位数字录错（春季学籍正确）")
    # roster: a transposition in an enrolled poor child's ID (linked by name, birth date and sex)
    p = pick(poor, lambda p: p.stage == "初中")
    bad = p.id[:14] + p.id[15] + p.id[14] + p.id[16:]
    if bad == p.id or is_valid(bad):
        bad = typo(p.id, 14)
    p.ov["roster_id"] = bad
    c.add_key("id_invalid", "roster", bad, "相邻数字颠倒（学籍正确）")

    # --- id_precision_lost: two first-year pupils in the 蜀河镇 xlsx, one adult in the 蜀河镇 roster
    # Excel keeps 15 significant digits; a reader gets the float64 nearest to them, whose exact integer digits
    # (…024064) may pass the check by chance: one pupil of each sort, both precision_lost (a float cell)
    for float_digits_pass in (False, True):
        while True:
            p = c.student("S1", 2019)
            exact = str(int(float(truncated(p.id))))
            if p.id[17] != "X" and not is_valid(truncated(p.id)) and is_valid(exact) == float_digits_pass:
                break
            p.fall = False  # re-draw: this one is in no file
        p.ov["reg_number"] = True
        c.add_key("id_precision_lost", "registry", truncated(p.id), "身份证号以数字保存")
    hh = next(h for h in c.households if h["town"] == "蜀河镇" and h["members"][1].id[17] != "X"
              and not is_valid(truncated(h["members"][1].id)))
    hh["members"][1].ov["roster_number"] = True
    c.add_key("id_precision_lost", "roster", truncated(hh["members"][1].id), "证件号码以数字保存")

    # --- duplicate_record
    p = pick(ordinary, lambda p: p.school == "S1" and p.entry == 2017)
    p.ov["also_at"] = "S3"
    c.add_key("duplicate_record", "registry", p.id, "同时在蜀河镇中心小学和吕河镇中心小学在籍")
    p = pick(ordinary, lambda p: p.school == "S2")
    p.ov["twice"] = True
    c.add_key("duplicate_record", "registry", p.id, "同一学校重复两行")
    adult = next(h for h in c.households if h["town"] == "蜀河镇" and h is not hh)["members"][0]
    adult.ov["roster_twice"] = True
    c.add_key("duplicate_record", "roster", adult.id, "户主在建档立卡中登记两次")

    # an adult still carrying a 15-digit number in the roster (upgraded to 18 digits: valid, no finding)
    old15 = next(h for h in reversed(c.households) if h["town"] == "蜀河镇")["members"][0]
    if not old15.ov:
        old15.ov["roster_15"] = True

    # --- name_mismatch
    def homophone(n: str) -> str:
        return n[0] + ("伟" if n[-1] != "伟" else "静") if len(n) == 2 else n[:-1] + "玮"
    p = pick(poor, lambda p: p.stage == "小学")
    p.ov["roster_name"] = homophone(p.name)
    c.add_key("name_mismatch", "roster", p.id, "建档立卡姓名同音字")
    p = pick(poor, lambda p: p.stage == "初中")
    p.ov["aid_name"] = homophone(p.name)
    c.add_key("name_mismatch", "aid", p.id, "资助名单姓名不同")

    # --- sex_mismatch / birthdate_mismatch
    p = pick(ordinary, lambda p: p.school == "S1" and p.entry < 2019)
    p.ov["reg_sex"] = "女" if p.sex == "男" else "男"
    c.add_key("sex_mismatch", "registry", p.id, "学籍性别代码与身份证号不符")
    p = pick(poor, lambda p: p.household["town"] == "蜀河镇")
    p.ov["roster_sex"] = "女" if p.sex == "男" else "男"
    c.add_key("sex_mismatch", "roster", p.id, "建档立卡性别与身份证号不符")
    p = pick(ordinary, lambda p: p.school == "S3" and p.entry < 2019)
    p.ov["reg_birth"] = p.birth.replace(day=1) if p.birth.day != 1 else p.birth.replace(day=2)
    c.add_key("birthdate_mismatch", "registry", p.id, "学籍出生日期与身份证号不符")
    adult = c.households[3]["members"][0]
    adult.ov["roster_birth"] = adult.birth + dt.timedelta(days=1)
    c.add_key("birthdate_mismatch", "roster", adult.id, "建档立卡出生日期与身份证号不符")

    # --- stage_mismatch
    p = pick(poor, lambda p: p.stage == "初中" and p.entry == 2019)
    p.roster_stage = "小学"
    c.add_key("stage_mismatch", "roster", p.id, "建档立卡：小学；学籍：初中一年级")
    p = pick(poor, lambda p: p.stage == "初中" and p.entry == 2018)
    p.roster_stage = "九年级"
    c.add_key("stage_mismatch", "roster", p.id, "建档立卡：九年级；学籍：八年级")
    p = pick(poor, lambda p: p.stage == "小学" and p.entry < 2019)
    p.roster_stage = "非在校生"
    c.add_key("stage_mismatch", "roster", p.id, "建档立卡：非在校生；学籍：在读")

    p = pick(poor, lambda p: p.stage == "高中" and p.entry == 2018)
    p.roster_stage = roster_stage(p, p.household["town"] == "吕河镇").replace("二年级", "一年级")
    c.add_key("stage_mismatch", "roster", p.id, "建档立卡：高中一年级；学籍：高中二年级")

    # --- not_enrolled: school-age poor children in no registry and on no ledger
    for y, town in ((2008, "蜀河镇"), (2010, "吕河镇"), (2012, "吕河镇")):
        hh = rng.choice([h for h in c.households if h["town"] == town])
        k = c.person(dt.date(y, rng.randint(1, 12), rng.randint(1, 28)), roster_stage="非在校生")
        c.join(hh, k)
        c.add_key("not_enrolled", "roster", k.id, "适龄未在学籍、未在台账")

    # --- ledger children (poor, school age, not enrolled): clean ones and planted defects
    def ledger_child(y: int, town: str = "吕河镇") -> Person:
        hh = rng.choice([h for h in c.households if h["town"] == town])
        k = c.person(dt.date(y, rng.randint(1, 12), rng.randint(1, 28)), roster_stage="非在校生")
        c.join(hh, k)
        return k
    k = ledger_child(2009)
    c.ledger.append(ledger_row(k, "送教上门", "送教上门记录表"))
    k = ledger_child(2007, "蜀河镇")
    c.ledger.append(ledger_row(k, "省外就读", "浙江省某学校在读证明", school="浙江省宁波市某小学"))
    k = ledger_child(2011)
    c.ledger.append(ledger_row(k, "残疾不能入学", "无"))
    c.add_key("exception_unverified", "ledger", k.id, "佐证材料：无")
    k = ledger_child(2006, "蜀河镇")
    c.ledger.append(ledger_row(k, "辍学（劝返中）", None))
    c.add_key("exception_unverified", "ledger", k.id, "佐证材料为空")
    lv = c.student("S3", 2015, fall=False, spring=True)
    c.ledger.append(ledger_row(lv, "省外就读", "暂无", school="广东省东莞市某小学"))
    c.add_key("exception_unverified", "ledger", lv.id, "佐证材料：暂无")
    k = ledger_child(2010)
    typo_id = typo(k.id, 12)
    c.ledger.append(ledger_row(k, "县外就读", "在读证明", school="安康市汉滨区江北小学", id=typo_id))
    c.add_key("id_invalid", "ledger", typo_id, "台账身份证号一位录错（建档立卡正确）")
    k = ledger_child(2008)
    c.ledger.append(ledger_row(k, "特教学校就读", "安康市特殊教育学校在读证明", name=homophone(k.name)))
    c.add_key("name_mismatch", "ledger", k.id, "台账姓名与建档立卡不同")
    k = ledger_child(2009, "蜀河镇")
    c.ledger.append(ledger_row(k, "县外就读", "在读证明", school="安康市汉滨区培新小学",
                               sex="女" if k.sex == "男" else "男"))
    c.add_key("sex_mismatch", "ledger", k.id, "台账性别与身份证号不符")
    k = ledger_child(2012)
    c.ledger.append(ledger_row(k, "延缓入学", "延缓入学申请及审批表", birth=k.birth.replace(year=2011)))
    c.add_key("birthdate_mismatch", "ledger", k.id, "台账出生日期与身份证号不符")

    # --- missing_from_registry: 2019春 pupils gone without trace (not poor, not on the ledger)
    for s, e in (("S1", 2016), ("S2", 2018), ("S3", 2013)):
        p = c.student(s, e, fall=False, spring=True)
        c.add_key("missing_from_registry", "registry", p.id, "春季在读，秋季学籍无此人")

    # --- aid: build the clean lists first, then plant
    aid_plan(c)

    # --- mentoring defects
    mm = c.student("S3", 2017, left="双亲留守")
    mm.pair = False
    c.add_key("mentor_missing", "pairs", mm.id, "双亲留守，无结对")
    mm = c.student("S1", 2018, region="610929", migrant=True)
    mm.pair = False
    c.add_key("mentor_missing", "pairs", mm.id, "随迁子女，无结对")
    mm = c.student("S2", 2019, struggling=True)
    mm.pair = False
    c.add_key("mentor_missing", "pairs", mm.id, "学困生，无结对")

    groupers = [p for p in c.people if is_group(c, p) and p.enrolled and p.pair is not False]
    weeks = [iso_week(m) for m in school_weeks()]
    w1 = pick(groupers, lambda p: p.school == "S1")
    w1.ov["skip_weeks"] = {"2019-W38", "2019-W45"}
    w2 = pick(groupers, lambda p: p.school == "S2")
    w2.ov["skip_weeks"] = {"2019-W36"}
    w3 = pick(groupers, lambda p: p.school == "S3")
    w3.ov["pair_start"] = dt.date(2019, 10, 14)
    w3.ov["skip_weeks"] = {"2019-W46"}
    for p in (w1, w2, w3):
        for w in sorted(p.ov["skip_weeks"]):
            c.add_key("weekly_record_gap", "activities", p.id, "该周无帮扶记录", period=w)
    assert all(w in weeks for p in (w1, w2, w3) for w in p.ov["skip_weeks"])
    h1 = pick(groupers, lambda p: p.school == "S3")
    h1.ov["skip_months"] = {"2019-10"}
    h2 = pick(groupers, lambda p: p.school == "S4")
    h2.ov["skip_months"] = {"2019-09"}
    for p in (h1, h2):
        for m in p.ov["skip_months"]:
            c.add_key("home_visit_gap", "activities", p.id, "该月无家访", period=m)
    # pair_stale: a 2019春 graduate still paired; a teacher of another school; a pupil on 休学
    gr = c.student("S2", 2016, fall=False, spring=True, left="单亲留守")
    gr.pair = True
    c.add_key("pair_stale", "pairs", gr.id, "结对学生已毕业离校")
    ps = pick(groupers, lambda p: p.school == "S1")
    ps.ov["teacher_school"] = "旬阳县吕河镇中心小学"
    c.add_key("pair_stale", "pairs", ps.id, "帮扶教师不在学生所在学校")
    hx = c.student("S2", 2018, fall_status="休学", left="单亲留守")
    hx.pair = True
    c.add_key("pair_stale", "pairs", hx.id, "结对学生休学")


def aid_plan(c: County) -> None:
    """Aid records (2019秋): exact and complete for every entitled pupil, then the planted defects."""
    rng = c.rng
    for p in c.people:
        if not p.enrolled:
            continue
        if p.household is not None:
            if p.stage in ("小学", "初中"):
                c.aid.append(aid_row(p, "living", T.LIVING[(p.stage, p.boarding)], "特别困难", "建档立卡"))
            else:
                c.aid.append(aid_row(p, "hs_grant", T.HS_GRANT["特别困难"], "特别困难", "建档立卡"))
                c.aid.append(aid_row(p, "hs_fee", T.HS_FEE, "特别困难", "建档立卡"))
        elif p.aid_type == "低保":
            if p.stage in ("小学", "初中"):
                c.aid.append(aid_row(p, "living", T.LIVING[(p.stage, p.boarding)], "困难", "低保"))
            else:
                c.aid.append(aid_row(p, "hs_grant", T.HS_GRANT["困难"], "困难", "低保"))

    def rows_of(pred):
        return [r for r in c.aid if pred(r) and not r.get("planted")]

    def one(pred):
        r = rows_of(lambda r: pred(r) and "roster_id" not in r["p"].ov)[0]
        r["planted"] = True
        return r

    # aid_missed: two compulsory pupils (住校 小学, 走读 初中), one high-school fee waiver
    for pred, item in ((lambda r: r["p"].stage == "小学" and r["p"].boarding == "住校" and r["type"] == "建档立卡", "compulsory_living"),
                       (lambda r: r["p"].stage == "初中" and r["p"].boarding == "走读" and r["type"] == "建档立卡"
                        and "aid_name" not in r["p"].ov and "roster_id" not in r["p"].ov, "compulsory_living"),
                       (lambda r: r["item"] == "hs_fee", "hs_fee_waiver")):
        r = one(pred)
        c.aid.remove(r)
        c.add_key("aid_missed", "aid", r["p"].id, "应助未助", item=item, period="2019秋")
    # aid_amount_mismatch
    r = one(lambda r: r["p"].stage == "小学" and r["p"].boarding == "住校" and r["type"] == "建档立卡")
    r["amount"] = 250.0
    c.add_key("aid_amount_mismatch", "aid", r["p"].id, "住校生按走读标准发放", item="compulsory_living", period="2019秋")
    r = one(lambda r: r["p"].stage == "初中" and r["p"].boarding == "走读" and r["type"] == "建档立卡")
    r["amount"] = 625.0
    c.add_key("aid_amount_mismatch", "aid", r["p"].id, "走读生按住校标准发放", item="compulsory_living", period="2019秋")
    r = one(lambda r: r["item"] == "hs_grant" and r["type"] == "建档立卡")
    r["amount"] = 1000.0
    c.add_key("aid_amount_mismatch", "aid", r["p"].id, "建档立卡按困难档发放", item="hs_grant", period="2019秋")
    # aid_duplicate
    r = one(lambda r: r["p"].school == "S3" and r["type"] == "建档立卡")
    c.aid.append(dict(r))
    c.add_key("aid_duplicate", "aid", r["p"].id, "同一学期发放两次", item="compulsory_living", period="2019秋")
    r = one(lambda r: r["item"] == "hs_grant" and r["type"] == "建档立卡")
    c.aid.append(dict(r))
    c.add_key("aid_duplicate", "aid", r["p"].id, "同一学期发放两次", item="hs_grant", period="2019秋")
    # aid_ineligible: someone enrolled nowhere; a 孤儿 day pupil (非寄宿 补助 not for 孤儿); a claimed 建档立卡
    # that is in no roster; a 初中 poor pupil paid the high-school grant
    x = c.person(dt.date(2009, 4, 17), school="S3", entry=2015)
    c.aid.append(aid_row(x, "living", 250.0, "困难", "低保", planted=True))
    c.add_key("aid_ineligible", "aid", x.id, "不在学籍", item="compulsory_living", period="2019秋")
    o = c.student("S3", 2016, orphan=True)
    o.aid_type = "孤儿"
    c.aid.append(aid_row(o, "living", 250.0, "特别困难", "孤儿", planted=True))
    c.add_key("aid_ineligible", "aid", o.id, "走读生非寄宿生活补助不含孤儿", item="compulsory_living", period="2019秋")
    f = c.student("S2", 2018)
    f.aid_type = "建档立卡"
    c.aid.append(aid_row(f, "living", 312.5, "特别困难", "建档立卡", planted=True))
    c.add_key("aid_ineligible", "aid", f.id, "自称建档立卡但不在建档立卡名单", item="compulsory_living", period="2019秋")
    r = one(lambda r: r["p"].stage == "初中" and r["type"] == "建档立卡")
    c.aid.append(aid_row(r["p"], "hs_grant", 1250.0, "特别困难", "建档立卡", planted=True))
    c.add_key("aid_ineligible", "aid", r["p"].id, "初中生领取普通高中国家助学金", item="hs_grant", period="2019秋")
    rng.shuffle(c.aid)


def aid_row(p: Person, item: str, amount: float, level: str, typ: str, planted: bool = False) -> dict:
    return {"p": p, "item": item, "amount": amount, "level": level, "type": typ, "planted": planted}


def is_group(c: County, p: Person) -> bool:
    aid_typed = any(r["p"] is p and r["type"] for r in c.aid)
    return bool(p.household is not None or aid_typed or p.aid_type or p.left in ("单亲留守", "双亲留守")
                or p.migrant or p.struggling or p.disability != "无残疾" or p.inclusive != "非随班就读")


# ------------------------------------------------------------------------------------------------ writers
def fmt_date(d: dt.date, style: str) -> str:
    return {"ymd": f"{d:%Y%m%d}", "iso": d.isoformat(), "slash": f"{d.year}/{d.month}/{d.day}",
            "cn": f"{d.year}年{d.month}月{d.day}日"}[style]


def serial(d: dt.date) -> int:
    return (d - dt.date(1899, 12, 30)).days


def cnemis(p: Person) -> str:
    return f"{p.stage}{p.entry}级"


def school_grade(p: Person, style: int) -> str:
    g = p.grade()
    if p.stage == "小学":
        return T.CN_GRADE[g - 1] + "年级"
    if p.stage == "初中":
        return (T.CN_GRADE[g + 5] + "年级") if style % 2 == 0 else "初" + T.CN_GRADE[g - 1]
    return "高" + T.CN_GRADE[g - 1] if style % 2 == 0 else "高中" + T.CN_GRADE[g - 1] + "年级"


class Files:
    def __init__(self, root: Path):
        self.root = root
        self.expect: dict[tuple[str, str], tuple[str, int, int]] = {}

    def path(self, rel: str) -> Path:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def note(self, rel: str, sheet: str, system: str | None, loaded: int, rejected: int | None = 0) -> None:
        """What the load report should say of a file / sheet (system None: reported as not recognised;
        rejected None: not asserted)."""
        self.expect[(rel, sheet)] = (system, loaded, rejected)


def write_xlsx(path: Path, sheets: list[tuple[str, list[list], list[list], list[tuple]]]) -> None:
    """sheets: (name, title rows, header+data rows, merges as (r1, c1, r2, c2) 1-based)."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, titles, rows, merges in sheets:
        ws = wb.create_sheet(name)
        for r in titles + rows:
            ws.append(r)
        for m in merges:
            ws.merge_cells(start_row=m[0], start_column=m[1], end_row=m[2], end_column=m[3])
            ws.cell(m[0], m[1]).alignment = Alignment(horizontal="center")
    wb.save(path)


def reg_id(p: Person):
    v = p.ov.get("reg_id", p.id)
    return int(truncated(p.id)) if p.ov.get("reg_number") else v


def registry_files(c: County, f: Files) -> None:
    fall = [p for p in c.people if p.fall and p.school]
    # ---- F1 蜀河镇 xlsx: two sheets, two-level merged header, codes, unusual order, extra columns
    groups = [("个人基本信息", ["姓名", "身份证号码", "证件类型", "性别", "出生日期", "民族"]),
              ("学籍信息", ["学校名称", "学籍号", "年级", "班级号", "入学年月", "就读方式", "学籍状态"]),
              ("特殊群体信息", ["是否留守儿童", "是否随迁", "残疾类型", "随班就读", "是否孤儿"]),
              ("其他", ["身高(cm)", "血型", "家庭住址", "联系电话", "备注"])]
    top, sub, merges, col = ["序号"], [None], [(3, 1, 4, 1)], 2
    for g, cols in groups:
        top += [g] + [None] * (len(cols) - 1)
        sub += cols
        merges.append((3, col, 3, col + len(cols) - 1))
        col += len(cols)
    sheets = []
    for s, sheet, codes in (("S1", "蜀河镇中心小学", True), ("S2", "蜀河镇初级中学", False)):
        rows = [top, sub]
        pupils = [p for p in fall if p.school == s] + [p for p in fall if p.ov.get("also_at") == s]
        for p in pupils:
            sex = p.ov.get("reg_sex", p.sex)
            birth = p.ov.get("reg_birth", p.birth)
            row = [len(rows) - 1, p.name, reg_id(p), "1" if codes else "居民身份证",
                   ("1" if sex == "男" else "2") if codes else sex,
                   fmt_date(birth, "ymd") if codes else dt.datetime.combine(birth, dt.time()), "汉族",
                   T.SCHOOLS[s][0], "G" + p.id, cnemis(p), p.cls.replace("班", ""), f"{p.entry}09",
                   ("2" if p.boarding == "住校" else "1") if codes else p.boarding,
                   p.fall_status,
                   {"非留守": "0", "单亲留守": "1", "双亲留守": "2"}[p.left] if codes else p.left + "儿童",
                   ("1" if p.migrant else "0") if codes else ("是" if p.migrant else "否"),
                   {"无残疾": "0", "肢体残疾": "4", "听力残疾": "2"}[p.disability] if codes else p.disability,
                   p.inclusive, "是" if p.orphan else "否", c.rng.randint(110, 175), c.rng.choice("ABO"),
                   f"陕西省旬阳县{T.SCHOOLS[s][1]}某村", f"13{c.rng.randrange(10**8, 10**9)}", None]
            rows.append(row)
            if p.ov.get("twice"):
                rows.append([len(rows) - 1] + row[1:])
        sheet_merges = [*merges, (1, 1, 1, len(sub))]  # the title row merged across the table
        sheets.append((sheet, [["旬阳县蜀河镇学生学籍信息"], ["导出条件：学期=2019-2020学年第一学期；年级=全部；班级=全部"]],
                       rows, sheet_merges))
        f.note("学籍/蜀河镇学生学籍（2019-2020学年第一学期）.xlsx", sheet, "registry", len(rows) - 2)
    write_xlsx(f.path("学籍/蜀河镇学生学籍（2019-2020学年第一学期）.xlsx"), sheets)

    # ---- F2 吕河镇中心小学 .xls: 1-男 style codes, YYYY/M/D dates, a town column named 乡
    rel = "学籍/吕河镇中心小学学生名册2019秋.xls"
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("学生名册")
    ws.write(0, 0, "旬阳县吕河镇中心小学2019年秋季学期学生名册")
    head = ["乡", "学校名称", "学籍号", "姓名", "性别", "出生日期", "身份证件类型", "身份证件号码", "年级", "班级",
            "就读方式", "是否留守儿童", "是否进城务工人员随迁子女", "残疾人类型", "随班就读", "学籍状态", "学生来源"]
    for j, h in enumerate(head):
        ws.write(1, j, h)
    pupils = [p for p in fall if p.school == "S3"] + [p for p in fall if p.ov.get("also_at") == "S3"]
    for i, p in enumerate(pupils):
        birth = p.ov.get("reg_birth", p.birth)
        vals = ["吕河镇", T.SCHOOLS["S3"][0], "G" + p.id, (" " + p.name + " ") if i % 5 == 2 else p.name, "1-男" if p.sex == "男" else "2-女",
                fmt_date(birth, "slash"), "1-居民身份证", str(reg_id(p)), cnemis(p), p.cls, p.boarding,
                p.left + "儿童", "是" if p.migrant else "否", p.disability, p.inclusive, p.fall_status, "正常入学"]
        for j, v in enumerate(vals):
            ws.write(i + 2, j, v)
    wb.save(str(f.path(rel)))
    f.note(rel, "学生名册", "registry", len(pupils))

    # ---- F3 旬阳县中学: GBK, tab-separated, no title row; term from the folder name
    rel = "学籍/2019秋/旬阳县中学学籍.csv"
    head = ["学校名称", "学籍号", "姓名", "性别", "出生日期", "身份证件号", "身份证件类型", "年级", "班级", "就读方式",
            "是否留守儿童", "是否进城务工人员随迁子女", "残疾人类型", "随班就读", "学籍状态", "联系电话",
            "成员1姓名", "成员1关系", "成员1身份证件号", "成员2姓名", "成员2关系", "成员2身份证件号"]
    pupils = [p for p in fall if p.school == "S4"]
    with open(f.path(rel), "w", encoding="gbk", newline="") as fh:
        w = csv.writer(fh, delimiter="\t")
        w.writerow(head)
        for i, p in enumerate(pupils):
            # family members (CNEMIS template): their IDs must never be taken for the pupil's
            if p.household is not None:
                fam = [(m.name, "父亲" if m.sex == "男" else "母亲", m.id) for m in p.household["members"][:2]]
            else:
                fam = [("某某", "父亲", c.new_id(dt.date(1978, 5, 6), "男")), ("某某", "母亲", c.new_id(dt.date(1980, 2, 3), "女"))]
            idv = reg_id(p)
            w.writerow([T.SCHOOLS["S4"][0], "G" + p.id, p.name, p.sex, fmt_date(p.birth, "cn"),
                        ("'" + idv) if i % 4 == 1 else idv,
                        "居民身份证", cnemis(p), p.cls, p.boarding, p.left + "儿童", "是" if p.migrant else "否",
                        p.disability, p.inclusive, p.fall_status, f"15{c.rng.randrange(10**8, 10**9)}",
                        *fam[0], *fam[1]])
    f.note(rel, "", "registry", len(pupils))

    # ---- F4 2019春, the whole county: term in the folder name and title, ISO dates, official headers
    rel = "学籍/2018-2019学年第二学期/旬阳县学籍信息导出.xlsx"
    head = ["学籍号", "姓名", "性别", "出生日期", "身份证件类型", "身份证件号", "学校标识码", "学校名称", "年级", "班级",
            "入学年月", "就读方式", "是否留守儿童", "是否进城务工人员随迁子女", "残疾人类型", "随班就读", "学籍状态"]
    rows = [head]
    for p in c.people:
        if p.spring and p.school:
            school, label = p.school, cnemis(p)
            if p.stage == "初中" and p.entry == 2019:  # promoted: 六年级 of the town's primary school last term
                school, label = ("S1" if p.pid % 2 else "S3"), "小学2013级"
            rows.append(["G" + p.id, p.name, p.sex, fmt_date(p.birth, "iso"), "居民身份证", p.id, T.SCHOOL_CODES[school],
                         T.SCHOOLS[school][0], label, p.cls, f"{label[2:6]}-09", p.boarding, p.left + "儿童",
                         "是" if p.migrant else "否", p.disability, p.inclusive, p.spring_status])
    write_xlsx(f.path(rel), [("学籍信息", [["旬阳县2018-2019学年第二学期学生学籍信息"]], rows, [])])
    f.note(rel, "学籍信息", "registry", len(rows) - 1)


def roster_files(c: County, f: Files) -> None:
    for town in ("蜀河镇", "吕河镇"):
        hhs = [h for h in c.households if h["town"] == town]
        if town == "蜀河镇":
            rel, sheet = "建档立卡/蜀河镇建档立卡贫困人口.xlsx", "贫困人口"
            head = ["市", "县", "乡", "行政村", "自然村", "户编号", "人口编号", "姓名", "性别", "证件类型", "证件号码", "出生日期",
                    "与户主关系", "人数", "民族", "文化程度", "在校生状况", "健康状况", "劳动技能", "务工状况", "贫困户属性",
                    "脱贫属性", "脱贫年度", "主要致贫原因", "帮扶责任人", "联系电话"]
        else:
            rel, sheet = "建档立卡/吕河镇贫困人口信息.xlsx", "Sheet1"
            head = ["户编号", "人编号", "姓名", "证件号码", "性别", "出生日期", "与户主关系", "在校生情况", "乡镇", "行政村",
                    "自然村", "证件类型", "人数", "贫困户属性", "脱贫属性", "脱贫年度", "失学或辍学原因", "联系电话"]
        rows = [head]
        for hh in hhs:
            for i, m in enumerate(hh["members"], 1):
                stage = m.roster_stage or "非在校生"
                if m.relation in ("本人或户主", "配偶"):
                    stage = "非在校生"
                idv = int(truncated(m.id)) if m.ov.get("roster_number") else m.ov.get("roster_id", m.id)
                if m.ov.get("roster_15"):  # a first-generation 15-digit number (no century, no check character)
                    idv = m.id[:6] + m.id[8:17]
                name = m.ov.get("roster_name", m.name)
                sex = m.ov.get("roster_sex", m.sex)
                birth = m.ov.get("roster_birth", m.birth)
                pno = f"{hh['no']}{i:02d}"
                if town == "蜀河镇":
                    row = ["安康市", "旬阳县", town, hh["village"], hh["hamlet"], hh["no"], pno, name, sex, "身份证", idv,
                           fmt_date(birth, "slash"), m.relation, len(hh["members"]), "汉族", "小学", stage, "健康",
                           "普通劳动力", "乡（镇）内务工", hh["type"], hh["exit"], "2018", "缺技术", "某干部",
                           f"18{c.rng.randrange(10**8, 10**9)}"]
                    rows.append(row)
                    if m.ov.get("roster_twice"):
                        other = next(h for h in hhs if h is not hh)
                        rows.append(["安康市", "旬阳县", town, other["village"], other["hamlet"], other["no"],
                                     f"{other['no']}99", name, sex, "身份证", idv, fmt_date(birth, "slash"), "其他",
                                     len(other["members"]), "汉族", "小学", stage, "健康", "普通劳动力", "乡（镇）内务工",
                                     other["type"], other["exit"], "2018", "缺技术", "某干部", ""])
                else:
                    # this platform codes 性别 1 女 / 2 男: a bare number the loader must not trust
                    row = [hh["no"], pno, name, idv, "1" if sex == "女" else "2", fmt_date(birth, "ymd"), m.relation,
                           stage, town, hh["village"], hh["hamlet"], "居民身份证", len(hh["members"]), hh["type"],
                           hh["exit"], "2019", None, f"18{c.rng.randrange(10**8, 10**9)}"]
                    rows.append(row)
        titles = [[f"全国扶贫开发信息系统 贫困人口明细（{town}）"], ["数据截至：2019年11月"]]
        write_xlsx(f.path(rel), [(sheet, titles, rows, [])])
        f.note(rel, sheet, "roster", len(rows) - 1)


def ledger_file(c: County, f: Files) -> None:
    rel = "控辍保学/旬阳县控辍保学台账（2019年秋季）.xlsx"
    head = ["序号", "乡", "村", "组", "适龄儿童姓名", "性别", "出生日期", "身份证号码", "未入学原因", "就读学校", "劝返情况",
            "佐证材料", "包联责任人", "联系电话", "备注"]
    rows = [head]
    for i, r in enumerate(c.ledger, 1):
        p = r["person"]
        sex = r.get("sex", p.sex)
        rows.append([i, r["town"], r["village"], r["hamlet"], r.get("name", p.name), "1" if sex == "男" else "2",
                     fmt_date(r.get("birth", p.birth), "iso"), r.get("id", p.id), r["reason"], r["school"],
                     r["status"], r["evidence"], "某村干部", f"13{c.rng.randrange(10**8, 10**9)}", None])
    titles = [["旬阳县义务教育阶段控辍保学工作台账"], ["填报单位：旬阳县教育体育和科技局"], ["统计时间：2019年11月"]]
    write_xlsx(f.path(rel), [("Sheet1", titles, rows, [])])
    f.note(rel, "Sheet1", "ledger", len(rows) - 1)


ITEM_LABELS = {"living": None, "hs_grant": "普通高中国家助学金", "hs_fee": "普通高中免学杂费"}


def aid_files(c: County, f: Files) -> None:
    # ---- A1 compulsory: GBK, semicolons, a title line, a single 学期 column, a 合计 row at the end
    rel = "资助/2019年秋季学期义务教育阶段家庭经济困难学生生活补助发放名单.csv"
    head = ["序号", "乡镇", "学校名称", "学段", "年级", "班级号", "学生姓名", "身份证号码", "资助项目", "资助金额(元)", "学期",
            "认定困难级别", "认定原因", "发放方式", "银行卡号"]
    recs = [r for r in c.aid if r["p"].stage in ("小学", "初中")]
    total = 0.0
    with open(f.path(rel), "w", encoding="gbk", newline="") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(["旬阳县2019年秋季学期义务教育阶段家庭经济困难学生生活补助发放名单"] + [""] * (len(head) - 1))
        w.writerow(head)
        for i, r in enumerate(recs, 1):
            p = r["p"]
            item = ITEM_LABELS[r["item"]] or ("家庭经济困难寄宿生生活补助" if p.boarding == "住校" else "非寄宿生生活补助")
            name = p.ov.get("aid_name", p.name)
            if i % 7 == 3:
                name += "\u3000"  # a trailing full-width space: not a name mismatch
            idv = p.id.lower() if p.id.endswith("X") else p.id
            school = T.SCHOOLS[p.school][0] if p.school else ""
            w.writerow([i, T.SCHOOLS[p.school][1], school, p.stage, school_grade(p, i) if p.entry else "",
                        p.cls, name, idv, item, f"{r['amount']:.2f}", "2019年秋季学期", r["level"], r["type"],
                        "一卡通", f"62{c.rng.randrange(10**15, 10**16)}"])
            total += r["amount"]
        w.writerow(["合计", "", "", "", "", "", "", "", "", f"{total:.2f}", "", "", "", "", ""])
    f.note(rel, "", "aid", len(recs), 1)

    # ---- A2 high school: sheet 导出工作表, two title rows, 学年 + 学期, 普高（高中）, 高一 / 高中二年级
    rel = "资助/普通高中学生资助发放名单（2019秋）.xlsx"
    head = ["学年", "学期", "学校", "学段", "年级", "班级", "姓名", "学生身份证件号", "学籍号", "资助项目", "金额（元）",
            "家庭经济困难等级", "困难类型"]
    rows = [head]
    for i, r in enumerate([r for r in c.aid if r["p"].stage == "高中"]):
        p = r["p"]
        rows.append(["2019-2020", "秋季", T.SCHOOLS[p.school][0], "普高（高中）", school_grade(p, i), p.cls, p.name, p.id,
                     "G" + p.id, ITEM_LABELS[r["item"]], r["amount"], r["level"], r["type"]])
    titles = [["旬阳县普通高中学生资助资金发放名单"], ["（2019-2020学年秋季学期）"]]
    write_xlsx(f.path(rel), [("导出工作表", titles, rows, [])])
    f.note(rel, "导出工作表", "aid", len(rows) - 1)


def pairs_and_logs(c: County, f: Files) -> None:
    rng = c.rng
    enrolled_groupers = [p for p in c.people if p.enrolled and is_group(c, p) and p.pair is not False]
    paired = enrolled_groupers + [p for p in c.people if p.pair is True and p not in enrolled_groupers]
    teachers: dict[str, list[str]] = {}
    assign: dict[int, list[str]] = {}
    for s in T.SCHOOLS:
        pupils = [p for p in paired if p.school == s]
        names = [c.new_name(rng.choice("男女")) for _ in range(max(1, (len(pupils) + 2) // 3))]
        teachers[s] = names
        for i, p in enumerate(pupils):
            assign[p.pid] = [names[i // 3]]
        if len(pupils) > 4:  # 多对一: one pupil with a second mentor
            assign[pupils[0].pid].append(names[-1] if names[-1] != assign[pupils[0].pid][0] else names[0])

    def groups_of(p: Person) -> str:
        g = []
        if p.disability != "无残疾":
            g.append("残疾")
        if p.household is not None or p.aid_type:
            g.append("贫困")
        if p.left != "非留守":
            g.append("留守")
        if p.struggling:
            g.append("学困")
        if p.migrant:
            g.append("随迁")
        return "、".join(g) or "其他"

    # ---- pairs: one workbook, a sheet per town, leading apostrophes on a few IDs, teacher school in 3 spellings
    rel = "结对帮扶/2019年秋季学期师生结对帮扶名单.xlsx"
    head = ["序号", "乡镇", "学校", "帮扶教师", "教师所在学校", "结对学生", "学生身份证件号", "性别", "帮扶类别", "结对时间", "备注"]
    sheets = []
    for sheet, towns in (("蜀河镇", ("蜀河镇",)), ("吕河镇及县直", ("吕河镇", "城关镇"))):
        rows = [head]
        for p in paired:
            s_name, town = T.SCHOOLS[p.school][0], T.SCHOOLS[p.school][1]
            if town not in towns:
                continue
            start = p.ov.get("pair_start", dt.date(2019, 9, 1) if p.pid % 2 else dt.date(2019, 8, 30))
            for t in assign[p.pid]:
                ts = p.ov.get("teacher_school")
                if ts is None:
                    ts = [s_name, s_name.replace("旬阳县", ""), None][len(rows) % 3]
                idv = ("'" + p.id) if len(rows) % 11 == 5 else p.id
                rows.append([len(rows), town, s_name, t, ts, p.name, idv, p.sex, groups_of(p),
                             fmt_date(start, "cn"), None])
        sheets.append((sheet, [["旬阳县2019年秋季学期师生结对帮扶花名册"]], rows, []))
        f.note(rel, sheet, "pairs", len(rows) - 1)
    write_xlsx(f.path(rel), sheets)

    # ---- logs: every paired, enrolled group pupil, every required week and visit month, minus the planted gaps
    mondays = school_weeks()
    logs: dict[str, list[dict]] = {s: [] for s in T.SCHOOLS}
    contents = ["谈心谈话，了解学习和生活情况", "学习方法指导", "作业辅导", "安全教育", "生活习惯指导"]
    for p in paired:
        if not p.enrolled:
            continue
        start = p.ov.get("pair_start", dt.date(2019, 8, 30))
        t = assign[p.pid][0]
        for m in mondays:
            if m < start or iso_week(m) in p.ov.get("skip_weeks", ()):
                continue
            d = m + dt.timedelta(days=(p.pid % 5))
            logs[p.school].append({"p": p, "t": t, "a": "帮扶记录", "d": d, "c": contents[(p.pid + d.day) % 5]})
        for ym in T.VISIT_MONTHS:
            y, mo = map(int, ym.split("-"))
            if dt.date(y, mo, 1) < start or ym in p.ov.get("skip_months", ()):
                continue
            logs[p.school].append({"p": p, "t": t, "a": "家访", "d": dt.date(y, mo, 10 + p.pid % 15),
                                   "c": "入户了解家庭情况，宣传资助政策"})
        # extra activity that no rule needs: 心理疏导 for 留守 pupils, records in the 国庆 week and in W48
        if p.left != "非留守":
            logs[p.school].append({"p": p, "t": t, "a": "心理疏导", "d": dt.date(2019, 10, 23), "c": "留守儿童关护工作室谈心"})
        if p.pid % 4 == 0:
            logs[p.school].append({"p": p, "t": t, "a": "帮扶记录", "d": dt.date(2019, 10, 3), "c": "假期电话联系"})
            logs[p.school].append({"p": p, "t": t, "a": "帮扶记录", "d": dt.date(2019, 11, 27), "c": "学习方法指导"})
    for school_logs in logs.values():
        school_logs.sort(key=lambda r: (r["d"], r["p"].pid))

    # L1 S1: xlsx, 纪实手册 names for activities, date cells
    rel = "结对帮扶/蜀河镇中心小学帮扶纪实.xlsx"
    names = {"帮扶记录": "纪实手册记录", "家访": "入户走访", "心理疏导": "心理辅导"}
    rows = [["序号", "学校名称", "帮扶教师", "帮扶学生", "学生身份证件号", "帮扶形式", "帮扶日期", "帮扶内容", "备注"]]
    for r in logs["S1"]:
        rows.append([len(rows), T.SCHOOLS["S1"][0], r["t"], r["p"].name, r["p"].id, names[r["a"]],
                     dt.datetime.combine(r["d"], dt.time()), r["c"], None])
    write_xlsx(f.path(rel), [("纪实手册", [["蜀河镇中心小学师生结对帮扶纪实（2019年秋季学期）"]], rows, [])])
    f.note(rel, "纪实手册", "activities", len(rows) - 1)

    # L2 S2: records in a GBK tab CSV (dates 2019年9月3日), visits in an xlsx without an activity column
    rel = "结对帮扶/蜀河镇初级中学帮扶记录.csv"
    recs = [r for r in logs["S2"] if r["a"] != "家访"]
    with open(f.path(rel), "w", encoding="gbk", newline="") as fh:
        w = csv.writer(fh, delimiter="\t")
        w.writerow(["学校", "教师姓名", "学生姓名", "学生身份证件号", "记录类型", "记录日期", "记录内容"])
        for r in recs:
            w.writerow([T.SCHOOLS["S2"][0], r["t"], r["p"].name, r["p"].id, r["a"], fmt_date(r["d"], "cn"), r["c"]])
    f.note(rel, "", "activities", len(recs))
    rel = "结对帮扶/蜀河镇初级中学家访记录.xlsx"
    rows = [["学校", "家访教师", "学生姓名", "学生身份证件号", "家访日期", "家访内容"]]
    for r in logs["S2"]:
        if r["a"] == "家访":
            rows.append([T.SCHOOLS["S2"][0], r["t"], r["p"].name, r["p"].id, fmt_date(r["d"], "ymd"), r["c"]])
    write_xlsx(f.path(rel), [("家访记录", [], rows, [])])
    f.note(rel, "家访记录", "activities", len(rows) - 1)

    # L3 S3: .xls, dates 2019/9/3
    rel = "结对帮扶/吕河镇中心小学帮扶活动记录.xls"
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("活动记录")
    for j, h in enumerate(["学校", "帮扶人", "帮扶对象", "学生身份证件号", "活动类型", "活动日期", "活动内容"]):
        ws.write(0, j, h)
    for i, r in enumerate(logs["S3"], 1):
        idv = r["p"].id.translate(FULLWIDTH) if r["p"].pid % 6 == 1 else r["p"].id
        for j, v in enumerate([T.SCHOOLS["S3"][0], r["t"], r["p"].name, idv, r["a"], fmt_date(r["d"], "slash"),
                               r["c"]]):
            ws.write(i, j, v)
    wb.save(str(f.path(rel)))
    f.note(rel, "活动记录", "activities", len(logs["S3"]))

    # L4 S4: xlsx with dates as bare Excel serial numbers and ISO text, alternating
    rel = "结对帮扶/旬阳县中学结对帮扶活动记录.xlsx"
    rows = [["学校名称", "教师姓名", "学生姓名", "学生身份证件号", "活动类型", "活动日期", "活动内容"]]
    for i, r in enumerate(logs["S4"]):
        d = serial(r["d"]) if i % 2 else fmt_date(r["d"], "iso")
        rows.append([T.SCHOOLS["S4"][0], r["t"], r["p"].name, r["p"].id, r["a"], d, r["c"]])
    write_xlsx(f.path(rel), [("Sheet1", [["旬阳县中学帮扶活动记录"]], rows, [])])
    f.note(rel, "Sheet1", "activities", len(rows) - 1)


def struggling_files(c: County, f: Files) -> None:
    fw = FULLWIDTH
    for s, rel, sheet in (("S2", "学困生/蜀河镇初级中学学困生名单.xlsx", "学困生"),
                          ("S1", "学困生/蜀河镇中心小学学困生名单.xlsx", "Sheet1"),
                          ("S3", "学困生/吕河镇中心小学学困生名单.xlsx", "Sheet1"),
                          ("S4", "学困生/旬阳县中学学困生名单.xlsx", "Sheet1")):
        rows = [["学校名称", "年级", "班级号", "学生姓名", "身份证号码", "薄弱学科", "学困原因"]]
        for i, p in enumerate([p for p in c.people if p.struggling and p.school == s and p.fall]):
            idv = p.id.translate(fw) if i == 0 else p.id
            rows.append([T.SCHOOLS[s][0], school_grade(p, i), p.cls, p.name, idv, "数学、英语", "基础薄弱"])
        if len(rows) == 1:
            continue
        write_xlsx(f.path(rel), [(sheet, [[f"{T.SCHOOLS[s][0]}学困生名单（2019年秋季学期）"]], rows, [])])
        f.note(rel, sheet, "struggling", len(rows) - 1)


def other_files(c: County, f: Files) -> None:
    """A province 疑似问题 list (its own system, no finding of ours) and a teachers' roster no system knows."""
    rel = "疑似问题/陕西省教育脱贫攻坚疑似问题清单（第二批）.xlsx"
    head = ["序号", "市", "县", "乡镇", "学校", "姓名", "身份证号码", "疑似问题类型", "问题说明", "推送时间", "反馈时限",
            "核查结果", "整改情况"]
    rows = [head]
    for p in [p for p in c.people if p.enrolled][:4]:
        rows.append([len(rows), "安康市", "旬阳县", T.SCHOOLS[p.school][1], T.SCHOOLS[p.school][0], p.name, p.id,
                     "人员信息不一致", "学籍与公安人口库信息比对不一致", "2019-11-18", "2019-11-25", None, None])
    write_xlsx(f.path(rel), [("问题清单", [["陕西省教育脱贫攻坚疑似问题清单（第二批）"]], rows, [])])
    f.note(rel, "问题清单", "suspects", len(rows) - 1)
    rel = "其他/蜀河镇教师花名册.xlsx"
    rows = [["教师姓名", "性别", "任教学科", "职称", "任教学校"]]
    rows += [[c.new_name("女"), "女", "语文", "一级教师", T.SCHOOLS["S1"][0]] for _ in range(3)]
    write_xlsx(f.path(rel), [("Sheet1", [], rows, [])])
    f.note(rel, "Sheet1", None, 0, None)


@dataclass
class Built:
    root: Path
    key: pd.DataFrame
    expect: dict          # (file relative to root, sheet) -> (system, rows loaded, rows rejected)
    county: County


def build(out_dir, seed: int = 20191130) -> Built:
    """Write the independent folder under out_dir; return its answer key and the expected load report."""
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    c = make_county(seed)
    f = Files(root)
    registry_files(c, f)
    roster_files(c, f)
    ledger_file(c, f)
    aid_files(c, f)
    pairs_and_logs(c, f)
    struggling_files(c, f)
    other_files(c, f)
    key = pd.DataFrame(c.key, columns=KEY_COLUMNS).sort_values(["kind", "id_number", "item", "period"])
    return Built(root, key.reset_index(drop=True), f.expect, c)


if __name__ == "__main__":  # pragma: no cover
    import sys
    b = build(sys.argv[1] if len(sys.argv) > 1 else "independent_folder")
    b.key.to_csv(b.root.parent / "independent_answer_key.csv", index=False, encoding="utf-8-sig")
    print(b.key["kind"].value_counts().to_string())
