"""Re-run every notebook and dashboard on data/samples and store the outputs that nbval compares.

    python notebooks/refresh_outputs.py [names...]

Run it after an intended change of an analysis or of the sample county (tests/test_notebooks.py then passes
again); review the diff of the printed figures before committing. A temporary follow-up ledger is used.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def refresh(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)


def main(names: list[str]) -> int:
    paths = sorted(HERE.glob("[0-9][0-9]_*.ipynb")) + sorted((HERE / "dashboards").glob("*.ipynb"))
    if names:
        paths = [p for p in paths if p.stem in names or p.name in names]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["WORKBENCH_LEDGER"] = str(Path(tmp) / "followup.sqlite")
        os.environ.pop("WORKBENCH_DATA", None)
        os.environ["MPLBACKEND"] = "Agg"
        for path in paths:
            print(f"执行 {path.relative_to(HERE)} …", flush=True)
            refresh(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
