"""Shared fixtures."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture
def load_script() -> Callable[[str], ModuleType]:
    """A loader for a module of ``scripts/`` by file stem (the scripts are not a package)."""

    def load(stem: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(stem, SCRIPTS / f"{stem}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
