"""Suspected-error lists (疑似问题数据): import, triage against local data, a follow-up ledger, the county's answer.

- ``triage.triage(suspects, ws)``: each list item matched to local data, likely cause, suggested correction;
- ``ledger.Ledger(url)``: the append-only follow-up ledger (SQLite by default, any SQLAlchemy URL);
- ``export.export_response(ledger, path, town=None)``: the response workbook (反馈表);
- ``add_arguments`` / ``run``: the ``workbench followup`` command.
"""

from __future__ import annotations

from .cli import add_arguments, run
from .ledger import Ledger, LedgerError, item_identity

__all__ = ["Ledger", "LedgerError", "add_arguments", "item_identity", "read_list", "run", "triage_list"]


def __getattr__(name: str):  # lazy: triage pulls in the analyses only when used
    if name == "triage_list":
        from .triage import triage

        return triage
    if name == "read_list":
        from .listfile import read_list

        return read_list
    raise AttributeError(name)
