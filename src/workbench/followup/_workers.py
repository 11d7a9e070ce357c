"""Process entry points for the ledger's concurrency and fault tests (importable under the spawn start method)."""

from __future__ import annotations

import time


def append_events(url: str, item_keys: list[str], n: int, actor: str) -> int:
    """Append ``n`` events, cycling over ``item_keys``, each in its own transaction. Returns how many."""
    from .ledger import Ledger

    ledger = Ledger(url)
    try:
        for i in range(n):
            ledger.record(item_keys[i % len(item_keys)], "assigned", actor, unit=f"单位{i % 7}", seq=i)
        return n
    finally:
        ledger.close()


def append_events_timed(url: str, item_keys: list[str], n: int, actor: str) -> tuple[int, float, float]:
    """Like append_events, with the wall-clock start and end of the appends (process start-up excluded)."""
    from .ledger import Ledger

    ledger = Ledger(url)
    try:
        start = time.time()
        for i in range(n):
            ledger.record(item_keys[i % len(item_keys)], "assigned", actor, unit=f"单位{i % 7}", seq=i)
        return n, start, time.time()
    finally:
        ledger.close()


def hold_open_transaction(url: str, item_key: str, ready) -> None:
    """Begin a write transaction, insert events, signal ``ready`` and block forever (the parent kills us)."""
    import sqlalchemy as sa

    from .ledger import Ledger, events_table, utcnow

    ledger = Ledger(url)
    conn = ledger.engine.connect()
    conn.execution_options(ledger_write=True)
    conn.begin()
    for i in range(50):
        conn.execute(events_table.insert().values(item_key=item_key, kind="checked", actor="被终止的写入者",
                                                  at=utcnow(), data={"result": "属实", "partial": i}))
    conn.execute(sa.text("SELECT count(*) FROM events")).scalar()
    ready.set()
    while True:
        time.sleep(60)
