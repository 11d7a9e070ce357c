"""Loaders for the declared rule files in `workbench/rules/` (aliases, codes, policies, calendars, settings)."""

from __future__ import annotations

import hashlib
import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

RULES_DIR = Path(str(resources.files("workbench") / "rules"))


def rule_path(name: str) -> Path:
    """Path of a rule file: an absolute path as given, else a file in the package's rules folder."""
    p = Path(os.path.expanduser(name))
    return p if p.is_absolute() else RULES_DIR / name


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml when PyYAML was built with it: ~10x faster


@cache
def load_yaml(name: str) -> dict[str, Any]:
    with open(rule_path(name), encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_LOADER) or {}  # a safe loader


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@cache
def settings() -> dict[str, Any]:
    """The settings in force: `rules/settings.yaml`, overridden key by key by the file in $WORKBENCH_SETTINGS."""
    base = load_yaml("settings.yaml")
    extra = os.environ.get("WORKBENCH_SETTINGS")
    if extra:
        with open(extra, encoding="utf-8") as fh:
            base = _merge(base, yaml.load(fh, Loader=_LOADER) or {})  # a safe loader
    return base


def finding_kinds() -> dict[str, dict[str, Any]]:
    """kind -> {label, grain, hint, rule} from `rules/findings.yaml`."""
    return load_yaml("findings.yaml")["kinds"]


@cache
def rules_version() -> str:
    """A hash of every rule file: part of the parse-cache key, so editing a rule invalidates cached parses."""
    h = hashlib.sha256()
    for p in sorted(RULES_DIR.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]
