"""The load-report invariant on every file of the committed sample county (data/samples/) and of a generated
60,000-student county: rows read = loaded + rejected, every reject has a reason, every export is placed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from workbench.sources import read_file
from workbench.workspace import load_folder

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
EXPORT_EXTS = {".xlsx", ".xls", ".csv", ".txt"}


def sample_files() -> list[Path]:
    if not SAMPLES.exists():
        return []
    return sorted(p for p in SAMPLES.rglob("*") if p.suffix.lower() in EXPORT_EXTS and "key" not in p.stem)


def check_invariant(report: pd.DataFrame, rejects: pd.DataFrame) -> None:
    assert (report["rows_read"] == report["rows_loaded"] + report["rows_rejected"]).all()
    per_file = rejects.groupby(["file", "sheet"])["row"].nunique()
    for (file, sheet), n in per_file.items():
        rows = report[(report["file"] == file) & (report["sheet"] == sheet)]
        assert int(rows["rows_rejected"].sum()) == n
    assert rejects["reason"].notna().all() and (rejects["reason"].astype(str).str.len() > 0).all()


@pytest.mark.skipif(not sample_files(), reason="data/samples/ not generated yet")
@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.relative_to(SAMPLES).as_posix())
def test_every_sample_file_is_placed_and_keeps_the_invariant(path):
    results = read_file(path, root=SAMPLES, as_of="2019-11-30")
    assert results
    for r in results:
        rep = r.report
        assert r.system is not None, rep["message"]
        assert rep["rows_read"] == rep["rows_loaded"] + rep["rows_rejected"] == len(r.frame) + len(r.rejects)
        assert rep["rows_read"] > 0
        assert r.rejects["reason"].notna().all()


@pytest.mark.skipif(not sample_files(), reason="data/samples/ not generated yet")
def test_sample_county_loads_every_system(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    ws = load_folder(SAMPLES, progress=False)
    assert str(ws.as_of) == "2019-11-30" and ws.term == "2019秋"
    for key, table in ws.tables.items():
        assert len(table) > 0, key
        if "id_number" in table.columns:
            assert table["id_number"].notna().mean() > 0.9, key
    assert set(ws.table("registry")["term"]) == {"2019秋", "2019春"}
    check_invariant(ws.report, ws.rejects)
    placed = ws.report[ws.report["system"].notna()]
    assert len(placed) == len(sample_files())
    key = pd.read_csv(SAMPLES / "answer_key.csv", dtype=str)
    lost = key[(key["kind"] == "id_precision_lost") & (key["system"] == "registry")]
    reg = ws.registry_term()
    assert set(lost["id_number"]) <= set(reg.loc[reg["id_reason"] == "precision_lost", "id_number"])


@pytest.mark.slow
def test_generated_60000_county_keeps_the_invariant(tmp_path, monkeypatch):
    samples = pytest.importorskip("workbench.samples")
    if not hasattr(samples, "generate"):
        pytest.skip("sample generator not available")
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    out = samples.generate(tmp_path / "county", students=60000, seed=7)
    ws = load_folder(out, progress=False)
    check_invariant(ws.report, ws.rejects)
    exports = [p for p in Path(out).rglob("*") if p.suffix.lower() in EXPORT_EXTS and "key" not in p.stem]
    assert int(ws.report["system"].notna().sum()) >= len(exports)
    assert len(ws.table("registry")) > 100000
