"""``.ci/check_imports.py``: which modules it takes from an installed distribution, and that an
import failing in a fresh interpreter is reported while one that imports is not."""

from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "check_imports.py"


@pytest.fixture(scope="module")
def check_imports() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_imports", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_distribution(
    root: Path, record: list[str], top_level: list[str]
) -> metadata.Distribution:
    info = root / "fake-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake\nVersion: 1.0\n")
    (info / "RECORD").write_text("".join(f"{line},,\n" for line in record))
    (info / "top_level.txt").write_text("".join(f"{name}\n" for name in top_level))
    return metadata.PathDistribution(info)


def test_modules_come_from_the_installed_files_and_resolvable_top_level_names(
    check_imports: ModuleType, tmp_path: Path
) -> None:
    dist = _fake_distribution(
        tmp_path,
        record=[
            "pkg/__init__.py",
            "pkg/sub/__init__.py",  # a subpackage, not a top level
            "namespace/inner/__init__.py",  # namespace directory: the package below counts
            "single.py",
            "ext.cpython-311-x86_64-linux-gnu.so",
            "__editable___fake_finder.py",
            "fake-1.0.dist-info/METADATA",
            "../../bin/fake-cli",
        ],
        # json resolves (an editable install lists its packages only here); core_cc, a compiled
        # submodule some wheels list as top level, does not and is left out
        top_level=["json", "core_cc", "pkg"],
    )
    assert check_imports.top_level_modules(dist) == {
        "pkg",
        "namespace.inner",
        "single",
        "ext",
        "json",
    }


def test_an_import_that_fails_alone_is_reported(check_imports: ModuleType) -> None:
    assert check_imports._imports_alone("json") is None
    error = check_imports._imports_alone("no_such_module_for_check_imports")
    assert error is not None and "ModuleNotFoundError" in error
