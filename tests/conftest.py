"""Shared test fixtures.

The 60,000-student counties are generated once per test run and shared by every pytest-xdist worker (a file lock
guards the generation), instead of once per test module.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from filelock import FileLock

COUNTY_SEED = 7


def _county(tmp_path_factory, worker_id: str, fmt: str) -> Path:
    given = os.environ.get("WORKBENCH_TEST_COUNTY" if fmt == "parquet" else "WORKBENCH_TEST_COUNTY_EXCEL")
    if given:
        return Path(given)
    root = tmp_path_factory.getbasetemp()
    if worker_id != "master":  # every xdist worker has its own basetemp below a shared one
        root = root.parent
    students = int(os.environ.get("WORKBENCH_TEST_STUDENTS", "60000"))
    out = root / f"county{students}-{fmt}"
    with FileLock(str(out) + ".lock"):
        if not out.exists():
            from workbench.samples import generate

            partial = out.with_name(out.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            generate(partial, students=students, seed=COUNTY_SEED, fmt=fmt)
            partial.rename(out)
    return out


@pytest.fixture(scope="session")
def county_60k_parquet(tmp_path_factory, worker_id) -> Path:
    """A freshly generated county (WORKBENCH_TEST_STUDENTS, default 60,000) as canonical parquet + answer_key.csv,
    or the folder named by WORKBENCH_TEST_COUNTY."""
    return _county(tmp_path_factory, worker_id, "parquet")


@pytest.fixture(scope="session")
def county_60k_excel(tmp_path_factory, worker_id) -> Path:
    """The same county written as Excel/CSV exports (for loader tests), or WORKBENCH_TEST_COUNTY_EXCEL."""
    return _county(tmp_path_factory, worker_id, "excel")
