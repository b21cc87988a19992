"""Import the top-level modules of every distribution installed in this interpreter.

``pip check`` only compares declared versions; a wheel built against another library (a CUDA
torchvision beside a CPU torch) passes it and still fails on import. This script imports every
installed distribution's top-level modules (from its ``RECORD`` and ``top_level.txt``) in one
interpreter, retries each failure alone in a fresh one, and exits 1 naming every module that fails
there too, with the error's last line.

    .venv/bin/python .ci/check_imports.py

``ALLOWED`` lists modules that cannot import on a healthy machine without a GPU or a display; each
entry says why. Keep it short: a module that fails for any other reason is a broken install.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import importlib.util
import subprocess
import sys
import warnings

ALLOWED: dict[str, str] = {}


def _record_modules(dist: metadata.Distribution) -> set[str]:
    """Top-level packages and modules among the files a distribution installed into site-packages
    (for a namespace directory such as ``google``, the packages one level down)."""
    inits: set[tuple[str, ...]] = set()
    names: set[str] = set()
    for file in dist.files or []:
        parts = file.parts
        if not parts or parts[0] in {"..", "__pycache__"}:
            continue
        if parts[0].endswith((".dist-info", ".egg-info", ".data")):
            continue
        if len(parts) == 1:
            stem = parts[0].split(".")[0]
            if parts[0].endswith((".py", ".so")) and not stem.startswith("__editable__"):
                names.add(stem)
        elif parts[-1] == "__init__.py" and len(parts) <= 3:
            inits.add(parts[:-1])
    for package in inits:
        if len(package) == 1 or (package[0],) not in inits:
            names.add(".".join(package))
    return names


def top_level_modules(dist: metadata.Distribution) -> set[str]:
    """The importable top-level modules a distribution installs: those among its files, and those
    its ``top_level.txt`` names that resolve (an editable install has no files in site-packages;
    some wheels list compiled submodules there as if they were top-level)."""
    names = _record_modules(dist)
    for line in (dist.read_text("top_level.txt") or "").splitlines():
        name = line.strip().replace("/", ".")
        if name and all(p.isidentifier() for p in name.split(".")) and _findable(name):
            names.add(name)
    return {n for n in names if all(p.isidentifier() for p in n.split("."))}


def _findable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _imports_alone(module: str) -> str | None:
    """None if ``module`` imports in a fresh interpreter, else the error's last line. Some
    modules fail only after others (setuptools after ``distutils`` was imported by another)."""
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 0:
        return None
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit code {result.returncode}"


def main() -> int:
    warnings.simplefilter("ignore")
    failures = []
    checked = 0
    for dist in sorted(metadata.distributions(), key=lambda d: d.metadata["Name"].lower()):
        for module in sorted(top_level_modules(dist)):
            if module in ALLOWED:
                continue
            checked += 1
            try:
                importlib.import_module(module)
            except BaseException:  # any failure, even SystemExit: retried alone below
                error = _imports_alone(module)
                if error is not None:
                    failures.append(
                        f"{dist.metadata['Name']} {dist.version}: import {module}: {error}"
                    )
    for line in failures:
        print(line, file=sys.stderr)
    print(f"check_imports: {checked} modules, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
