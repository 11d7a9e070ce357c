"""The follow-up ledger: append-only events, derived status, rounds, and its behaviour under concurrency and faults."""

from __future__ import annotations

import datetime as dt
import hashlib
import multiprocessing as mp
import os
import signal
import sqlite3

import pandas as pd
import pytest
import sqlalchemy as sa

from workbench.followup import Ledger, LedgerError, _workers, item_identity


def make_list(list_id: str = "2019-第1批", n: int = 12, deadline: str = "2019-11-25") -> pd.DataFrame:
    """A small canonical suspects frame (synthetic people)."""
    towns = ["城关镇", "蜀河镇", "吕河镇"]
    cats = ["身份证号错误", "疑似辍学", "人员信息不一致", "应助未助"]
    return pd.DataFrame({
        "list_id": list_id,
        "seq": [str(i + 1) for i in range(n)],
        "town": [towns[i % 3] for i in range(n)],
        "village": [f"{i}村" for i in range(n)],
        "school_name": [f"旬阳县{towns[i % 3]}中心小学" for i in range(n)],
        "name": [f"测试{i:02d}" for i in range(n)],
        "id_number": [f"6109282010010{i:04d}"[:17] + "X" for i in range(n)],
        "category": [cats[i % 4] for i in range(n)],
        "category_key": pd.NA,
        "description": "测试",
        "issued_date": pd.Timestamp("2019-11-18"),
        "deadline": pd.Timestamp(deadline),
        "extra": [{"序号": str(i + 1), "备注": ""} for i in range(n)],
    })


@pytest.fixture()
def db(tmp_path):
    return str(tmp_path / "ledger" / "followup.sqlite")


def test_import_twice_creates_no_duplicates(db):
    ledger = Ledger(db)
    first = ledger.import_list(make_list(), actor="县资助中心")
    again = ledger.import_list(make_list(), actor="县资助中心")
    assert list(first["outcome"]) == ["新增"] * 12
    assert list(again["outcome"]) == ["已导入"] * 12
    ev = ledger.events()
    assert len(ev) == 12 and set(ev["kind"]) == {"imported"}
    assert ev["item_key"].is_unique
    assert len(ledger.items()) == 12
    assert len(ledger.lists()) == 1
    with sqlite3.connect(db) as con:
        assert con.execute("select count(*) from items").fetchone()[0] == 12
        assert con.execute("select count(*) from item_rounds").fetchone()[0] == 12


def test_item_key_is_stable_and_round_independent():
    a = item_identity(make_list("第1批"))
    b = item_identity(make_list("第2批").iloc[::-1])
    assert a.set_index("identity")["item_key"].to_dict() == b.set_index("identity")["item_key"].to_dict()
    # a list with the same person and problem twice keeps two items
    twice = pd.concat([make_list(n=2), make_list(n=1)], ignore_index=True)
    keys = item_identity(twice)["item_key"]
    assert keys.is_unique
    # without an ID, name + birth date identify the person
    nobody = pd.DataFrame({"name": ["测试", "测试"], "id_number": [pd.NA, pd.NA],
                           "birth_date": pd.to_datetime(["2010-01-01", "2010-01-02"]), "category": ["疑似辍学"] * 2})
    ident = item_identity(nobody)["identity"]
    assert ident.str.startswith("nb:测试|2010-01-0").all() and ident.is_unique


def test_status_is_derived_from_events_and_events_record_who_and_when(db):
    ledger = Ledger(db)
    key = ledger.import_list(make_list(), actor="县资助中心")["item_key"][0]
    ledger.record(key, "assigned", "县资助中心", unit="蜀河镇中心学校", person="王老师")
    assert ledger.items(status="已分派")["item_key"].tolist() == [key]
    ledger.record(key, "checked", "王老师", result="属实", note="学籍身份证号录入错误")
    ledger.record(key, "corrected", "王老师", what="身份证号更正", system="学籍")
    sha = ledger.attach(key, "更正截图.png", b"\x89PNG fake", "王老师")
    assert sha == hashlib.sha256(b"\x89PNG fake").hexdigest()
    assert (ledger.evidence_dir / sha).read_bytes() == b"\x89PNG fake"
    assert ledger.evidence_dir.parent == ledger.path.parent
    ledger.record(key, "closed", "县资助中心")
    hist = ledger.history(key)
    assert hist["kind"].tolist() == ["imported", "assigned", "checked", "corrected", "evidence", "closed"]
    assert hist["status"].tolist() == ["待分派", "已分派", "已核查", "已整改", "已整改", "已办结"]
    assert hist["actor"].notna().all() and str(hist["at"].dt.tz) == "UTC"
    assert hist["data"].iloc[4] == {"file_name": "更正截图.png", "sha256": sha, "size": 9,
                                    "stored_as": f"evidence/{sha}"}
    row = ledger.items().set_index("item_key").loc[key]
    assert (row["status"], row["result"], row["evidence_files"], row["assigned_unit"]) == \
        ("已办结", "属实", "更正截图.png", "蜀河镇中心学校")
    ledger.record(key, "reopened", "县资助中心", note="复查")
    assert ledger.items().set_index("item_key").loc[key, "status"] == "重新办理"
    # events are append-only: the database refuses updates and deletes
    with sqlite3.connect(db) as con, pytest.raises(sqlite3.DatabaseError):
        con.execute("update events set actor = 'x'")
    with sqlite3.connect(db) as con, pytest.raises(sqlite3.DatabaseError):
        con.execute("delete from events")


def test_record_rejects_unknown_item_kind_and_result(db):
    ledger = Ledger(db)
    key = ledger.import_list(make_list(n=2))["item_key"][0]
    with pytest.raises(LedgerError, match="没有此条目"):
        ledger.record("nope", "assigned", "甲")
    with pytest.raises(LedgerError, match="未知的事件类型"):
        ledger.record(key, "deleted", "甲")
    with pytest.raises(LedgerError, match="未知的事件类型"):
        ledger.record(key, "imported", "甲")
    with pytest.raises(LedgerError, match="核查结果"):
        ledger.record(key, "checked", "甲", result="也许")
    with pytest.raises(LedgerError, match="操作人"):
        ledger.record(key, "assigned", " ")
    assert len(ledger.events()) == 2


def test_overdue_flag_from_deadline_and_as_of(db):
    ledger = Ledger(db)
    keys = ledger.import_list(make_list(n=3, deadline="2019-11-25"))["item_key"]
    ledger.record(keys[0], "closed", "甲")
    assert ledger.items(overdue=True, as_of=dt.date(2019, 11, 25)).empty
    late = ledger.items(overdue=True, as_of=dt.date(2019, 11, 26))
    assert sorted(late["item_key"]) == sorted(keys[1:])
    assert len(ledger.items(status="open")) == 2 and len(ledger.items(status="closed")) == 1
    assert set(ledger.items(town="城关镇")["town"]) == {"城关镇"}


def test_rounds_carry_history_and_count_repeats(db):
    ledger = Ledger(db)
    r1 = ledger.import_list(make_list("第1批", n=6))
    key = r1["item_key"][0]
    ledger.record(key, "checked", "甲", result="属实")
    ledger.record(key, "closed", "甲")
    second = make_list("第2批", n=8, deadline="2019-12-20").iloc[2:]  # items 3..8: 3..6 repeat, 7..8 new
    second = pd.concat([make_list("第2批", n=1, deadline="2019-12-20"), second], ignore_index=True)
    r2 = ledger.import_list(second)
    assert r2["round"].unique().tolist() == [2]
    assert r2["outcome"].tolist() == ["再次出现"] * 5 + ["新增"] * 2
    items = ledger.items().set_index("item_key")
    assert items.loc[key, "rounds_seen"] == 2 and items.loc[key, "first_round"] == 1
    assert items.loc[key, "status"] == "再次下发"  # closed in round 1, listed again in round 2
    assert items.loc[key, "deadline"] == pd.Timestamp("2019-12-20")
    assert items["rounds_seen"].sum() == 5 * 2 + 3
    hist = ledger.history(key)
    assert hist["kind"].tolist() == ["imported", "checked", "closed", "imported"]
    assert len(ledger.items(list_id="第2批")) == 7 and len(ledger.items()) == 8


def test_eight_processes_append_1600_events(db):
    ledger = Ledger(db)
    keys = list(ledger.import_list(make_list(n=5))["item_key"])
    before = len(ledger.events())
    ctx = mp.get_context("spawn")
    with ctx.Pool(8) as pool:
        done = pool.starmap(_workers.append_events, [(db, keys, 200, f"写入者{i}") for i in range(8)])
    assert done == [200] * 8
    ev = ledger.events()
    assert len(ev) - before == 1600
    assigned = ev[ev["kind"] == "assigned"]
    assert assigned["id"].is_unique and len(assigned) == 1600
    assert assigned.groupby("actor").size().tolist() == [200] * 8
    assert sorted(assigned["data"].map(lambda d: d["seq"]).value_counts().unique()) == [8]
    with sqlite3.connect(db) as con:
        assert con.execute("pragma journal_mode").fetchone()[0] == "wal"
        assert con.execute("pragma integrity_check").fetchone()[0] == "ok"


def test_writer_killed_mid_transaction_leaves_database_consistent(db):
    ledger = Ledger(db)
    keys = list(ledger.import_list(make_list(n=3))["item_key"])
    ledger.record(keys[0], "assigned", "甲", unit="城关镇")
    before = ledger.events()
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=_workers.hold_open_transaction, args=(db, keys[1], ready))
    child.start()
    try:
        assert ready.wait(600), "子进程未能开始写事务"
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
    finally:
        if child.is_alive():
            child.kill()
            child.join()
    assert child.exitcode == -signal.SIGKILL
    with sqlite3.connect(db) as con:
        assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert con.execute("select count(*) from events where actor = '被终止的写入者'").fetchone()[0] == 0
    after_kill = Ledger(db)
    assert after_kill.events()["id"].tolist() == before["id"].tolist()
    new_id = after_kill.record(keys[1], "checked", "乙", result="不属实", note="学籍信息正确")
    assert new_id > before["id"].max()
    assert after_kill.items().set_index("item_key").loc[keys[1], "result"] == "不属实"


def test_any_sqlalchemy_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    ledger = Ledger(url, evidence_dir=tmp_path / "ev")
    ledger.import_list(make_list(n=2))
    with ledger.engine.connect() as con:
        assert con.execute(sa.text("select count(*) from items")).scalar() == 2


def test_a_later_round_listing_the_person_under_the_right_id_continues_the_item(db):
    ledger = Ledger(db)
    first = make_list("第1批", n=2)
    right_id = "610928201001010011"
    first["person_id"] = [right_id, pd.NA]  # the triage matched item 1 (listed with a wrong ID) to this person
    k1 = ledger.import_list(first)["item_key"].tolist()
    ledger.record(k1[0], "checked", "甲", result="属实", note="学籍身份证号错误")
    second = make_list("第2批", n=2)
    second.loc[0, "id_number"] = right_id  # now listed under the right ID, same problem
    second.loc[1, "category"] = "重复资助"  # same person as item 2, another problem: a new item
    res = ledger.import_list(second)
    assert res["outcome"].tolist() == ["再次出现", "新增"]
    assert res["item_key"][0] == k1[0] and res["item_key"][1] not in k1
    items = ledger.items().set_index("item_key")
    assert items.loc[k1[0], "rounds_seen"] == 2 and items.loc[k1[0], "result"] == "属实"
    assert ledger.import_list(second)["outcome"].tolist() == ["已导入", "已导入"]


def test_import_can_triage_against_local_data(db):
    from test_followup_triage import AS_OF, local_tables, suspects

    ledger = Ledger(db)
    tables = local_tables()
    ledger.import_list(suspects(), ws=tables)
    items = ledger.items(as_of=AS_OF)
    assert items["likely_result"].notna().all()
    assert (items["likely_result"] == "本地未找到").sum() == 1
    assert items["suggestion"].str.len().gt(0).all()
    assert Ledger(db).items(status="nothing").empty
