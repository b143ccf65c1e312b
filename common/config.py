"""The one config loader: versioned YAML files under config/, each validated against its schema."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml

from common.config_schema import ConfigError, validate
from common.paths import CONFIG_DIR

__all__ = ["ConfigError", "check_config_folder", "config_dir", "load_config"]


def config_dir() -> Path:
    """Config folder; CRM_RISK_CONFIG_DIR overrides it (tests, other deployments)."""
    return Path(os.environ.get("CRM_RISK_CONFIG_DIR", CONFIG_DIR))


@functools.cache
def _load(path: str, mtime: float) -> dict[str, Any]:
    where = f"config file {path}"
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{where}: not readable YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must hold a mapping at top level, got {type(data).__name__}")
    validate(Path(path).stem, data, where)
    return data


@functools.cache
def _folder(folder: str, stamp: tuple[tuple[str, float], ...]) -> None:
    for name, mtime in stamp:
        _load(str(Path(folder) / name), mtime)


def check_config_folder() -> None:
    """Validate every file of the config folder (cached until one changes); ConfigError on the first bad one.

    Called by load_config, so the first config read of any entry point checks them all before it
    opens a connection.
    """
    folder = config_dir()
    files = sorted(p for p in folder.glob("*.y*ml"))
    _folder(str(folder), tuple((p.name, p.stat().st_mtime) for p in files))


def load_config(name: str) -> dict[str, Any]:
    """Return config/<name>.yml as a dict (cached until the file changes), after validating the folder."""
    path = config_dir() / f"{name}.yml"
    if not path.exists():
        raise FileNotFoundError(f"config file not found: {path}")
    check_config_folder()
    return _load(str(path), path.stat().st_mtime)
