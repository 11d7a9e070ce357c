"""The clean synthetic county (样例县): people, households, schools and every system's canonical table, with no
finding at all. Defects are injected afterwards (`defects.py`), each recording the findings it implies.

Everything is vectorised with numpy; a `Ctx` carries the random generator, the rule files and the calendar.
Internal columns start with `_` (`_pid`: the person behind a row) and are dropped before anything is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..rules import load_yaml, rule_path, settings

AS_OF = dt.date(2019, 11, 30)
TERM = "2019秋"
PREV_TERM = "2019春"
SCHOOL_YEAR = "2019-2020"
TERM_START = dt.date(2019, 9, 2)
COHORT = (pd.Timestamp("2003-09-01"), pd.Timestamp("2013-08-31"))   # school-age on 2019-11-30
STAGE_SHARE = {"小学": 0.56, "初中": 0.26, "高中": 0.12, "中职": 0.06}
STAGE_GRADES = {"小学": 6, "初中": 3, "高中": 3, "中职": 3}
STAGE_OFFSET = {"小学": 0, "初中": 6, "高中": 9, "中职": 9}   # overall grade = offset + grade
CN_NUM = {1: "一", 2: "二", 3: "三", 4: "四", 5: "五", 6: "六", 7: "七", 8: "八", 9: "九"}
NEIGHBOURS = ["610902", "610921", "610922", "610923", "610924", "610925", "610926", "610927", "610929"]
FAR_REGIONS = ["610102", "610402", "610502", "610602", "610702", "610802", "611002", "420302", "411302", "500101"]
WRITTEN_ITEMS = ["compulsory_living", "hs_grant", "hs_fee_waiver", "vs_grant", "vs_fee_waiver", "vs_poverty_grant"]
HAMLETS = [f"{CN_NUM[i]}组" for i in range(1, 9)]
DISABILITIES = ["视力残疾", "听力残疾", "言语残疾", "肢体残疾", "智力残疾", "多重残疾"]
INCLUSIVE = {"视力残疾": "视力残疾随班就读", "听力残疾": "听力残疾随班就读", "智力残疾": "智力残疾随班就读"}


@dataclass
class Ctx:
    rng: np.random.Generator
    n_students: int
    chunk: int = 0          # chunk index (scale runs): IDs of different chunks never collide
    n_chunks: int = 1
    towns: pd.DataFrame = field(default_factory=pd.DataFrame)
    villages: pd.DataFrame = field(default_factory=pd.DataFrame)
    schools: pd.DataFrame = field(default_factory=pd.DataFrame)
    names: dict = field(default_factory=dict)
    policy: pd.DataFrame = field(default_factory=pd.DataFrame)


# ----------------------------------------------------------------------------------------------------------------
# rule files


def load_county() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """towns (name, code, weight), villages (town, village), schools (name, code, type, size, town, county_level)."""
    data = load_yaml("xunyang.yaml")
    towns, villages, schools = [], [], []
    for t in data["towns"]:
        towns.append({"town": t["name"], "town_code": str(t["code"])})
        villages += [{"town": t["name"], "village": v} for v in t["villages"]]
        for s in t["schools"]:
            schools.append({"school_name": s["name"], "school_code": str(s["code"]), "type": s["type"],
                            "size": float(s["size"]), "town": t["name"],
                            "county_level": t["name"] not in s["name"]})
    return pd.DataFrame(towns), pd.DataFrame(villages), pd.DataFrame(schools)


def load_policy() -> pd.DataFrame:
    """The aid policy rows of the items whose lists the county holds (no 营养改善计划, 两免, 学前, 高校 items)."""
    pol = pd.read_csv(rule_path(settings()["aid_policy"]), dtype=str, keep_default_na=False)
    pol = pol[pol["item"].isin(WRITTEN_ITEMS) & pol["terms"].str.contains("秋")].copy()
    pol["grade_min"] = pol["grade_min"].astype(int)
    pol["grade_max"] = pol["grade_max"].astype(int)
    pol["semester_amount"] = pol["semester_amount"].astype(float)
    pol["once"] = pol["once"].str.lower().eq("true")
    pol["stage"] = pol["stage"].str.split(";")
    return pol.explode("stage").reset_index(drop=True)


def make_ctx(n_students: int, seed: int, chunk: int = 0, n_chunks: int = 1) -> Ctx:
    towns, villages, schools = load_county()
    names = load_yaml("sample_names.yaml")
    rng = np.random.default_rng([seed, chunk])
    return Ctx(rng=rng, n_students=n_students, chunk=chunk, n_chunks=n_chunks, towns=towns, villages=villages,
               schools=schools, names=names, policy=load_policy())


# ----------------------------------------------------------------------------------------------------------------
# people: names, birth dates, IDs


def random_names(ctx: Ctx, sex: np.ndarray, surname: np.ndarray | None = None) -> np.ndarray:
    """Synthetic names: a weighted common surname (or the given one) + one or two given-name characters."""
    rng, nm = ctx.rng, ctx.names
    n = len(sex)
    if surname is None:
        sur = np.array(list(nm["surnames"].keys()))
        w = np.array(list(nm["surnames"].values()), dtype=float)
        surname = sur[rng.choice(len(sur), n, p=w / w.sum())]
    male = np.array(nm["given_male"])
    female = np.array(nm["given_female"])
    is_m = np.asarray(sex) == "男"
    g1 = np.where(is_m, male[rng.integers(0, len(male), n)], female[rng.integers(0, len(female), n)])
    g2 = np.where(is_m, male[rng.integers(0, len(male), n)], female[rng.integers(0, len(female), n)])
    two = rng.random(n) < nm["two_char_given"]
    given = np.where(two, np.char.add(g1, g2), g1)
    return np.char.add(surname.astype(str), given.astype(str))


def random_dates(rng: np.random.Generator, start, end, n: int) -> np.ndarray:
    """Uniform dates in [start, end] (datetime64[D]); start/end scalars or arrays."""
    s = np.asarray(start, dtype="datetime64[D]")
    e = np.asarray(end, dtype="datetime64[D]")
    span = (e - s).astype(int) + 1
    return s + (rng.random(n) * span).astype(int)


WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
CHECK = np.array(list("10X98765432"))


def check_chars(d17: np.ndarray) -> np.ndarray:
    """Check characters for an (n, 17) int matrix of digits."""
    return CHECK[(d17 @ WEIGHTS) % 11]


def id_strings(d17: np.ndarray) -> np.ndarray:
    """(n, 17) digits -> 18-character ID strings with their check character."""
    body = np.ascontiguousarray((d17 + 48).astype(np.uint8)).view("S17").ravel().astype("U17")
    return np.char.add(body, check_chars(d17))


def digits_of(ids: np.ndarray) -> np.ndarray:
    """18-character IDs -> (n, 17) int matrix of the first 17 digits."""
    b = np.asarray(ids, dtype="U18").astype("S18")
    return (np.frombuffer(b.tobytes(), dtype=np.uint8).reshape(len(b), 18)[:, :17].astype(np.int64) - 48)


def make_ids(ctx: Ctx, region: np.ndarray, birth: np.ndarray, sex: np.ndarray) -> np.ndarray:
    """Unique valid IDs: region + birth date + sequence (odd male, even female) + check character.

    In scale runs chunk c only uses sequence numbers k with k % n_chunks == c, so chunks never collide."""
    rng = ctx.rng
    n = len(region)
    reg = np.asarray(region, dtype="U6").astype(np.int64)
    ymd = pd.DatetimeIndex(np.asarray(birth, dtype="datetime64[D]")).strftime("%Y%m%d").to_numpy(dtype="U8")
    ymd = ymd.astype(np.int64)
    male = np.asarray(sex) == "男"
    slots = 500 // ctx.n_chunks
    seq = np.zeros(n, dtype=np.int64)
    todo = np.arange(n)
    for _ in range(50):
        k = rng.integers(1, slots, len(todo)) * ctx.n_chunks + ctx.chunk
        seq[todo] = np.where(male[todo], 2 * k + 1, 2 * k) % 1000
        key = (reg * 10**8 + ymd) * 1000 + seq
        # keep the first occurrence of each key; redraw the others
        _, first = np.unique(key, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        todo = np.flatnonzero(dup)
        if not len(todo):
            break
    else:  # pragma: no cover - only with absurd densities
        raise RuntimeError("样例生成：身份证号顺序码不足")
    d = np.zeros((n, 17), dtype=np.int64)
    for i, (v, w) in enumerate([(reg, 6), (ymd, 8), (seq, 3)]):
        off = [0, 6, 14][i]
        for j in range(w):
            d[:, off + j] = (v // 10 ** (w - 1 - j)) % 10
    return id_strings(d)


def cohort_birth(rng: np.random.Generator, overall_grade: np.ndarray, older: np.ndarray) -> np.ndarray:
    """Birth dates consistent with the 8-31 rule for a pupil in overall grade G (1-12) in autumn 2019."""
    y0 = 2012 - (overall_grade - 1) - older.astype(int)
    start = pd.to_datetime(pd.Series(y0.astype(str)) + "-09-01").to_numpy("datetime64[D]")
    end = pd.to_datetime(pd.Series((y0 + 1).astype(str)) + "-08-31").to_numpy("datetime64[D]")
    return random_dates(rng, start, end, len(y0))


def phones(rng: np.random.Generator, n: int) -> np.ndarray:
    """Synthetic 11-digit mobile numbers (text)."""
    pre = np.array(["133", "135", "137", "139", "150", "152", "158", "177", "180", "189"])
    body = np.char.zfill(rng.integers(0, 10**8, n).astype("U8"), 8)
    return np.char.add(pre[rng.integers(0, len(pre), n)], body)


def grade_label_cnemis(stage: np.ndarray, grade: np.ndarray, term_year: int) -> np.ndarray:
    """CNEMIS 年级: stage + entry year, e.g. 小学2016级 (entry year = school year - grade + 1)."""
    entry = term_year - np.asarray(grade, dtype=int) + 1
    return np.char.add(np.char.add(np.asarray(stage, dtype="U2"), entry.astype("U4")), "级")


def grade_label_school(stage: np.ndarray, grade: np.ndarray) -> np.ndarray:
    """School-made 年级: 一年级…九年级, 高一…高三, 中职一年级…"""
    overall = np.where(np.isin(stage, ["小学", "初中"]), np.where(stage == "初中", grade + 6, grade), grade)
    cn = np.array([CN_NUM.get(int(g), "") for g in overall])
    out = np.char.add(cn, "年级")
    out = np.where(stage == "高中", np.char.add("高", cn), out)
    out = np.where(stage == "中职", np.char.add(np.char.add("中职", cn), "年级"), out)
    return out


def roster_status(stage: np.ndarray, grade: np.ndarray) -> np.ndarray:
    """建档立卡 在校生状况 for a stage/grade: 小学 (no grade), 七年级…, 高中一年级…, 中职一年级…"""
    cn = np.array([CN_NUM.get(int(g), "") if not pd.isna(g) else "" for g in grade])
    out = np.full(len(stage), "非在校生", dtype=object)
    out[stage == "小学"] = "小学"
    jh = stage == "初中"
    out[jh] = [CN_NUM[int(g) + 6] + "年级" for g in grade[jh]]
    out[stage == "高中"] = np.char.add(np.char.add("高中", cn[stage == "高中"]), "年级")
    out[stage == "中职"] = np.char.add(np.char.add("中职", cn[stage == "中职"]), "年级")
    out[stage == "大专及以上"] = "大专及以上"
    out[stage == "学前"] = "学前教育"
    return out


# ----------------------------------------------------------------------------------------------------------------
# the clean county


def _pick_school(ctx: Ctx, town: np.ndarray, types: list[str]) -> np.ndarray:
    """A school index per pupil among the town's schools of the given types, weighted by size."""
    sch = ctx.schools
    out = np.full(len(town), -1, dtype=np.int64)
    for t, idx in pd.Series(np.arange(len(town))).groupby(town).groups.items():
        cand = sch.index[(sch["town"] == t) & sch["type"].isin(types) & ~sch["county_level"]].to_numpy()
        if t == "城关镇" or not len(cand):
            cand = sch.index[(sch["town"] == t) & sch["type"].isin(types)].to_numpy()
        w = sch.loc[cand, "size"].to_numpy()
        out[np.asarray(idx)] = cand[ctx.rng.choice(len(cand), len(idx), p=w / w.sum())]
    return out


def build_students(ctx: Ctx) -> pd.DataFrame:
    """The pupils enrolled in 2019秋 (one row per person) with their school, stage, grade and registry flags."""
    rng, n = ctx.rng, ctx.n_students
    stages = np.array(list(STAGE_SHARE))
    stage = stages[rng.choice(len(stages), n, p=np.array(list(STAGE_SHARE.values())))]
    grade = np.zeros(n, dtype=np.int64)
    for s, g in STAGE_GRADES.items():
        m = stage == s
        grade[m] = rng.integers(1, g + 1, m.sum())
    towns = ctx.towns["town"].to_numpy()
    tw = np.where(towns == "城关镇", 4.0, 0.7 + 0.6 * np.random.default_rng(7).random(len(towns)))
    home_town = towns[rng.choice(len(towns), n, p=tw / tw.sum())]
    school = np.full(n, -1, dtype=np.int64)
    m = stage == "小学"
    school[m] = _pick_school(ctx, home_town[m], ["小学", "九年制"])
    m = stage == "初中"
    school[m] = _pick_school(ctx, home_town[m], ["初中", "九年制"])
    for s in ("高中", "中职"):
        m = stage == s
        school[m] = _pick_school(ctx, np.full(m.sum(), "城关镇"), [s])
    sch = ctx.schools
    older = rng.random(n) < 0.03
    overall = np.array([STAGE_OFFSET[s] for s in stage]) + grade
    birth = cohort_birth(rng, overall, older)
    sex = np.where(rng.random(n) < 0.52, "男", "女")
    vil = ctx.villages.groupby("town")["village"].apply(np.array).to_dict()
    village = np.array([vil[t][i % len(vil[t])] for t, i in zip(home_town, rng.integers(0, 1000, n))])
    migrant = np.isin(stage, ["小学", "初中"]) & (rng.random(n) < 0.01)
    region = np.where(rng.random(n) < 0.02, np.array(NEIGHBOURS)[rng.integers(0, 9, n)], "610928")
    region = np.where(migrant, np.array(FAR_REGIONS)[rng.integers(0, len(FAR_REGIONS), n)], region)
    poor = ~migrant & (rng.random(n) < 1 / 3)
    left = np.where(migrant, "非留守", np.array(["非留守", "单亲留守", "双亲留守"])[
        rng.choice(3, n, p=[0.78, 0.12, 0.10])])
    dis = rng.random(n) < 0.012
    disability = np.where(dis, np.array(DISABILITIES)[rng.integers(0, len(DISABILITIES), n)], "无残疾")
    inclusive = np.array([INCLUSIVE.get(d, "其他残疾随班就读") if d != "无残疾" else "非随班就读" for d in disability])
    inclusive = np.where(dis & (rng.random(n) < 0.3), "非随班就读", inclusive)
    board_p = np.select([stage == "小学", stage == "初中", stage == "高中"], [0.12, 0.55, 0.7], 0.6)
    boarding = np.where(rng.random(n) < board_p, "住校", "走读")
    st = pd.DataFrame({
        "stage": stage, "grade": grade, "school": school, "home_town": home_town, "village": village,
        "hamlet": np.array(HAMLETS)[rng.integers(0, 8, n)], "birth_date": birth, "sex": sex, "region": region,
        "migrant": migrant, "poor": poor, "left_behind": left, "disability": disability, "inclusive": inclusive,
        "boarding": boarding, "orphan": rng.random(n) < 0.003,
    })
    st["school_name"] = sch["school_name"].to_numpy()[school]
    st["school_code"] = sch["school_code"].to_numpy()[school]
    st["town"] = sch["town"].to_numpy()[school]
    st["class_no"] = rng.integers(1, 5, n)
    return st


_SCALE_REGIONS: np.ndarray | None = None


def _scale_regions() -> np.ndarray:
    global _SCALE_REGIONS
    if _SCALE_REGIONS is None:
        from .. import ids
        codes = sorted(c for c in ids.region_codes() if c.startswith("61") and not c.endswith("00")
                       and c not in ("610928", "612429"))
        _SCALE_REGIONS = np.array(codes)
    return _SCALE_REGIONS


def build_leavers(ctx: Ctx, st: pd.DataFrame) -> pd.DataFrame:
    """Pupils only in the 2019春 registry: this year's 初中3 graduates who did not go on in the county, the 高中3
    and 中职3 graduates, and a few recorded transfers out (转出). Same columns as `build_students` plus
    `prev_status` (毕业 / 在读 / 转出); stage and grade are those of 2019春."""
    rng = ctx.rng
    n_j3 = int((st["stage"].eq("初中") & st["grade"].eq(3)).sum())
    n_up = int((st["stage"].isin(["高中", "中职"]) & st["grade"].eq(1)).sum())
    parts = []
    counts = {("初中", 3): max(n_j3 - n_up, 0) + max(n_j3 // 10, 1),
              ("高中", 3): int((st["stage"].eq("高中") & st["grade"].eq(3)).sum()),
              ("中职", 3): int((st["stage"].eq("中职") & st["grade"].eq(3)).sum())}
    for (stage, grade), k in counts.items():
        if k:
            parts.append(pd.DataFrame({"stage": stage, "grade": grade, "prev_status":
                                       np.where(rng.random(k) < 0.5, "毕业", "在读")}))
    k = max(2, ctx.n_students // 1000)
    tr_stage = np.where(rng.random(k) < 0.6, "小学", "初中")
    tr_grade = np.where(tr_stage == "小学", rng.integers(1, 6, k), rng.integers(1, 3, k))
    parts.append(pd.DataFrame({"stage": tr_stage, "grade": tr_grade, "prev_status": "转出"}))
    lv = pd.concat(parts, ignore_index=True)
    n = len(lv)
    towns = ctx.towns["town"].to_numpy()
    lv["home_town"] = towns[rng.integers(0, len(towns), n)]
    vil = ctx.villages.groupby("town")["village"].apply(np.array).to_dict()
    lv["village"] = [vil[t][i % len(vil[t])] for t, i in zip(lv["home_town"], rng.integers(0, 1000, n))]
    lv["hamlet"] = np.array(HAMLETS)[rng.integers(0, 8, n)]
    school = np.full(n, -1, dtype=np.int64)
    for stage, types in (("小学", ["小学", "九年制"]), ("初中", ["初中", "九年制"])):
        m = (lv["stage"] == stage).to_numpy()
        school[m] = _pick_school(ctx, lv["home_town"].to_numpy()[m], types)
    for stage in ("高中", "中职"):
        m = (lv["stage"] == stage).to_numpy()
        school[m] = _pick_school(ctx, np.full(m.sum(), "城关镇"), [stage])
    lv["school"] = school
    overall_autumn = np.array([STAGE_OFFSET[s] for s in lv["stage"]]) + lv["grade"].to_numpy() + 1
    lv["birth_date"] = cohort_birth(rng, overall_autumn, np.zeros(n, dtype=bool))
    lv["sex"] = np.where(rng.random(n) < 0.52, "男", "女")
    lv["region"] = "610928"
    lv["migrant"] = False
    # poor leavers: graduates only (a poor 转出 pupil of school age would need a ledger entry)
    lv["poor"] = (lv["prev_status"] != "转出") & (rng.random(n) < 1 / 3)
    lv["left_behind"] = "非留守"
    lv["disability"] = "无残疾"
    lv["inclusive"] = "非随班就读"
    lv["boarding"] = np.where(rng.random(n) < 0.5, "住校", "走读")
    lv["orphan"] = False
    sch = ctx.schools
    lv["school_name"] = sch["school_name"].to_numpy()[school]
    lv["school_code"] = sch["school_code"].to_numpy()[school]
    lv["town"] = sch["town"].to_numpy()[school]
    lv["class_no"] = rng.integers(1, 5, n)
    return lv


LEDGER_REASONS = {   # reason: (share, evidence choices, school elsewhere choices)
    "县外就读": (0.40, ["转学证明", "就读学校在读证明", "学籍转接单"],
             ["安康市汉滨区江北小学", "安康市第二中学", "汉阴县城关小学", "白河县城关中学", "安康市第一小学"]),
    "省外就读": (0.20, ["就读学校在读证明", "学籍转接单"],
             ["浙江省宁波市鄞州区实验小学", "广东省东莞市长安镇中心小学", "江苏省苏州市吴中区木渎中学"]),
    "送教上门": (0.10, ["送教上门记录表", "残疾证复印件"], [""]),
    "特教学校就读": (0.10, ["特教学校在读证明"], ["安康市特殊教育学校"]),
    "延缓入学": (0.05, ["延缓入学申请及审批表"], [""]),
    "残疾不能入学": (0.07, ["残疾证复印件", "县级专家评估意见"], [""]),
    "辍学": (0.08, ["劝返工作记录", "劝返责任书"], [""]),
}


def build_ledger_kids(ctx: Ctx, n_poor: int) -> pd.DataFrame:
    """School-age children never in a county school (控辍保学): some poor, a few not; with reason and evidence."""
    rng = ctx.rng
    n = max(4, n_poor // 60) + max(2, ctx.n_students // 600)
    poor = np.zeros(n, dtype=bool)
    poor[: max(4, n_poor // 60)] = True
    reasons = np.array(list(LEDGER_REASONS))
    share = np.array([v[0] for v in LEDGER_REASONS.values()])
    reason = np.where(poor, reasons[rng.choice(len(reasons), n, p=share / share.sum())],
                      np.where(rng.random(n) < 0.7, "县外就读", "省外就读"))
    kids = pd.DataFrame({"reason": reason, "poor": poor})
    kids["birth_date"] = random_dates(rng, COHORT[0].to_datetime64(), COHORT[1].to_datetime64(), n)
    kids["sex"] = np.where(rng.random(n) < 0.52, "男", "女")
    kids["region"] = "610928"
    towns = ctx.towns["town"].to_numpy()
    kids["home_town"] = towns[rng.integers(0, len(towns), n)]
    vil = ctx.villages.groupby("town")["village"].apply(np.array).to_dict()
    kids["village"] = [vil[t][i % len(vil[t])] for t, i in zip(kids["home_town"], rng.integers(0, 1000, n))]
    kids["hamlet"] = np.array(HAMLETS)[rng.integers(0, 8, n)]
    ev = [LEDGER_REASONS[r][1][i % len(LEDGER_REASONS[r][1])] for r, i in zip(reason, rng.integers(0, 10, n))]
    sc = [LEDGER_REASONS[r][2][i % len(LEDGER_REASONS[r][2])] for r, i in zip(reason, rng.integers(0, 10, n))]
    kids["evidence"] = ev
    kids["school_elsewhere"] = [s or pd.NA for s in sc]
    # age-implied stage of children studying elsewhere (for the roster's 在校生状况)
    by = pd.DatetimeIndex(kids["birth_date"])
    cohort_year = by.year.to_numpy() + (by.month.to_numpy() >= 9)   # born 2012-09..2013-08 -> 2013 -> grade 1
    kids["overall"] = np.clip(2013 - cohort_year + 1, 1, 10)
    return kids


def build_households(ctx: Ctx, children: pd.DataFrame) -> pd.DataFrame:
    """Group poor children (columns home_town, village, hamlet, _pid) into households; returns the children with
    `household` and the household table's adults and other members appended, one row per roster member, with
    columns _pid (NA for new members), household, relation, kind, birth_date, sex, region, town, village, hamlet."""
    rng = ctx.rng
    ch = children.sort_values(["home_town", "village", "_pid"], kind="stable").reset_index(drop=True)
    n = len(ch)
    sizes = rng.choice([1, 2, 3], n, p=[0.5, 0.35, 0.15])
    starts = np.cumsum(sizes)
    hh = np.searchsorted(starts, np.arange(n), side="right")
    ch["household"] = hh
    first = ch.groupby("household").head(1).set_index("household")
    ch["home_town"] = first.loc[hh, "home_town"].to_numpy()
    ch["village"] = first.loc[hh, "village"].to_numpy()
    ch["hamlet"] = first.loc[hh, "hamlet"].to_numpy()
    n_hh = int(hh.max()) + 1 if n else 0
    hhs = first.reset_index()[["household", "home_town", "village", "hamlet"]]
    youngest = ch.groupby("household")["birth_date"].max().to_numpy()
    members = []

    def add(mask, relation, kind, birth, sex, region):
        k = int(mask.sum())
        if not k:
            return
        h = hhs[mask]
        members.append(pd.DataFrame({"household": h["household"].to_numpy(), "relation": relation, "kind": kind,
                                     "birth_date": birth[:k] if len(birth) != n_hh else birth[mask],
                                     "sex": sex, "region": region, "home_town": h["home_town"].to_numpy(),
                                     "village": h["village"].to_numpy(), "hamlet": h["hamlet"].to_numpy()}))

    allm = np.ones(n_hh, dtype=bool)
    y_young = pd.DatetimeIndex(youngest).year.to_numpy()
    father_birth = random_dates(rng, (pd.to_datetime((y_young - 42).astype(str) + "-01-01")).to_numpy("datetime64[D]"),
                                pd.to_datetime((y_young - 24).astype(str) + "-12-31").to_numpy("datetime64[D]"), n_hh)
    old_region = np.where(pd.DatetimeIndex(father_birth).year < 1985, np.where(rng.random(n_hh) < 0.4, "612429",
                                                                              "610928"), "610928")
    add(allm, "本人或户主", "adult", father_birth, "男", old_region)
    sp = rng.random(n_hh) < 0.85
    mother_birth = father_birth + rng.integers(-700, 1500, n_hh).astype("timedelta64[D]")
    add(sp, "配偶", "adult", mother_birth[sp], "女", np.where(rng.random(sp.sum()) < 0.1, "610929", "610928"))
    gp = rng.random(n_hh) < 0.35
    g_birth = random_dates(rng, np.datetime64("1938-01-01"), np.datetime64("1962-12-31"), n_hh)
    add(gp, "之母", "adult", g_birth[gp], "女", np.where(rng.random(gp.sum()) < 0.6, "612429", "610928"))
    gf = gp & (rng.random(n_hh) < 0.6)
    add(gf, "之父", "adult", (g_birth - 900)[gf], "男", np.where(rng.random(gf.sum()) < 0.6, "612429", "610928"))
    pre = rng.random(n_hh) < 0.2
    pre_birth = random_dates(rng, np.datetime64("2013-09-01"), np.datetime64("2019-06-30"), n_hh)
    pre_sex = np.where(rng.random(pre.sum()) < 0.5, "男", "女")
    add(pre, np.where(pre_sex == "男", "之子", "之女"), "preschool", pre_birth[pre], pre_sex, "610928")
    col = rng.random(n_hh) < 0.08
    col_birth = random_dates(rng, np.datetime64("1997-09-01"), np.datetime64("2001-08-31"), n_hh)
    col_sex = np.where(rng.random(col.sum()) < 0.5, "男", "女")
    add(col, np.where(col_sex == "男", "之子", "之女"), "college", col_birth[col], col_sex, "610928")
    wk = rng.random(n_hh) < 0.10
    wk_birth = random_dates(rng, np.datetime64("1995-01-01"), np.datetime64("2003-06-30"), n_hh)
    wk_sex = np.where(rng.random(wk.sum()) < 0.5, "男", "女")
    add(wk, np.where(wk_sex == "男", "之子", "之女"), "worker", wk_birth[wk], wk_sex, "610928")
    others = pd.concat(members, ignore_index=True) if members else pd.DataFrame()
    others["_pid"] = -1
    ch = ch.assign(relation=np.where(ch["sex"] == "男", "之子", "之女"))
    out = pd.concat([ch, others], ignore_index=True)
    out["birth_date"] = pd.to_datetime(out["birth_date"]).to_numpy("datetime64[D]")
    return out


# ----------------------------------------------------------------------------------------------------------------
# assembling the clean county


def _status_stage(status: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canonical roster stage/grade decoded from 在校生状况 (as the loader does)."""
    stage = np.full(len(status), None, dtype=object)
    grade = np.full(len(status), np.nan)
    cn = {v: k for k, v in CN_NUM.items()}
    for i, s in enumerate(status):
        if s == "小学":
            stage[i] = "小学"
        elif s.endswith("年级") and s[0] in cn and len(s) == 3:
            stage[i], grade[i] = "初中", cn[s[0]] - 6
        elif s.startswith("高中"):
            stage[i], grade[i] = "高中", cn[s[2]]
        elif s.startswith("中职"):
            stage[i], grade[i] = "中职", cn[s[2]]
        elif s == "学前教育":
            stage[i] = "学前"
        elif s == "大专及以上":
            stage[i] = "大专及以上"
    return stage, grade


def stage_of_overall(overall: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stage = np.select([overall <= 6, overall <= 9], ["小学", "初中"], "高中")
    grade = np.select([overall <= 6, overall <= 9], [overall, overall - 6], overall - 9)
    return stage, grade


def build_clean(ctx: Ctx) -> dict:
    """The clean county: a dict with the canonical tables (registry, registry_prev, aid, roster, ledger, pairs,
    activities, struggling), the people table (`people`), teachers and calendar facts. No finding at all."""
    rng = ctx.rng
    st = build_students(ctx)
    st["_pid"] = np.arange(len(st))
    lv = build_leavers(ctx, st)
    lv["_pid"] = np.arange(len(lv)) + len(st)
    lk = build_ledger_kids(ctx, int(st["poor"].sum()))
    lk["_pid"] = np.arange(len(lk)) + len(st) + len(lv)
    cols = ["_pid", "home_town", "village", "hamlet", "birth_date", "sex", "region"]
    kids = pd.concat([st.loc[st["poor"], cols].assign(kind="student"), lv.loc[lv["poor"], cols].assign(kind="leaver"),
                      lk.loc[lk["poor"], cols].assign(kind="ledger")], ignore_index=True)
    roster = build_households(ctx, kids)
    new = roster["_pid"] < 0
    base = len(st) + len(lv) + len(lk)
    roster.loc[new, "_pid"] = np.arange(new.sum()) + base
    # the people table: everyone once
    people = pd.concat([
        st[cols].assign(kind="student"), lv[cols].assign(kind="leaver"), lk[cols].assign(kind="ledger"),
        roster.loc[new, cols + ["kind"]]], ignore_index=True).sort_values("_pid").reset_index(drop=True)
    people["birth_date"] = pd.to_datetime(people["birth_date"]).to_numpy("datetime64[D]")
    # household members live where their household lives
    rp = roster["_pid"].to_numpy(dtype=np.int64)
    for c in ("home_town", "village", "hamlet"):
        v = people[c].to_numpy(dtype=object, copy=True)
        v[rp] = roster[c].to_numpy()
        people[c] = v
    people["household"] = -1
    people.loc[roster["_pid"].to_numpy(), "household"] = roster["household"].to_numpy()
    people["poor"] = people["household"] >= 0
    # names: household members share the head's surname (spouse and 之母 keep their own)
    n_hh = int(roster["household"].max()) + 1 if len(roster) else 0
    sur_list = np.array(list(ctx.names["surnames"].keys()))
    sw = np.array(list(ctx.names["surnames"].values()), dtype=float)
    hh_sur = sur_list[rng.choice(len(sur_list), max(n_hh, 1), p=sw / sw.sum())]
    surname = sur_list[rng.choice(len(sur_list), len(people), p=sw / sw.sum())]
    rel = pd.Series(pd.NA, index=people.index, dtype=object)
    rel.loc[roster["_pid"].to_numpy()] = roster["relation"].to_numpy()
    people["relation"] = rel
    same = people["poor"].to_numpy() & ~rel.isin(["配偶", "之母"]).to_numpy()
    surname[same] = hh_sur[people.loc[same, "household"].to_numpy()]
    people["name"] = random_names(ctx, people["sex"].to_numpy(), surname)
    if ctx.n_students * ctx.n_chunks > 200_000:   # province-sized runs: spread IDs over Shaanxi county codes
        codes = _scale_regions()
        local = people["region"].isin(["610928", "612429"]).to_numpy() & (rng.random(len(people)) < 0.9)
        people["region"] = np.where(local, codes[rng.integers(0, len(codes), len(people))], people["region"])
    people["id_number"] = make_ids(ctx, people["region"].to_numpy(), people["birth_date"].to_numpy(),
                                   people["sex"].to_numpy())
    people["phone"] = phones(rng, len(people))
    pid_name = people["name"].to_numpy()
    pid_id = people["id_number"].to_numpy()
    for df in (st, lv, lk):
        df["name"] = pid_name[df["_pid"].to_numpy()]
        df["id_number"] = pid_id[df["_pid"].to_numpy()]
        df["home_town"] = people.loc[df["_pid"].to_numpy(), "home_town"].to_numpy()
        df["village"] = people.loc[df["_pid"].to_numpy(), "village"].to_numpy()
        df["hamlet"] = people.loc[df["_pid"].to_numpy(), "hamlet"].to_numpy()
        df["phone"] = people.loc[df["_pid"].to_numpy(), "phone"].to_numpy()
    st["poor"] = people.loc[st["_pid"], "poor"].to_numpy()

    # struggling (学困生) lists and aid difficulty of non-poor pupils
    st["struggling"] = rng.random(len(st)) < 0.05
    types = np.array(["低保", "其他困难", "特困供养", "残疾"])
    t = types[rng.choice(4, len(st), p=[0.5, 0.3, 0.12, 0.08])]
    t = np.where(st["disability"] != "无残疾", "残疾", np.where(t == "残疾", "低保", t))
    aided = ~st["poor"] & ~st["migrant"] & (rng.random(len(st)) < 0.08)
    st["aid_type"] = np.where(aided, t, None)
    lvl = np.select([t == "特困供养", t == "其他困难"], ["特别困难", "一般困难"], "困难")
    st["aid_level"] = np.where(aided, lvl, None)
    st["aid_level"] = st["aid_level"].where(~st["poor"], "特别困难")
    st["aid_type"] = st["aid_type"].where(~st["poor"], "建档立卡")

    tables: dict[str, pd.DataFrame] = {}
    tables["registry"] = registry_rows(st, TERM)
    prev = previous_term_rows(ctx, st, lv)
    tables["registry_prev"] = registry_rows(prev, PREV_TERM)
    tables["aid"], st = aid_rows(ctx, st)
    tables["roster"] = roster_rows(ctx, roster, people, st, lv, lk)
    tables["ledger"] = ledger_rows(ctx, people, lv, lk)
    tables["struggling"] = struggling_rows(ctx, st)
    groups = group_flags(st)
    st["groups"] = groups
    teachers = build_teachers(ctx, st)
    tables["pairs"], st = pair_rows(ctx, st, teachers)
    tables["activities"] = activity_rows(ctx, st, teachers)
    return {"tables": tables, "students": st, "leavers": lv, "ledger_kids": lk, "people": people,
            "teachers": teachers}


def registry_rows(df: pd.DataFrame, term: str) -> pd.DataFrame:
    """Canonical registry (学籍) rows for the pupils in `df` (their stage/grade/school in that term)."""
    year = int(term[:4]) if term.endswith("秋") else int(term[:4]) - 1
    stage = df["stage"].to_numpy().astype(str)
    grade = df["grade"].to_numpy().astype(int)
    status = df["prev_status"] if "prev_status" in df else pd.Series("在读", index=df.index)
    ids_ = df["id_number"].to_numpy().astype(str)
    student_no = np.char.add("G", ids_)
    out = pd.DataFrame({
        "term": term,
        "school_code": df["school_code"].to_numpy(), "school_name": df["school_name"].to_numpy(),
        "town": df["town"].to_numpy(), "student_no": student_no, "name": df["name"].to_numpy(),
        "sex": df["sex"].to_numpy(), "birth_date": pd.to_datetime(df["birth_date"]).to_numpy("datetime64[s]"),
        "id_type": "居民身份证", "id_number": ids_, "ethnicity": "汉族",
        "grade_label": grade_label_cnemis(stage, grade, year), "stage": stage, "grade": grade,
        "class_name": np.char.add(df["class_no"].to_numpy().astype(str), "班"),
        "entry_ym": np.char.add((year - grade + 1).astype(str), "-09"),
        "boarding": df["boarding"].to_numpy(), "left_behind": df["left_behind"].to_numpy(),
        "migrant": df["migrant"].to_numpy(), "disability": df["disability"].to_numpy(),
        "inclusive": df["inclusive"].to_numpy(), "orphan": df["orphan"].to_numpy(),
        "status": status.to_numpy(),
        "household_address": ("陕西省旬阳县" + df["home_town"].astype(str) + df["village"].astype(str)
                              + df["hamlet"].astype(str)).to_numpy(),
        "phone": df["phone"].to_numpy() if "phone" in df else None,
        "_pid": df["_pid"].to_numpy(),
    })
    mig = out["migrant"].to_numpy()
    out.loc[mig, "household_address"] = "外省市户籍"
    out["ethnicity"] = np.where(out["_pid"].to_numpy() % 97 == 0, "回族", "汉族")
    return out


def previous_term_rows(ctx: Ctx, st: pd.DataFrame, lv: pd.DataFrame) -> pd.DataFrame:
    """The 2019春 population: this term's pupils one grade lower (minus this year's 小学 entrants; 初中1 were in
    小学6, 高中1/中职1 in 初中3 of a school in their home town), plus the leavers."""
    rng = ctx.rng
    p = st[~((st["stage"] == "小学") & (st["grade"] == 1))].copy()
    p["prev_status"] = "在读"
    sch = ctx.schools
    up = (p["stage"] == "初中") & (p["grade"] == 1)
    mid = p["stage"].isin(["高中", "中职"]) & (p["grade"] == 1)
    p["grade"] = p["grade"] - 1
    p.loc[up, ["stage", "grade"]] = ["小学", 6]
    p.loc[mid, ["stage", "grade"]] = ["初中", 3]
    nine = sch["type"].to_numpy()[p["school"].to_numpy()] == "九年制"
    m = up.to_numpy() & ~nine
    school = p["school"].to_numpy().copy()
    school[m] = _pick_school(ctx, p["town"].to_numpy()[m], ["小学", "九年制"])
    m = mid.to_numpy()
    school[m] = _pick_school(ctx, p["home_town"].to_numpy()[m], ["初中", "九年制"])
    p["school"] = school
    p["school_name"] = sch["school_name"].to_numpy()[school]
    p["school_code"] = sch["school_code"].to_numpy()[school]
    p["town"] = sch["town"].to_numpy()[school]
    p.loc[up | mid, "class_no"] = rng.integers(1, 5, int((up | mid).sum()))
    out = pd.concat([p, lv], ignore_index=True)
    out["grade"] = out["grade"].astype(int)
    return out


def aid_rows(ctx: Ctx, st: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical aid (资助) rows for 2019秋 and the pupils with `aid_type` reset where they get nothing."""
    pol = ctx.policy.rename(columns={"boarding": "pol_boarding", "level": "pol_level"})
    cand = st.loc[st["aid_type"].notna(), ["_pid", "stage", "grade", "boarding", "aid_type", "aid_level"]]
    m = cand.merge(pol, on="stage", how="inner")
    ok = (m["grade"] >= m["grade_min"]) & (m["grade"] <= m["grade_max"])
    ok &= (m["pol_boarding"] == "") | (m["pol_boarding"] == m["boarding"])
    ok &= (m["pol_level"] == "") | (m["pol_level"] == m["aid_level"])
    poor = m["aid_type"] == "建档立卡"
    ent = m["entitled_statuses"].str.split(";")
    acc = m["accepted_statuses"].str.split(";")
    ent_ok = np.array(["建档立卡" in e for e in ent])
    acc_ok = np.array([(t in a) or ("全体" in a) for t, a in zip(m["aid_type"], acc)])
    ok &= np.where(poor, ent_ok, acc_ok)
    m = m[ok].sort_values(["_pid", "item"], kind="stable")
    paid = set(m["_pid"])
    st = st.copy()
    nothing = st["aid_type"].notna() & ~st["_pid"].isin(paid)
    st.loc[nothing, ["aid_type", "aid_level"]] = None
    s = st.set_index("_pid").loc[m["_pid"].to_numpy()]
    aid = pd.DataFrame({
        "term": TERM, "school_name": s["school_name"].to_numpy(), "town": s["town"].to_numpy(),
        "stage": s["stage"].to_numpy(), "grade": s["grade"].to_numpy(),
        "grade_label": grade_label_school(s["stage"].to_numpy(), s["grade"].to_numpy()),
        "class_name": np.char.add(s["class_no"].to_numpy().astype(str), "班"),
        "name": s["name"].to_numpy(), "id_number": s["id_number"].to_numpy(),
        "student_no": np.char.add("G", s["id_number"].to_numpy().astype(str)),
        "item_raw": m["label"].to_numpy(), "item": m["item"].to_numpy(),
        "amount": m["semester_amount"].to_numpy(dtype=float),
        "difficulty_level": s["aid_level"].to_numpy(), "difficulty_type": s["aid_type"].to_numpy(),
        "payment_method": np.where(m["family"].to_numpy() == "免", "直接减免", "一卡通发放"),
        "_pid": m["_pid"].to_numpy(),
    })
    return aid.reset_index(drop=True), st


EDUCATION_ADULT = np.array(["小学", "初中", "高中", "文盲或半文盲"])


def roster_rows(ctx: Ctx, roster: pd.DataFrame, people: pd.DataFrame, st: pd.DataFrame, lv: pd.DataFrame,
                lk: pd.DataFrame) -> pd.DataFrame:
    """Canonical roster (建档立卡人员) rows: one per member of a registered poor household."""
    rng = ctx.rng
    r = roster[["_pid", "household", "relation", "kind"]].copy()
    r = r.sort_values(["household", "_pid"], kind="stable").reset_index(drop=True)
    rel_order = {"本人或户主": 0, "配偶": 1, "之父": 2, "之母": 3}
    r["_ord"] = r["relation"].map(rel_order).fillna(5)
    r = r.sort_values(["household", "_ord", "_pid"], kind="stable").reset_index(drop=True)
    p = people.set_index("_pid").loc[r["_pid"].to_numpy()]
    n = len(r)
    status = np.full(n, "非在校生", dtype=object)
    kind = r["kind"].to_numpy()
    stx = st.set_index("_pid")
    m = kind == "student"
    ss = stx.loc[r["_pid"].to_numpy()[m]]
    status[m] = roster_status(ss["stage"].to_numpy(), ss["grade"].to_numpy())
    m = kind == "leaver"
    lvx = lv.set_index("_pid").loc[r["_pid"].to_numpy()[m]]
    status[m] = np.where((lvx["stage"].to_numpy() != "初中") & (rng.random(m.sum()) < 0.5), "大专及以上", "非在校生")
    m = kind == "ledger"
    lkx = lk.set_index("_pid").loc[r["_pid"].to_numpy()[m]]
    st_, gr_ = stage_of_overall(lkx["overall"].to_numpy())
    away = lkx["reason"].isin(["县外就读", "省外就读"]).to_numpy()
    status[m] = np.where(away, roster_status(st_, gr_), "非在校生")
    birth = p["birth_date"].to_numpy()
    m = kind == "preschool"
    status[m] = np.where(birth[m] <= np.datetime64("2016-11-30"), "学前教育", "非在校生")
    status[kind == "college"] = "大专及以上"
    stage, grade = _status_stage(status)
    edu = EDUCATION_ADULT[rng.integers(0, 4, n)]
    edu = np.where(kind == "preschool", "学龄前儿童", edu)
    edu = np.where(np.isin(kind, ["student", "ledger"]), "小学", edu)
    edu = np.where(stage == "初中", "初中", edu)
    edu = np.where(np.isin(stage, ["高中", "中职"]), "高中", edu)
    edu = np.where(kind == "college", "大专", edu)
    hh = r["household"].to_numpy()
    town_code = dict(zip(ctx.towns["town"], ctx.towns["town_code"]))
    hh_no = np.array([f"{town_code[t]}{ctx.chunk:02d}{h:07d}" for t, h in zip(p["home_town"], hh)], dtype=object)
    member = r.groupby("household").cumcount().to_numpy() + 1
    size = r.groupby("household")["_pid"].transform("size").to_numpy()
    n_hh = int(hh.max()) + 1 if n else 0
    htype = np.array(["一般贫困户", "低保贫困户", "特困供养贫困户"])[rng.choice(3, max(n_hh, 1), p=[0.7, 0.25, 0.05])]
    exited = rng.random(max(n_hh, 1)) < 0.6
    exit_year = np.where(exited, rng.integers(2016, 2020, max(n_hh, 1)).astype(str), None)
    disabled = np.zeros(n, dtype=bool)
    m = kind == "student"
    disabled[m] = stx.loc[r["_pid"].to_numpy()[m], "disability"].to_numpy() != "无残疾"
    reason = np.full(n, None, dtype=object)
    m = kind == "ledger"
    reason[m] = np.where(lkx["reason"].to_numpy() == "辍学", "厌学", None)
    head_phone = pd.Series(p["phone"].to_numpy()).groupby(hh).transform("first").to_numpy()
    out = pd.DataFrame({
        "city": "安康市", "county": "旬阳县", "town": p["home_town"].to_numpy(), "village": p["village"].to_numpy(),
        "hamlet": p["hamlet"].to_numpy(), "household_no": hh_no,
        "person_no": np.char.add(hh_no.astype(str), np.char.zfill(member.astype(str), 2)),
        "name": p["name"].to_numpy(), "id_type": "居民身份证", "id_number": p["id_number"].to_numpy(),
        "household_size": size, "relation": r["relation"].to_numpy(), "sex": p["sex"].to_numpy(),
        "ethnicity": "汉族", "birth_date": pd.to_datetime(birth).to_numpy("datetime64[s]"), "education": edu,
        "school_status_raw": status, "stage": stage, "grade": grade,
        "health": np.where(disabled, "残疾", "健康"), "household_type": htype[hh],
        "exit_status": np.where(exited[hh], "已脱贫", "未脱贫"), "exit_year": exit_year[hh],
        "dropout_reason_raw": reason, "phone": head_phone, "_pid": r["_pid"].to_numpy(),
    })
    return out


def ledger_rows(ctx: Ctx, people: pd.DataFrame, lv: pd.DataFrame, lk: pd.DataFrame) -> pd.DataFrame:
    """Canonical 控辍保学 ledger rows: the ledger children and the poor 初中 graduates of school age who left."""
    rng = ctx.rng
    grads = lv[lv["poor"] & (lv["stage"] == "初中")]
    b = pd.to_datetime(grads["birth_date"])
    grads = grads[(b >= COHORT[0]) & (b <= COHORT[1])]
    g = pd.DataFrame({"_pid": grads["_pid"].to_numpy(), "reason": "初中已毕业", "evidence": "初中毕业证书",
                      "school_elsewhere": None})
    k = lk[["_pid", "reason", "evidence", "school_elsewhere"]]
    led = pd.concat([k, g], ignore_index=True)
    p = people.set_index("_pid").loc[led["_pid"].to_numpy()]
    n = len(led)
    out = pd.DataFrame({
        "town": p["home_town"].to_numpy(), "village": p["village"].to_numpy(), "hamlet": p["hamlet"].to_numpy(),
        "name": p["name"].to_numpy(), "id_number": p["id_number"].to_numpy(), "sex": p["sex"].to_numpy(),
        "birth_date": pd.to_datetime(p["birth_date"].to_numpy()).to_numpy("datetime64[s]"),
        "reason": led["reason"].to_numpy(), "school_elsewhere": led["school_elsewhere"].to_numpy(),
        "dropout_status": np.where(led["reason"].to_numpy() == "辍学", "劝返中", None),
        "evidence": led["evidence"].to_numpy(),
        "responsible": random_names(ctx, np.where(rng.random(n) < 0.6, "男", "女")),
        "phone": p["phone"].to_numpy(), "note": None, "_pid": led["_pid"].to_numpy(),
    })
    return out.sort_values(["town", "village", "_pid"], kind="stable").reset_index(drop=True)


SUBJECTS = np.array(["语文", "数学", "英语", "语文;数学", "数学;英语", "语文;数学;英语"])
STRUGGLE_REASONS = np.array(["基础薄弱", "学习习惯差", "缺乏学习兴趣", "家庭辅导缺失", "注意力不集中"])


def struggling_rows(ctx: Ctx, st: pd.DataFrame) -> pd.DataFrame:
    """Canonical 学困生 rows: the pupils on their school's list."""
    rng = ctx.rng
    s = st[st["struggling"]]
    n = len(s)
    return pd.DataFrame({
        "school_name": s["school_name"].to_numpy(),
        "grade_label": grade_label_school(s["stage"].to_numpy(), s["grade"].to_numpy()),
        "stage": s["stage"].to_numpy(), "grade": s["grade"].to_numpy(),
        "class_name": np.char.add(s["class_no"].to_numpy().astype(str), "班"),
        "name": s["name"].to_numpy(), "id_number": s["id_number"].to_numpy(),
        "subjects": SUBJECTS[rng.integers(0, len(SUBJECTS), n)],
        "reason": STRUGGLE_REASONS[rng.integers(0, len(STRUGGLE_REASONS), n)], "_pid": s["_pid"].to_numpy(),
    })


GROUP_ORDER = ["残疾", "贫困", "留守", "学困", "随迁"]


def group_flags(st: pd.DataFrame) -> pd.Series:
    """The five special groups of each enrolled pupil, joined by ';' in the order of mentoring.yaml ('' = none)."""
    flags = {
        "残疾": (st["disability"] != "无残疾") | (st["inclusive"] != "非随班就读"),
        "贫困": st["poor"] | st["aid_type"].notna(),
        "留守": st["left_behind"] != "非留守",
        "学困": st["struggling"],
        "随迁": st["migrant"],
    }
    out = pd.Series("", index=st.index, dtype=object)
    for g in GROUP_ORDER:
        out = np.where(flags[g], np.where(out == "", g, out + ";" + g), out)
    return pd.Series(out, index=st.index)


def build_teachers(ctx: Ctx, st: pd.DataFrame) -> pd.DataFrame:
    """Teachers per school (enough for the school's group pupils), names unique within a school."""
    rng = ctx.rng
    counts = st.groupby("school").size().reindex(range(len(ctx.schools)), fill_value=0)
    k = np.maximum(3, np.ceil(counts.to_numpy() / 12).astype(int))
    school = np.repeat(np.arange(len(k)), k)
    n = len(school)
    sex = np.where(rng.random(n) < 0.55, "女", "男")
    t = pd.DataFrame({"school": school, "teacher_name": random_names(ctx, sex)})
    dup = t.duplicated(["school", "teacher_name"])
    while dup.any():
        t.loc[dup, "teacher_name"] = random_names(ctx, sex[dup.to_numpy()])
        dup = t.duplicated(["school", "teacher_name"])
    t["school_name"] = ctx.schools["school_name"].to_numpy()[school]
    t["first"] = np.r_[0, np.cumsum(k)[:-1]][school]
    t["count"] = k[school]
    return t


PAIR_STARTS = np.array(["2018-09-10", "2019-03-04", "2019-08-30", "2019-09-02"], dtype="datetime64[D]")
LATE_START = np.datetime64("2019-10-16")


def pair_rows(ctx: Ctx, st: pd.DataFrame, teachers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """师生结对: each group pupil gets a teacher of their school (一对一 / 一对多), a few a second one (多对一).
    A few single-teacher pairs start late (after term start): no finding, the rule counts from the start date."""
    rng = ctx.rng
    st = st.copy()
    g = st["groups"].to_numpy() != ""
    first = teachers.groupby("school")["first"].first()
    count = teachers.groupby("school")["count"].first()
    sch = st["school"].to_numpy()
    f = first.reindex(sch).to_numpy()
    c = count.reindex(sch).to_numpy()
    t1 = f + (rng.random(len(st)) * c).astype(int)
    t2 = f + (t1 - f + 1 + (rng.random(len(st)) * (c - 1)).astype(int)) % c
    two = g & (rng.random(len(st)) < 0.06)
    late = g & ~two & (rng.random(len(st)) < 0.01)
    st["t1"] = np.where(g, t1, -1)
    st["t2"] = np.where(two, t2, -1)
    start = PAIR_STARTS[rng.integers(0, len(PAIR_STARTS), len(st))]
    st["pair_start"] = np.where(late, LATE_START, start)
    st["late"] = late
    rows = pd.concat([st.loc[g, ["_pid", "t1", "pair_start"]].rename(columns={"t1": "teacher"}),
                      st.loc[two, ["_pid", "t2", "pair_start"]].rename(columns={"t2": "teacher"})])
    rows = rows.sort_values(["_pid", "teacher"], kind="stable")
    s = st.set_index("_pid").loc[rows["_pid"].to_numpy()]
    tn = teachers["teacher_name"].to_numpy()[rows["teacher"].to_numpy()]
    ts = teachers["school_name"].to_numpy()[rows["teacher"].to_numpy()]
    pairs = pd.DataFrame({
        "school_name": s["school_name"].to_numpy(), "town": s["town"].to_numpy(), "teacher_name": tn,
        "teacher_id_number": None, "teacher_school": ts, "student_name": s["name"].to_numpy(),
        "id_number": s["id_number"].to_numpy(), "group_raw": s["groups"].to_numpy(),
        "start_date": pd.to_datetime(rows["pair_start"].to_numpy()).to_numpy("datetime64[s]"),
        "end_date": pd.NaT, "_pid": rows["_pid"].to_numpy(), "_teacher": rows["teacher"].to_numpy(),
    })
    pairs = pairs.sort_values(["town", "school_name", "teacher_name", "_pid"], kind="stable").reset_index(drop=True)
    return pairs, st


def school_days() -> pd.DataFrame:
    """School days of 2019秋 up to the as-of date (Mon-Fri, in term, not a holiday or holiday week), with their ISO
    week code (2019-W38), month (2019-10) and whether the week / month is complete on the as-of date."""
    cal = load_yaml(settings()["calendar"])
    term = cal["terms"][TERM]
    days = pd.date_range(pd.Timestamp(term["start"]), pd.Timestamp(AS_OF), freq="D")
    iso = days.isocalendar()
    week = (iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)).to_numpy()
    ok = days.day_of_week < 5
    for a, b in cal.get("holidays", {}).values():
        ok &= ~((days >= pd.Timestamp(a)) & (days <= pd.Timestamp(b)))
    ok &= ~np.isin(week, term.get("holiday_weeks", []))
    d = pd.DataFrame({"date": days[ok], "week": week[ok], "month": days[ok].strftime("%Y-%m")})
    monday = d["date"] - pd.to_timedelta(d["date"].dt.day_of_week, unit="D")
    d["week_complete"] = (monday + pd.Timedelta(days=6)) <= pd.Timestamp(AS_OF)
    d["week_monday"] = monday
    months = [str(m) for m in term["visit_months"]]
    month_end = pd.PeriodIndex(d["month"], freq="M").end_time.normalize()
    d["month_complete"] = (month_end <= pd.Timestamp(AS_OF)) & d["month"].isin(months)
    return d.reset_index(drop=True)


CONTENT = {
    "帮扶记录": np.array(["学业辅导：数学作业讲评", "谈心谈话，了解学习和生活情况", "学业辅导：语文阅读", "督促完成作业，表扬进步",
                       "纪实手册记录：本周学习情况良好", "学习方法指导", "安全教育和生活习惯指导"]),
    "家访": np.array(["入户走访，了解家庭情况", "家访：与家长沟通学习情况", "电话家访，宣传资助政策", "家访：送学习用品"]),
    "心理疏导": np.array(["留守儿童关护工作室谈心", "心理辅导：情绪疏导", "与父母视频通话"]),
}


def activity_rows(ctx: Ctx, st: pd.DataFrame, teachers: pd.DataFrame) -> pd.DataFrame:
    """帮扶活动记录: ≥1 帮扶记录 per pupil and school week, ≥1 家访 per visit month, 心理疏导 for 留守 pupils; all on
    school days up to the as-of date, from the pair's start on; by one of the pupil's teachers."""
    rng = ctx.rng
    days = school_days()
    g = st[st["t1"] >= 0]
    n = len(g)
    start = g["pair_start"].to_numpy().astype("datetime64[D]")
    parts = []

    def emit(day_groups: list[np.ndarray], activity: str, mask_fn, extra: float = 0.0):
        for dd in day_groups:
            dd = dd.astype("datetime64[D]")
            for rep in range(2 if extra else 1):
                keep = mask_fn(dd) if rep == 0 else (mask_fn(dd) & (rng.random(n) < extra))
                idx = np.flatnonzero(keep)
                # a school day of the group on or after the pair's start
                lo = np.searchsorted(dd, start[idx])
                lo = np.minimum(lo, len(dd) - 1)
                pick = lo + (rng.random(len(idx)) * (len(dd) - lo)).astype(int)
                parts.append(pd.DataFrame({"i": idx, "date": dd[pick], "activity": activity}))

    weeks = [grp["date"].to_numpy() for _, grp in days.groupby("week", sort=True)]
    emit(weeks, "帮扶记录", lambda dd: start <= dd[0], extra=0.2)
    months = [grp["date"].to_numpy() for _, grp in days.groupby("month", sort=True)]
    emit(months, "家访", lambda dd: start <= dd[0])
    lb = (g["left_behind"] != "非留守").to_numpy()
    emit(months, "心理疏导", lambda dd: lb & (start <= dd[-1]))
    a = pd.concat(parts, ignore_index=True)
    i = a["i"].to_numpy()
    t1 = g["t1"].to_numpy()[i]
    t2 = g["t2"].to_numpy()[i]
    teacher = np.where((t2 >= 0) & (rng.random(len(a)) < 0.5), t2, t1)
    act = a["activity"].to_numpy()
    content = np.empty(len(a), dtype=object)
    for k, choices in CONTENT.items():
        m = act == k
        content[m] = choices[rng.integers(0, len(choices), m.sum())]
    out = pd.DataFrame({
        "school_name": g["school_name"].to_numpy()[i],
        "teacher_name": teachers["teacher_name"].to_numpy()[teacher],
        "student_name": g["name"].to_numpy()[i], "id_number": g["id_number"].to_numpy()[i],
        "activity": act, "date": pd.to_datetime(a["date"].to_numpy()).to_numpy("datetime64[s]"),
        "content": content, "_pid": g["_pid"].to_numpy()[i], "_teacher": teacher,
    })
    return out.sort_values(["_pid", "date", "activity"], kind="stable").reset_index(drop=True)
