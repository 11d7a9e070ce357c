"""控辍保学: school-age children of registered poor households, who is out of school, and village verdicts.

义务教育有保障 for a village: apart from children whose health does not allow study (送教上门, 残疾不能入学,
免予入学), no school-age child is out of school. A child blocks the village when it is `not_enrolled` (in no
registry of the as-of term, directly or by confident link, and on no ledger) or when the ledger records it as
辍学 still being persuaded back (劝返中).

Finding kinds: not_enrolled, exception_unverified (rules/findings.yaml). Functions: school_age_children(ws),
findings(ws), village_verdicts(ws), town_rollup(ws), county_rollup(ws).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from . import reconcile, terms
from .arrowstr import isin
from .engine import lit
from .reconcile import ENROLLED_STATUSES, Context, _assemble, _row, context

LEDGER_REASONS = ["县外就读", "省外就读", "送教上门", "随班就读", "特教学校就读", "免予入学", "延缓入学", "休学",
                  "残疾不能入学", "初中已毕业", "户籍迁出", "死亡", "辍学"]
HEALTH_REASONS = ("送教上门", "残疾不能入学", "免予入学")
NO_EVIDENCE = ("", "无", "暂无", "无佐证", "-", "—", "无佐证材料")
BLOCKING_DROPOUT_STATUSES = ("劝返中",)


def _ctx(ws: Any, as_of: dt.date | None) -> Context:
    return ws if isinstance(ws, Context) else context(ws, as_of)


def _ledger(ctx: Context) -> pd.DataFrame:
    """The ledger's rows (row order) with pid (person_id, else the record's ID)."""
    if not ctx.eng.has("ledger"):
        return pd.DataFrame({c: pd.Series(dtype="string") for c in
                             ["pid", "id_number", "name", "town", "village", "reason", "dropout_status", "evidence"]})
    return ctx.df("SELECT pid, id_number, name, town, village, reason, dropout_status, evidence FROM ledger "
                  "ORDER BY _rn")


def _kids_sql(ctx: Context, only_missing: bool = False) -> str:
    """Roster members of compulsory-school age (birth date from the person's ID, else the roster's), one row per
    person (the first), with enrolment (as-of registry), ledger reasons and status. only_missing: just the
    children in neither the registry nor the ledger (疑似失学), found by anti-joins."""
    first, last = terms.school_age_bounds(ctx.as_of)
    enrolled = ", ".join(f"'{x}'" for x in ENROLLED_STATUSES)
    # person_id is a valid ID (own or linked): its digits 7-14 are the birth date, compared as text
    in_age = (f"CASE WHEN person_id IS NOT NULL THEN substr(person_id, 7, 8) BETWEEN '{first:%Y%m%d}' AND "
              f"'{last:%Y%m%d}' ELSE birth_date BETWEEN DATE '{first}' AND DATE '{last}' END")
    birth = "coalesce(CAST(try_strptime(substr(person_id, 7, 8), '%Y%m%d') AS DATE), birth_date)"
    head = f"""
        WITH age AS (SELECT pid AS person_id, id_number, name, sex, {birth} AS birth_date, town, village, _rn,
                            person_id IS NULL AND pid IS NULL AS no_id
                     FROM roster WHERE {in_age}),
             -- one row per person (the first), unless some child has no ID at all (then every row stays)
             kids AS (SELECT * EXCLUDE (no_id) FROM age
                      QUALIFY bool_or(no_id) OVER () OR row_number() OVER (PARTITION BY person_id ORDER BY _rn) = 1),
             enr AS (SELECT * FROM registry WHERE pid IS NOT NULL AND term = '{ctx.term}'
                     AND (status IS NULL OR status IN ({enrolled})))"""
    if only_missing:
        return head + """
        SELECT k.* FROM kids k
        WHERE NOT EXISTS (SELECT 1 FROM enr WHERE enr.pid = k.person_id)
          AND NOT EXISTS (SELECT 1 FROM ledger l WHERE l.pid = k.person_id)
        ORDER BY k._rn"""
    return head + """,
             r AS (SELECT pid, arg_min_null(school_name, _rn) AS school, arg_min_null(stage, _rn) AS stage,
                          arg_min_null(grade, _rn) AS grade FROM enr GROUP BY pid),
             lr AS (SELECT pid, reason, min(_rn) AS rn FROM ledger WHERE pid IS NOT NULL AND reason IS NOT NULL
                    GROUP BY pid, reason),
             lrs AS (SELECT pid, string_agg(reason, '、' ORDER BY rn) AS reasons FROM lr GROUP BY pid),
             lg AS (SELECT l.pid, any_value(lrs.reasons) AS reasons,
                           arg_min(l.dropout_status, l._rn) FILTER (WHERE l.dropout_status IS NOT NULL) AS dropout_status
                    FROM ledger l LEFT JOIN lrs ON l.pid = lrs.pid WHERE l.pid IS NOT NULL GROUP BY l.pid),
             out AS (
               SELECT k.person_id, k.id_number, k.name, k.sex, k.birth_date, k.town, k.village,
                      r.pid IS NOT NULL AS enrolled, r.school, r.stage, CAST(r.grade AS BIGINT) AS grade,
                      CASE WHEN lg.pid IS NOT NULL THEN coalesce(nullif(lg.reasons, ''), '（未注明原因）') END
                        AS ledger_reason,
                      lg.dropout_status,
                      CASE WHEN r.pid IS NOT NULL THEN '在校'
                           WHEN lg.pid IS NOT NULL THEN '台账：' || coalesce(nullif(lg.reasons, ''), '（未注明原因）')
                           ELSE '疑似失学' END AS status, k._rn
               FROM kids k LEFT JOIN r ON k.person_id = r.pid LEFT JOIN lg ON k.person_id = lg.pid)
        SELECT * EXCLUDE (_rn) FROM out ORDER BY _rn"""


def school_age_children(ws: Any, as_of: dt.date | None = None) -> pd.DataFrame:
    """Roster members of compulsory-school age on as_of (birth date from a valid or linked ID, else the roster's):
    person_id, name, sex, birth_date, town, village, enrolled, school, stage, grade, ledger_reason,
    dropout_status, status (在校 / 台账：<reason> / 疑似失学)."""
    ctx = _ctx(ws, as_of)
    cols = ["person_id", "id_number", "name", "sex", "birth_date", "town", "village", "enrolled", "school",
            "stage", "grade", "ledger_reason", "dropout_status", "status"]
    if not ctx.eng.count("roster"):
        return pd.DataFrame(columns=cols)
    kids = ctx.df(_kids_sql(ctx))
    kids["birth_date"] = pd.to_datetime(kids["birth_date"])
    kids["grade"] = kids["grade"].astype("Int64")
    kids["enrolled"] = kids["enrolled"].astype("boolean")
    return kids[cols].reset_index(drop=True)


def _not_enrolled_part(ctx: Context) -> list[str]:
    """not_enrolled: school-age children of registered households in neither the as-of registry nor the ledger."""
    if not ctx.eng.count("roster"):
        return []
    return [f"""
        SELECT {_row(seq='b._rn', kind="'not_enrolled'", systems="'roster'", id_number='b.person_id', name='b.name',
                     town='b.town', village='b.village',
                     detail=f"'建档立卡户适龄儿童（出生日期' || strftime(b.birth_date, '%Y-%m-%d') || '），' || "
                            f"{lit(ctx.term)} || '学籍中无在读记录，控辍保学台账中也无登记'",
                     suggestion="'请村、校立即核查去向：在外就读的补充台账和佐证，辍学的登记台账并落实劝返'")}
        FROM ({_kids_sql(ctx, only_missing=True)}) b"""]


# Python's str.strip() whitespace (Unicode White_Space), so that "　" (a full-width space) counts as no evidence
_SPACE = r"[\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"


def _unverified_part(ctx: Context) -> list[str]:
    """exception_unverified: ledger entries whose evidence is empty or says there is none."""
    if not ctx.eng.has("ledger"):
        return []
    stripped = f"regexp_replace(evidence, '^{_SPACE}+|{_SPACE}+$', '', 'g')"
    return [f"""
        SELECT {_row(seq='_rn', kind="'exception_unverified'", systems="'ledger'", id_number='pid', name='name',
                     town='town', village='village',
                     detail="'控辍保学台账登记原因：' || coalesce(reason, '（未注明）') || '；佐证材料：' || "
                            "coalesce(evidence, '（空）')",
                     suggestion="'请补充佐证材料（如就读证明、送教记录、医学证明、劝返记录）'")}
        FROM ledger WHERE evidence IS NULL OR {stripped} IN ({', '.join(lit(x) for x in NO_EVIDENCE)})"""]


def prepare(ws: Any, as_of: dt.date | None = None) -> None:
    """The shared state of the 控辍保学 SQL (the person link and the linked views): reconcile.prepare."""
    reconcile.prepare(ws, as_of)


def early(ws: Any, as_of: dt.date | None = None) -> None:
    """The linked views this SQL reads (reconcile.views_early), built while the link runs (findings.run_analyses
    runs each module's early() on its pool), beside 三一致's own link-free work."""
    reconcile.views_early(ws, as_of)


def findings(ws: Any, as_of: dt.date | None = None) -> pd.DataFrame:
    """控辍保学 findings: not_enrolled and exception_unverified, in the findings shape."""
    ctx = _ctx(ws, as_of)
    return _assemble(ctx, _not_enrolled_part(ctx) + _unverified_part(ctx))


def village_verdicts(ws: Any, as_of: dt.date | None = None) -> pd.DataFrame:
    """Per village: school-age children of registered households, enrolled in county, ledger exceptions by
    reason (one column per reason), suspected out of school, verdict 达标 / 未达标 and the blocking IDs."""
    ctx = _ctx(ws, as_of)
    kids = school_age_children(ctx)
    led = _ledger(ctx)
    keys = ["town", "village"]
    base = kids.groupby(keys, dropna=False).agg(
        school_age_children=("name", "size"),
        enrolled_in_county=("enrolled", "sum"),
        suspected_out_of_school=("status", lambda s: int(s.eq("疑似失学").sum())),
    )
    # exceptions: ledger entries of the village's school-age children, by reason
    kid_ledger = kids[kids["status"].str.startswith("台账").fillna(False).to_numpy(bool)]
    kl = led[isin(led["pid"], kid_ledger["person_id"])].drop_duplicates(["pid", "reason"])
    kl = kl.drop(columns=["town", "village"]).merge(
        kid_ledger[["person_id", "town", "village"]], left_on="pid", right_on="person_id")
    by_reason = pd.crosstab([kl["town"], kl["village"]], kl["reason"]) if len(kl) else pd.DataFrame()
    table = base.join(by_reason, how="left") if len(by_reason) else base
    for reason in LEDGER_REASONS:
        if reason not in table.columns:
            table[reason] = 0
    # blockers: not_enrolled children, and 辍学 (劝返中) ledger entries placed by the roster or the ledger
    blockers = kids.loc[kids["status"].eq("疑似失学").fillna(False).to_numpy(bool), keys + ["person_id"]]
    drop = led[led["reason"].eq("辍学").fillna(False) &
               (led["dropout_status"].isna() | led["dropout_status"].isin(BLOCKING_DROPOUT_STATUSES))]
    place = kids.drop_duplicates("person_id").set_index("person_id")
    drop = drop.assign(town=drop["pid"].map(place["town"]).fillna(drop["town"]),
                       village=drop["pid"].map(place["village"]).fillna(drop["village"]))
    blockers = pd.concat([blockers, drop[keys + ["pid"]].rename(columns={"pid": "person_id"})],
                         ignore_index=True).dropna(subset=["person_id"]).drop_duplicates()
    blk = blockers.groupby(keys, dropna=False)["person_id"].agg(lambda s: "、".join(sorted(s)))
    table = table.join(blk.rename("blocking_ids"), how="outer")
    table = table.reset_index()
    num = ["school_age_children", "enrolled_in_county", "suspected_out_of_school"] + LEDGER_REASONS
    table[num] = table[num].fillna(0).astype("int64")
    table["verdict"] = pd.Series("达标", index=table.index).where(table["blocking_ids"].isna(), "未达标")
    table["blocking_ids"] = table["blocking_ids"].astype("string")
    cols = keys + num[:2] + LEDGER_REASONS + ["suspected_out_of_school", "verdict", "blocking_ids"]
    return table[cols].sort_values(keys, kind="stable").reset_index(drop=True)


def town_rollup(ws: Any, as_of: dt.date | None = None) -> pd.DataFrame:
    """Per town: the village figures summed, villages 达标 / 未达标, verdict (达标 when every village is)."""
    v = ws if isinstance(ws, pd.DataFrame) else village_verdicts(ws, as_of)
    num = ["school_age_children", "enrolled_in_county"] + LEDGER_REASONS + ["suspected_out_of_school"]
    g = v.groupby("town", dropna=False)
    out = g[num].sum()
    out["villages"] = g.size()
    out["villages_passed"] = g["verdict"].agg(lambda s: int(s.eq("达标").sum()))
    out["villages_failed"] = out["villages"] - out["villages_passed"]
    out["verdict"] = pd.Series("达标", index=out.index).where(out["villages_failed"].eq(0), "未达标")
    return out.reset_index()


def county_rollup(ws: Any, as_of: dt.date | None = None) -> pd.DataFrame:
    """One row for the county: the town figures summed, towns and villages passed / failed, verdict."""
    t = ws if isinstance(ws, pd.DataFrame) and "villages" in ws.columns else town_rollup(ws, as_of)
    num = ["school_age_children", "enrolled_in_county"] + LEDGER_REASONS + [
        "suspected_out_of_school", "villages", "villages_passed", "villages_failed"]
    out = pd.DataFrame([t[num].sum()])
    out.insert(0, "towns", len(t))
    out["towns_passed"] = int(t["verdict"].eq("达标").sum())
    out["verdict"] = "达标" if out["villages_failed"].iloc[0] == 0 else "未达标"
    return out
