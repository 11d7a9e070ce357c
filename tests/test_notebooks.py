"""nbval: every analyst notebook and dashboard runs top to bottom on data/samples and its checked outputs match.

Each notebook is validated in its own `pytest --nbval-lax` subprocess (the venv's kernel via --nbval-current-env),
so the README's test command collects them without a special flag. Cells marked `# NBVAL_CHECK_OUTPUT` have their
stored output compared (after tests/nbval_sanitize.cfg); every cell must run without error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted(
    (ROOT / "notebooks" / "dashboards").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.relative_to(ROOT / "notebooks").as_posix() for p in NOTEBOOKS])
def test_notebook_runs_and_matches_stored_outputs(notebook: Path, tmp_path: Path) -> None:
    env = dict(os.environ)
    env.pop("WORKBENCH_DATA", None)                       # the notebooks' own relative path: data/samples
    env["WORKBENCH_LEDGER"] = str(tmp_path / "followup.sqlite")   # never the user's or the samples' folder
    env["MPLBACKEND"] = "Agg"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    cmd = [
        sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
        "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg"), "--nbval-cell-timeout=600",
        "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly", "-q", "--rootdir", str(tmp_path),
        "-o", "addopts=", str(notebook),
    ]
    proc = subprocess.run(cmd, check=False, cwd=notebook.parent, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, f"nbval failed for {notebook.name}:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
    assert " passed" in proc.stdout
