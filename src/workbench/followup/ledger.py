"""The follow-up ledger (疑似问题跟踪台账): items of the province's lists and an append-only event log.

SQLAlchemy 2 Core on a SQLite file by default (WAL mode, busy timeout, writes in BEGIN IMMEDIATE transactions) or any
SQLAlchemy URL (PostgreSQL for a shared deployment). Tables:

- ``lists``: one row per imported list (list_id, round, file name, imported when and by whom);
- ``items``: one row per problem item (item_key: a stable hash of the round-independent identity: the listed ID
  (normalised), else name + birth date, else name + town + school; plus the category), as first seen;
- ``item_rounds``: one row per (item, list): the item as listed in that round (deadline, payload JSON);
- ``events``: append-only (id, item_key, kind, actor, at (UTC), data JSON). Never updated in place: on SQLite
  triggers refuse UPDATE and DELETE. An item's status is derived from its events.
Evidence files are copied beside the database under ``evidence/<sha256>``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from ..rules import settings
from .config import (
    event_kinds,
    followup_rules,
    json_safe,
    normalize_ids,
    normalize_names,
    resolve_category_keys,
    stable_hash,
)

metadata = sa.MetaData()

lists_table = sa.Table(
    "lists", metadata,
    sa.Column("list_id", sa.String(200), primary_key=True),
    sa.Column("round", sa.Integer, nullable=False),
    sa.Column("file_name", sa.String(500)),
    sa.Column("n_items", sa.Integer, nullable=False),
    sa.Column("issued_date", sa.Date),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

items_table = sa.Table(
    "items", metadata,
    sa.Column("item_key", sa.String(40), primary_key=True),
    sa.Column("identity", sa.Text, nullable=False),
    sa.Column("category_key", sa.String(60)),
    sa.Column("category", sa.String(200)),
    sa.Column("name", sa.String(100)),
    sa.Column("id_number", sa.String(40)),
    sa.Column("id_norm", sa.String(40), index=True),        # the listed ID, normalised
    sa.Column("person_id", sa.String(40), index=True),      # the local person the triage matched, if any
    sa.Column("town", sa.String(100)),
    sa.Column("school", sa.String(200)),
    sa.Column("list_id", sa.String(200), nullable=False),   # first seen in
    sa.Column("round", sa.Integer, nullable=False),
    sa.Column("deadline", sa.Date),
    sa.Column("payload", sa.JSON),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

item_rounds_table = sa.Table(
    "item_rounds", metadata,
    sa.Column("item_key", sa.String(40), sa.ForeignKey("items.item_key"), primary_key=True),
    sa.Column("list_id", sa.String(200), sa.ForeignKey("lists.list_id"), primary_key=True),
    sa.Column("round", sa.Integer, nullable=False),
    sa.Column("seq", sa.String(40)),
    sa.Column("town", sa.String(100)),
    sa.Column("school", sa.String(200)),
    sa.Column("deadline", sa.Date),
    sa.Column("issued_date", sa.Date),
    sa.Column("payload", sa.JSON),
    sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
)

events_table = sa.Table(
    "events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("item_key", sa.String(40), sa.ForeignKey("items.item_key"), nullable=False, index=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("data", sa.JSON),
    sqlite_autoincrement=True,
)

_SQLITE_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
       BEGIN SELECT RAISE(ABORT, '事件记录只能追加，不能修改'); END""",
    """CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
       BEGIN SELECT RAISE(ABORT, '事件记录只能追加，不能删除'); END""",
]

DEFAULT_ACTOR = "系统"


class LedgerError(ValueError):
    """A ledger request that cannot be done (message in Chinese)."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def resolve_url(url: str | os.PathLike | None = None) -> str:
    """A SQLAlchemy URL: as given when it has a scheme, else a SQLite file path (default from the settings)."""
    if url is None:
        url = (settings().get("followup") or {}).get("database") or "~/.local/share/workbench/followup.sqlite"
    url = str(url)
    if "://" in url:
        return url
    path = Path(os.path.expanduser(url)).resolve()
    return f"sqlite:///{path}"


def _sqlite_path(url: str) -> Path | None:
    u = sa.engine.make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


# ---------------------------------------------------------------------------------------------------------------
# item identity


def item_identity(frame: pd.DataFrame) -> pd.DataFrame:
    """Round-independent identity and key of each list row: [identity, item_key].

    Identity: ``id:<normalised listed ID>`` when the list gives one, else ``nb:<name>|<birth date>``, else
    ``nt:<name>|<town>|<school>``; plus ``|c:<category key or category text>``. Two rows of one list with the same
    identity get ``#2``, ``#3``… in list order so that each row stays one item and the numbering is stable.
    """
    n = len(frame)

    def col(name: str) -> pd.Series:
        if name in frame.columns:
            return frame[name].astype("string")
        return pd.Series(pd.NA, index=frame.index, dtype="string")

    ids = normalize_ids(col("id_number"))
    names = normalize_names(col("name")).fillna("")
    birth = col("birth_date")
    if "birth_date" in frame.columns and pd.api.types.is_datetime64_any_dtype(frame["birth_date"]):
        birth = frame["birth_date"].dt.strftime("%Y-%m-%d").astype("string")
    cat = col("category_key")
    cat = cat.fillna(col("category").str.replace(r"\s+", "", regex=True)).fillna("")
    by_id = "id:" + ids
    by_birth = ("nb:" + names + "|" + birth).where(birth.notna() & (names != ""))
    by_place = "nt:" + names + "|" + col("town").fillna("") + "|" + col("school_name").fillna("")
    identity = by_id.fillna(by_birth).fillna(by_place) + "|c:" + cat
    occurrence = identity.groupby(identity, sort=False).cumcount() + 1
    identity = identity.where(occurrence == 1, identity + "#" + occurrence.astype("string"))
    keys = identity.map(stable_hash) if n else identity
    return pd.DataFrame({"identity": identity.astype("string"), "item_key": keys.astype("string")},
                        index=frame.index)


def _date_or_none(value: Any) -> dt.date | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    if pd.isna(ts):
        return None
    return ts.date()


def _text_or_none(value: Any) -> str | None:
    value = json_safe(value)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


# ---------------------------------------------------------------------------------------------------------------
# the ledger


class Ledger:
    """The follow-up ledger on one database. ``Ledger(url)``: a SQLAlchemy URL or a SQLite file path (None: the
    settings' ``followup.database``). Safe to use from several processes at once."""

    def __init__(self, url: str | os.PathLike | None = None, evidence_dir: str | os.PathLike | None = None,
                 busy_timeout_ms: int = 60000):
        self.url = resolve_url(url)
        self.path = _sqlite_path(self.url)
        self.is_sqlite = sa.engine.make_url(self.url).get_backend_name() == "sqlite"
        if evidence_dir is not None:
            self.evidence_dir = Path(evidence_dir)
        elif self.path is not None:
            self.evidence_dir = self.path.parent / "evidence"
        else:
            conf = (settings().get("followup") or {}).get("evidence_dir") or "~/.local/share/workbench/evidence"
            self.evidence_dir = Path(os.path.expanduser(conf))
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout_ms = busy_timeout_ms
        self.engine = self._make_engine()
        self._create_schema()

    # -- engine and transactions ---------------------------------------------------------------------------------

    def _make_engine(self) -> Engine:
        if not self.is_sqlite:  # a shared server: serializable writes, retried on conflicts (see _write)
            return sa.create_engine(self.url, pool_pre_ping=True, isolation_level="SERIALIZABLE")
        engine = sa.create_engine(self.url, connect_args={"timeout": self.busy_timeout_ms / 1000})
        busy = int(self.busy_timeout_ms)

        @sa_event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised through every test
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (IMMEDIATE for writes)
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={busy}")
            if self.path is not None:
                for _ in range(50):
                    try:
                        cur.execute("PRAGMA journal_mode=WAL")
                        break
                    except Exception:  # noqa: BLE001 - another process holds the lock a moment
                        time.sleep(0.05)
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @sa_event.listens_for(engine, "begin")
        def _on_begin(conn):
            write = conn.get_execution_options().get("ledger_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def _write(self, work: Callable[[Connection], Any], attempts: int = 30) -> Any:
        """Run ``work`` in one write transaction; retry when the database is busy or a concurrent insert won."""
        for attempt in range(attempts):
            try:
                with self.engine.connect() as conn:
                    conn.execution_options(ledger_write=True)
                    with conn.begin():
                        return work(conn)
            except (OperationalError, IntegrityError) as exc:
                retry = isinstance(exc, IntegrityError) and attempt < 3
                retry = retry or (isinstance(exc, OperationalError) and _is_busy(exc))
                if not retry or attempt == attempts - 1:
                    raise
                time.sleep(min(2.0, 0.02 * (2 ** min(attempt, 6))) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def _read(self, work: Callable[[Connection], Any]) -> Any:
        for attempt in range(30):
            try:
                with self.engine.connect() as conn, conn.begin():
                    return work(conn)
            except OperationalError as exc:
                if not _is_busy(exc) or attempt == 29:
                    raise
                time.sleep(0.05 * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def _create_schema(self) -> None:
        def work(conn: Connection) -> None:
            metadata.create_all(conn)
            have = {c["name"] for c in sa.inspect(conn).get_columns("items")}
            for col in ("id_norm", "person_id"):  # databases made before these columns existed
                if col not in have:
                    conn.execute(sa.text(f"ALTER TABLE items ADD COLUMN {col} VARCHAR(40)"))
            if self.is_sqlite:
                for ddl in _SQLITE_TRIGGERS:
                    conn.exec_driver_sql(ddl)

        self._write(work)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes --------------------------------------------------------------------------------------------------

    def import_list(self, frame: pd.DataFrame, actor: str = DEFAULT_ACTOR, list_id: str | None = None,
                    file_name: str | None = None, ws: Any = None) -> pd.DataFrame:
        """Import one list (canonical suspects frame, optionally with triage columns) as a round.

        ``ws``: a Workspace (or dict of canonical frames) to triage the list against first (triage.triage), when
        the frame does not carry the triage columns yet.

        Idempotent: the same list again creates no item, no round row and no ``imported`` event. Items already seen
        in an earlier round (same identity) get a new round row and an ``imported`` event with ``repeat: true``, so
        their history carries over. Returns one row per list row: item_key, identity, outcome (新增 / 再次出现 /
        已导入), round, rounds_seen.
        """
        if frame is None or len(frame) == 0:
            raise LedgerError("清单为空，没有可导入的条目")
        if ws is not None and "likely_result" not in frame.columns:
            from .triage import triage

            frame = triage(frame, ws)
        df = frame.reset_index(drop=True).copy()
        df["category_key"] = resolve_category_keys(df)
        ident = item_identity(df)
        df["item_key"] = ident["item_key"]
        df["identity"] = ident["identity"]
        if list_id is None:
            if "list_id" in df.columns and df["list_id"].notna().any():
                list_id = str(df["list_id"].dropna().iloc[0])
            else:
                list_id = "list-" + stable_hash("\n".join(sorted(df["identity"].astype(str))), 16)
        list_id = str(list_id)
        records = [_row_payload(row) for row in df.to_dict(orient="records")]
        id_norm = [_text_or_none(v) for v in normalize_ids(df["id_number"])] if "id_number" in df.columns \
            else [None] * len(df)
        person = [_text_or_none(v) for v in df["person_id"]] if "person_id" in df.columns else [None] * len(df)
        cats = [_text_or_none(v) for v in df["category_key"].fillna(df.get("category", pd.Series(index=df.index)))]
        issued = next((d for d in (_date_or_none(r.get("issued_date")) for r in records) if d), None)
        now = utcnow()

        def work(conn: Connection) -> pd.DataFrame:
            existing_list = conn.execute(
                sa.select(lists_table.c.round).where(lists_table.c.list_id == list_id)).scalar_one_or_none()
            if existing_list is None:
                round_no = (conn.execute(sa.select(sa.func.max(lists_table.c.round))).scalar() or 0) + 1
                conn.execute(lists_table.insert().values(
                    list_id=list_id, round=round_no, file_name=file_name, n_items=len(df), issued_date=issued,
                    actor=actor, at=now))
            else:
                round_no = int(existing_list)
            keys = list(df["item_key"])
            known_items = _select_in(conn, items_table.c.item_key, keys)
            keys, aliased = _match_earlier_rounds(conn, keys, known_items, id_norm, person, cats)
            known_items |= aliased
            known_rounds = set(_select_in(conn, item_rounds_table.c.item_key, keys,
                                          extra=item_rounds_table.c.list_id == list_id))
            new_items, new_rounds, new_events, outcome = [], [], [], []
            rows = zip(keys, df["identity"], records, id_norm, person)
            for key, identity, rec, norm, pid in rows:  # one list: tens to thousands of rows
                deadline = _date_or_none(rec.get("deadline"))
                if key not in known_items:
                    new_items.append(dict(
                        item_key=key, identity=identity, category_key=_text_or_none(rec.get("category_key")),
                        category=_text_or_none(rec.get("category")), name=_text_or_none(rec.get("name")),
                        id_number=_text_or_none(rec.get("id_number")), id_norm=norm, person_id=pid,
                        town=_text_or_none(rec.get("town")),
                        school=_text_or_none(rec.get("school_name")), list_id=list_id, round=round_no,
                        deadline=deadline, payload=rec, created_at=now))
                if key in known_rounds:
                    outcome.append("已导入")
                    continue
                repeat = key in known_items
                outcome.append("再次出现" if repeat else "新增")
                new_rounds.append(dict(
                    item_key=key, list_id=list_id, round=round_no, seq=_text_or_none(rec.get("seq")),
                    town=_text_or_none(rec.get("town")), school=_text_or_none(rec.get("school_name")),
                    deadline=deadline, issued_date=_date_or_none(rec.get("issued_date")), payload=rec,
                    imported_at=now))
                new_events.append(dict(item_key=key, kind="imported", actor=actor, at=now,
                                       data={"list_id": list_id, "round": round_no, "repeat": repeat,
                                             "seq": _text_or_none(rec.get("seq"))}))
            if new_items:
                conn.execute(items_table.insert(), new_items)
            if new_rounds:
                conn.execute(item_rounds_table.insert(), new_rounds)
            if new_events:
                conn.execute(events_table.insert(), new_events)
            seen = _rounds_seen(conn, keys)
            return pd.DataFrame({
                "item_key": keys, "identity": df["identity"], "outcome": outcome,
                "round": round_no, "rounds_seen": [seen.get(k, 1) for k in keys],
            })

        result = self._write(work)
        result.attrs["list_id"] = list_id
        return result

    def record(self, item_key: str, kind: str, actor: str, **data: Any) -> int:
        """Append one event (assigned, checked, corrected, evidence, closed, reopened; imported is import_list's).
        Returns the event id."""
        kinds = [k for k in event_kinds() if k != "imported"]  # imported: only import_list writes it
        if kind not in kinds:
            raise LedgerError(f"未知的事件类型：{kind}（可用：{'、'.join(kinds)}）")
        if not actor or not str(actor).strip():
            raise LedgerError("必须注明操作人")
        if kind == "checked":
            result = data.get("result")
            allowed = followup_rules().get("check_results") or []
            if result is None or (allowed and result not in allowed):
                raise LedgerError(f"核查结果须为：{'、'.join(allowed)}")
        payload = json_safe(data)
        now = utcnow()

        def work(conn: Connection) -> int:
            exists = conn.execute(sa.select(items_table.c.item_key).where(items_table.c.item_key == item_key))
            if exists.first() is None:
                raise LedgerError(f"台账中没有此条目：{item_key}")
            res = conn.execute(events_table.insert().values(item_key=item_key, kind=kind, actor=str(actor),
                                                            at=now, data=payload))
            return int(res.inserted_primary_key[0])

        return self._write(work)

    def attach(self, item_key: str, file_name: str, content: bytes, actor: str, note: str | None = None) -> str:
        """Keep an evidence file (佐证材料) beside the database under evidence/<sha256> and record an ``evidence``
        event with its file name and SHA-256. Returns the SHA-256."""
        digest = hashlib.sha256(content).hexdigest()
        self.evidence_dir.mkdir(parents=True, exist_ok=True)
        target = self.evidence_dir / digest
        if not target.exists():
            fd, tmp = tempfile.mkstemp(dir=self.evidence_dir, prefix=".incoming-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(content)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        data = {"file_name": Path(file_name).name, "sha256": digest, "size": len(content),
                "stored_as": f"evidence/{digest}"}
        if note:
            data["note"] = note
        self.record(item_key, "evidence", actor, **data)
        return digest

    def evidence_path(self, sha256: str) -> Path:
        return self.evidence_dir / sha256

    # -- reads ---------------------------------------------------------------------------------------------------

    def events(self, item_keys: list[str] | None = None) -> pd.DataFrame:
        """Every event (or those of some items), in order: id, item_key, kind, actor, at (UTC), data (dict)."""
        def work(conn: Connection) -> list:
            q = sa.select(events_table).order_by(events_table.c.id)
            if item_keys is not None:
                return [r for chunk in _chunks(list(item_keys))
                        for r in conn.execute(q.where(events_table.c.item_key.in_(chunk))).mappings().all()]
            return conn.execute(q).mappings().all()

        rows = self._read(work)
        frame = pd.DataFrame([dict(r) for r in rows], columns=["id", "item_key", "kind", "actor", "at", "data"])
        if len(frame):
            frame = frame.sort_values("id", kind="stable").reset_index(drop=True)
        frame["at"] = _as_utc(frame["at"])
        frame["data"] = frame["data"].map(lambda d: d if isinstance(d, dict) else {})
        return frame

    def history(self, item_key: str) -> pd.DataFrame:
        """One item's events, oldest first, with a Chinese label and the status after each event."""
        ev = self.events([item_key])
        if not len(ev):
            raise LedgerError(f"台账中没有此条目：{item_key}")
        ev["status"] = _status_after_each(ev)
        labels = followup_rules().get("event_labels") or _EVENT_LABELS
        ev["label"] = ev["kind"].map(labels).fillna(ev["kind"])
        return ev[["id", "item_key", "kind", "label", "actor", "at", "data", "status"]]

    def lists(self) -> pd.DataFrame:
        rows = self._read(lambda c: c.execute(sa.select(lists_table).order_by(lists_table.c.round)).mappings().all())
        frame = pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in lists_table.columns])
        frame["at"] = _as_utc(frame["at"])
        return frame

    def items(self, status: str | list[str] | None = None, town: str | None = None, overdue: bool | None = None,
              as_of: dt.date | None = None, list_id: str | None = None) -> pd.DataFrame:
        """One row per item with its latest round's fields and its derived state.

        Columns: item_key, list_id, round, first_round, rounds_seen, seq, category_key, category, name, id_number,
        town, school, deadline, issued_date, status, overdue, assigned_unit, assigned_person, result, check_note,
        checked_by, checked_at, correction, corrected_system, corrected_at, evidence_files, closed_at,
        last_event_at, n_events, n_evidence, payload (dict: the list row and triage as imported), and the triage
        fields (TRIAGE_FIELDS: match, person_id, likely_result, cause, cause_label, suggestion, suggested_id,
        suggested_value, responsible_town, responsible_school, local_finding; NA without triage).
        ``status``: a status label (待分派, 已分派, 已核查, 已整改, 已办结, 重新办理, 再次下发) or 'open'/'closed';
        ``overdue``: deadline before ``as_of`` (default today) and not closed.
        """
        frame = self._items_frame(as_of=as_of, list_id=list_id)
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            rules = followup_rules()["statuses"]
            expanded: list[str] = []
            for s in wanted:
                expanded += rules["open_statuses"] if s == "open" else rules["closed_statuses"] if s == "closed" \
                    else [s]
            frame = frame[frame["status"].isin(expanded)]
        if town is not None:
            frame = frame[frame["town"] == town]
        if overdue is not None:
            frame = frame[frame["overdue"] == bool(overdue)]
        return frame.reset_index(drop=True)

    def _items_frame(self, as_of: dt.date | None = None, list_id: str | None = None) -> pd.DataFrame:
        def work(conn: Connection) -> tuple:
            items = conn.execute(sa.select(items_table)).mappings().all()
            rounds = conn.execute(sa.select(item_rounds_table)).mappings().all()
            return items, rounds

        items_rows, round_rows = self._read(work)
        items = pd.DataFrame([dict(r) for r in items_rows], columns=[c.name for c in items_table.columns])
        rounds = pd.DataFrame([dict(r) for r in round_rows], columns=[c.name for c in item_rounds_table.columns])
        ev = self.events()
        return derive_items(items, rounds, ev, as_of=as_of, list_id=list_id)

    # -- the county's answer -------------------------------------------------------------------------------------

    def export_response(self, path: str | os.PathLike | Any, town: str | None = None,
                        list_id: str | None = None, as_of: dt.date | None = None) -> Any:
        """Write the response workbook (反馈表): the list's own columns then the response columns."""
        from .export import export_response

        return export_response(self, path, town=town, list_id=list_id, as_of=as_of)


TRIAGE_FIELDS = ("match", "person_id", "likely_result", "cause", "cause_label", "suggestion", "suggested_id",
                 "suggested_value", "responsible_town", "responsible_school", "local_finding")

_EVENT_LABELS = {"imported": "导入", "assigned": "分派", "checked": "核查", "corrected": "整改",
                 "evidence": "上传佐证材料", "closed": "办结", "reopened": "重新打开"}


def _is_busy(exc: OperationalError) -> bool:
    text = str(exc.orig if exc.orig is not None else exc).lower()
    return "locked" in text or "busy" in text or "deadlock" in text or "could not serialize" in text


def _chunks(values: list, size: int = 500) -> list[list]:
    return [values[i:i + size] for i in range(0, len(values), size)] or [[]]


def _select_in(conn: Connection, column: sa.Column, values: list, extra: Any = None) -> set:
    out: set = set()
    for chunk in _chunks(sorted(set(values))):
        if not chunk:
            continue
        q = sa.select(column).where(column.in_(chunk))
        if extra is not None:
            q = q.where(extra)
        out.update(conn.execute(q).scalars().all())
    return out


def _match_earlier_rounds(conn: Connection, keys: list[str], known: set, id_norm: list, person: list,
                          cats: list) -> tuple[list[str], set]:
    """Rows whose identity is new but whose person is already an item of the same category (listed under another
    ID in an earlier round, e.g. the wrong ID then the right one): reuse that item. Returns (keys, reused keys)."""
    unknown = [i for i, k in enumerate(keys) if k not in known and (id_norm[i] or person[i])]
    if not unknown:
        return keys, set()
    probe = sorted({v for i in unknown for v in (id_norm[i], person[i]) if v})
    index: dict[tuple[Any, str], set[str]] = {}
    for chunk in _chunks(probe):
        q = sa.select(items_table.c.item_key, items_table.c.category_key, items_table.c.category,
                      items_table.c.id_norm, items_table.c.person_id).where(
            sa.or_(items_table.c.id_norm.in_(chunk), items_table.c.person_id.in_(chunk)))
        for key, cat_key, cat, norm, pid in conn.execute(q).all():
            for v in (norm, pid):
                if v:
                    index.setdefault((cat_key or cat, v), set()).add(key)
    keys = list(keys)
    used, reused = set(keys), set()
    for i in unknown:
        found: set[str] = set()
        for v in (person[i], id_norm[i]):
            if v:
                found |= index.get((cats[i], v), set())
        found -= used
        if len(found) == 1:
            keys[i] = found.pop()
            used.add(keys[i])
            reused.add(keys[i])
    return keys, reused


def _rounds_seen(conn: Connection, keys: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for chunk in _chunks(sorted(set(keys))):
        if not chunk:
            continue
        q = (sa.select(item_rounds_table.c.item_key, sa.func.count())
             .where(item_rounds_table.c.item_key.in_(chunk)).group_by(item_rounds_table.c.item_key))
        out.update({k: int(n) for k, n in conn.execute(q).all()})
    return out


def _row_payload(rec: dict[str, Any]) -> dict[str, Any]:
    """A list row as JSON-safe dict; the original columns stay under ``extra``."""
    out = {}
    for key, value in rec.items():
        if key in ("item_key", "identity") or str(key).startswith("_"):
            continue
        out[str(key)] = json_safe(value)
    return out


def _as_utc(values: pd.Series) -> pd.Series:
    if not len(values):
        return pd.Series(pd.DatetimeIndex([], tz="UTC"), index=values.index)
    s = pd.to_datetime(values, utc=False)
    if getattr(s.dt, "tz", None) is None:
        s = s.dt.tz_localize("UTC")
    else:
        s = s.dt.tz_convert("UTC")
    return s


def _status_after_each(ev: pd.DataFrame) -> pd.Series:
    """Status after each event of one or more items' ordered events (vectorised per item)."""
    kinds = event_kinds()
    reimported = followup_rules()["statuses"]["reimported"]
    closed_labels = set(followup_rules()["statuses"]["closed_statuses"])
    label = ev["kind"].map({k: v for k, v in kinds.items() if v is not None})
    is_repeat_import = (ev["kind"] == "imported") & ev["data"].map(lambda d: bool(d.get("repeat")))
    label = label.mask(is_repeat_import, pd.NA)
    prev = label.groupby(ev["item_key"]).ffill()
    # a later round's import of a closed item shows 再次下发
    prev_before = prev.groupby(ev["item_key"]).shift(1)
    label = label.mask(is_repeat_import & prev_before.isin(closed_labels), reimported)
    return label.groupby(ev["item_key"]).ffill()


def derive_items(items: pd.DataFrame, rounds: pd.DataFrame, ev: pd.DataFrame, as_of: dt.date | None = None,
                 list_id: str | None = None) -> pd.DataFrame:
    """Items with their latest round and the state derived from the events (pure function of the three tables)."""
    as_of = as_of or utcnow().date()
    columns = ["item_key", "list_id", "round", "first_round", "rounds_seen", "seq", "category_key", "category",
               "name", "id_number", "town", "school", "deadline", "issued_date", "status", "overdue",
               "assigned_unit", "assigned_person", "result", "check_note", "checked_by", "checked_at",
               "correction", "corrected_system", "corrected_at", "evidence_files", "closed_at", "last_event_at",
               "n_events", "n_evidence", "payload"]
    if not len(items):
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns + list(TRIAGE_FIELDS)})
    seen = rounds.groupby("item_key").size().rename("rounds_seen")
    if list_id is not None:
        rounds = rounds[rounds["list_id"] == list_id]
    latest = rounds.sort_values(["item_key", "round"]).drop_duplicates("item_key", keep="last")
    latest = latest.rename(columns={"town": "round_town", "school": "round_school", "payload": "round_payload"})
    base = items.rename(columns={"round": "first_round", "list_id": "first_list_id", "deadline": "first_deadline",
                                 "payload": "first_payload"})
    frame = latest.merge(base, on="item_key", how="inner").merge(seen, on="item_key", how="left")
    frame["town"] = frame["round_town"].fillna(frame["town"])
    frame["school"] = frame["round_school"].fillna(frame["school"])
    frame["payload"] = frame["round_payload"].where(frame["round_payload"].notna(), frame["first_payload"])
    frame["deadline"] = pd.to_datetime(frame["deadline"]).fillna(pd.to_datetime(frame["first_deadline"]))
    frame["issued_date"] = pd.to_datetime(frame["issued_date"])

    ev = ev[ev["item_key"].isin(frame["item_key"])].copy()
    if len(ev):
        ev["status"] = _status_after_each(ev)
    else:
        ev["status"] = pd.Series(dtype="string")
    last = ev.groupby("item_key").agg(status=("status", "last"), last_event_at=("at", "max"),
                                      n_events=("id", "size"))
    frame = frame.merge(last, on="item_key", how="left")

    def last_of(kind: str, fields: dict[str, str]) -> pd.DataFrame:
        sub = ev[ev["kind"] == kind].drop_duplicates("item_key", keep="last")
        out = pd.DataFrame({"item_key": sub["item_key"]})
        for col, field in fields.items():
            if field == "@actor":
                out[col] = sub["actor"]
            elif field == "@at":
                out[col] = sub["at"]
            else:
                out[col] = sub["data"].map(lambda d, f=field: d.get(f))
        return out

    for part in (
        last_of("assigned", {"assigned_unit": "unit", "assigned_person": "person", "assigned_phone": "phone"}),
        last_of("checked", {"result": "result", "check_note": "note", "checked_by": "@actor",
                            "checked_at": "@at", "checker_phone": "phone"}),
        last_of("corrected", {"correction": "what", "corrected_system": "system", "corrected_at": "@at",
                              "corrected_date": "date"}),
        last_of("closed", {"closed_at": "@at"}),
    ):
        frame = frame.merge(part, on="item_key", how="left")
    evid = ev[ev["kind"] == "evidence"]
    if len(evid):
        files = (evid.assign(f=evid["data"].map(lambda d: d.get("file_name")))
                 .groupby("item_key")["f"].agg(lambda s: "；".join(x for x in s if x)).rename("evidence_files"))
        counts = evid.groupby("item_key").size().rename("n_evidence")
        frame = frame.merge(files, on="item_key", how="left").merge(counts, on="item_key", how="left")
    else:
        frame["evidence_files"] = pd.NA
        frame["n_evidence"] = 0
    frame["n_evidence"] = frame["n_evidence"].fillna(0).astype("int64")
    frame["n_events"] = frame["n_events"].fillna(0).astype("int64")
    for field in TRIAGE_FIELDS:  # the triage made at import (empty when the list was imported without data)
        frame[field] = frame["payload"].map(lambda p, f=field: p.get(f) if isinstance(p, dict) else None)
    closed = set(followup_rules()["statuses"]["closed_statuses"])
    frame["overdue"] = (frame["deadline"].notna() & (frame["deadline"] < pd.Timestamp(as_of))
                        & ~frame["status"].isin(closed)).astype(bool)
    for col in columns:
        if col not in frame.columns:
            frame[col] = pd.NA
    keep = columns + list(TRIAGE_FIELDS) + ["assigned_phone", "checker_phone", "corrected_date", "first_list_id"]
    frame = frame[keep]
    text_cols = ["item_key", "list_id", "seq", "category_key", "category", "name", "id_number", "town", "school",
                 "status", "assigned_unit", "assigned_person", "result", "check_note", "checked_by", "correction",
                 "corrected_system", "evidence_files", "assigned_phone", "checker_phone", "corrected_date",
                 "first_list_id", *TRIAGE_FIELDS]
    for col in text_cols:
        frame[col] = frame[col].map(_text_or_none).astype("string")
    return frame.sort_values(["round", "seq", "item_key"], na_position="last",
                             key=lambda s: s.map(_seq_sort) if s.name == "seq" else s,
                             kind="stable").reset_index(drop=True)


def _seq_sort(value: Any) -> Any:
    try:
        return f"{int(str(value)):012d}"
    except (TypeError, ValueError):
        return str(value)
