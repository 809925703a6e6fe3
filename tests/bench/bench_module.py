"""Import a script under bench/ (not a package) by file name, for its tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load(script: str, module_name: str) -> ModuleType:
    """bench/<script>.py as module ``module_name`` (registered in sys.modules first, so its
    dataclasses resolve their own module)."""
    spec = importlib.util.spec_from_file_location(module_name, BENCH / f"{script}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
