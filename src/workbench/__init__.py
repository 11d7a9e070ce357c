"""教育扶贫数据工作台 (county education-poverty data workbench).

Exports -> sources -> workspace -> link -> analyses -> findings -> reports, notebooks, dashboards.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Workspace", "__version__", "load_folder"]


def __getattr__(name: str):
    # Lazy so that `import workbench` stays cheap and modules load only when used.
    if name in ("load_folder", "Workspace"):
        from . import workspace

        return getattr(workspace, name)
    raise AttributeError(name)
