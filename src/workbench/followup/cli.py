"""`workbench followup …`: import a province list, follow it up, export the county's answer (Chinese output).

    workbench followup import LIST [--data DIR] [--db URL] [--actor NAME] [--list-id ID]
    workbench followup status [--overdue] [--town T] [--db URL] [--as-of DATE]
    workbench followup export OUT.xlsx [--town T] [--list-id ID] [--db URL]
    workbench followup assign|check|correct|attach|close|reopen|history ITEM … (for scripts)

Output never shows names or ID numbers: items are referred to by their key (or a unique prefix of it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import os
import sys
from pathlib import Path

import pandas as pd

from .ledger import Ledger, LedgerError


def _actor_default() -> str:
    try:
        return os.environ.get("WORKBENCH_ACTOR") or getpass.getuser() or "系统"
    except Exception:  # noqa: BLE001
        return "系统"


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"日期格式应为 YYYY-MM-DD：{text}") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="followup_command", required=True, metavar="操作")

    def common(p: argparse.ArgumentParser, actor: bool = False) -> None:
        p.add_argument("--db", default=None, help="台账数据库：SQLite 文件路径或 SQLAlchemy URL（默认取设置）")
        if actor:
            p.add_argument("--actor", default=_actor_default(), help="操作人（默认当前用户）")

    p = sub.add_parser("import", help="导入疑似问题清单并与本地数据比对预核查")
    p.add_argument("list", help="疑似问题清单文件（xlsx/xls/csv）")
    p.add_argument("--data", default=None, help="本地数据文件夹（学籍、建档立卡、资助、台账等导出），用于预核查")
    p.add_argument("--list-id", default=None, help="批次标识（默认取清单中的批次或文件名）")
    p.add_argument("--as-of", type=_date, default=None, help="核查基准日期 YYYY-MM-DD")
    common(p, actor=True)

    p = sub.add_parser("status", help="查看跟踪情况（按乡镇、状态汇总）")
    p.add_argument("--overdue", action="store_true", help="只看已超期未办结的条目")
    p.add_argument("--town", default=None, help="只看一个乡镇")
    p.add_argument("--as-of", type=_date, default=None, help="判断超期的日期（默认今天）")
    common(p)

    p = sub.add_parser("export", help="导出核查反馈表（xlsx）")
    p.add_argument("out", help="输出文件 .xlsx")
    p.add_argument("--town", default=None, help="只导出一个乡镇")
    p.add_argument("--list-id", default=None, help="只导出一个批次（默认全部条目）")
    common(p)

    p = sub.add_parser("assign", help="分派责任单位和责任人")
    p.add_argument("item", help="条目编号（或其唯一前缀）")
    p.add_argument("--unit", required=True, help="责任单位")
    p.add_argument("--person", default=None, help="责任人")
    p.add_argument("--phone", default=None, help="联系电话")
    common(p, actor=True)

    p = sub.add_parser("check", help="登记核查结果")
    p.add_argument("item")
    p.add_argument("--result", required=True, help="核查结果：属实 / 不属实 / 部分属实")
    p.add_argument("--note", default=None, help="原因说明")
    p.add_argument("--phone", default=None, help="核查人联系电话")
    common(p, actor=True)

    p = sub.add_parser("correct", help="登记整改情况")
    p.add_argument("item")
    p.add_argument("--what", required=True, help="整改内容（改了什么）")
    p.add_argument("--system", default=None, help="在哪个系统更正（学籍 / 建档立卡 / 资助 …）")
    p.add_argument("--date", type=_date, default=None, help="整改日期（默认今天）")
    common(p, actor=True)

    p = sub.add_parser("attach", help="上传佐证材料（文件保存在台账数据库旁）")
    p.add_argument("item")
    p.add_argument("file", help="佐证材料文件")
    p.add_argument("--note", default=None)
    common(p, actor=True)

    for name, text in (("close", "办结"), ("reopen", "重新打开")):
        p = sub.add_parser(name, help=f"{text}条目")
        p.add_argument("item")
        p.add_argument("--note", default=None)
        common(p, actor=True)

    p = sub.add_parser("history", help="查看一个条目的全部记录")
    p.add_argument("item")
    common(p)


def run(args: argparse.Namespace) -> int:
    try:
        return _COMMANDS[args.followup_command](args)
    except (LedgerError, FileNotFoundError) as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 1


def _ledger(args: argparse.Namespace) -> Ledger:
    return Ledger(args.db)


def _resolve(ledger: Ledger, prefix: str) -> str:
    keys = ledger.items()["item_key"].astype(str)
    hits = keys[keys.str.startswith(prefix)]
    if len(hits) == 1:
        return hits.iloc[0]
    if not len(hits):
        raise LedgerError(f"台账中没有编号以 {prefix} 开头的条目")
    raise LedgerError(f"编号前缀 {prefix} 对应多个条目，请写得更长一些")


def _cmd_import(args: argparse.Namespace) -> int:
    from .listfile import read_list

    frame = read_list(args.list, as_of=args.as_of)
    print(f"读取清单：{Path(args.list).name}，共 {len(frame)} 条")
    if args.data:
        from ..workspace import load_folder
        from .triage import triage

        ws = load_folder(args.data, as_of=args.as_of, progress=False)
        frame = triage(frame, ws)
        counts = frame["match"].value_counts()
        print("本地比对：" + "，".join(f"{k} {v} 条" for k, v in counts.items()))
        verdicts = frame["likely_result"].value_counts()
        print("预判结果：" + "，".join(f"{k} {v} 条" for k, v in verdicts.items()))
        already = frame["local_finding"].astype("string").str.startswith("是").sum()
        print(f"本地问题清单已包含：{already} 条")
    else:
        print("未指定本地数据文件夹（--data），只导入不预核查")
    with _ledger(args) as ledger:
        result = ledger.import_list(frame, actor=args.actor, list_id=args.list_id,
                                    file_name=Path(args.list).name)
        outcome = result["outcome"].value_counts()
        print(f"导入批次 {result.attrs['list_id']}（第 {int(result['round'].iloc[0])} 轮）："
              + "，".join(f"{k} {outcome.get(k, 0)} 条" for k in ("新增", "再次出现", "已导入")))
        repeats = int((result["rounds_seen"] > 1).sum())
        if repeats:
            print(f"其中 {repeats} 条在以前的批次中出现过，历史记录已延续")
        print(f"台账：{ledger.url}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    with _ledger(args) as ledger:
        items = ledger.items(town=args.town, as_of=args.as_of)
        if not len(items):
            print("台账中还没有条目")
            return 0
        as_of = args.as_of or dt.date.today()
        print(f"台账条目 {len(items)} 条，已超期未办结 {int(items['overdue'].sum())} 条（截至 {as_of}）")
        table = pd.crosstab(items["town"].fillna("（乡镇不明）").rename("乡镇"),
                            items["status"].fillna("未知").rename("状态"), margins=True, margins_name="合计")
        print(table.to_string())
        if args.overdue:
            late = items[items["overdue"]]
            if not len(late):
                print("没有超期条目")
            else:
                print("\n超期条目：")
                show = late[["item_key", "town", "category", "deadline", "status", "assigned_unit"]].copy()
                show["deadline"] = show["deadline"].dt.strftime("%Y-%m-%d")
                show = show.astype("string").fillna("")
                show.columns = ["条目编号", "乡镇", "问题类型", "整改时限", "状态", "责任单位"]
                print(show.to_string(index=False))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    with _ledger(args) as ledger:
        table = ledger.export_response(args.out, town=args.town, list_id=args.list_id)
    where = f"（{args.town}）" if args.town else ""
    print(f"已导出反馈表{where}：{args.out}，共 {len(table)} 条")
    return 0


def _record(args: argparse.Namespace, kind: str, **data) -> int:
    with _ledger(args) as ledger:
        key = _resolve(ledger, args.item)
        data = {k: v for k, v in data.items() if v is not None}
        ledger.record(key, kind, args.actor, **data)
        status = ledger.history(key)["status"].iloc[-1]
        print(f"已记录：条目 {key} 当前状态 {status}")
    return 0


def _cmd_attach(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.exists():
        raise LedgerError(f"文件不存在：{path}")
    with _ledger(args) as ledger:
        key = _resolve(ledger, args.item)
        sha = ledger.attach(key, path.name, path.read_bytes(), args.actor, note=args.note)
        print(f"已保存佐证材料 {path.name}（SHA-256 {sha[:16]}…）")
    return 0


def _cmd_history(args: argparse.Namespace) -> int:
    with _ledger(args) as ledger:
        hist = ledger.history(_resolve(ledger, args.item))
        hist = hist.assign(at=hist["at"].dt.tz_convert("Asia/Shanghai").dt.strftime("%Y-%m-%d %H:%M"))
        hist["data"] = hist["data"].map(
            lambda d: "，".join(f"{k}={v}" for k, v in d.items() if k not in ("seq",)))
        show = hist[["id", "at", "label", "actor", "status", "data"]]
        show.columns = ["序号", "时间", "操作", "操作人", "状态", "内容"]
        print(show.to_string(index=False))
    return 0


_COMMANDS = {
    "import": _cmd_import,
    "status": _cmd_status,
    "export": _cmd_export,
    "assign": lambda a: _record(a, "assigned", unit=a.unit, person=a.person, phone=a.phone),
    "check": lambda a: _record(a, "checked", result=a.result, note=a.note, phone=a.phone),
    "correct": lambda a: _record(a, "corrected", what=a.what, system=a.system,
                                 date=(a.date or dt.date.today()).isoformat()),
    "attach": _cmd_attach,
    "close": lambda a: _record(a, "closed", note=a.note),
    "reopen": lambda a: _record(a, "reopened", note=a.note),
    "history": _cmd_history,
}
