"""Issue 17's totals, measured: run the bad-input, payload and kill/resume test modules and count
their cases per domain by what the code did.

Every collected test item is one case (a parametrised item is one file or setting; a few items
check two or three related files). Its kind comes from its test function's name (a parameter id
only marks a crafted file):

- payload: a crafted pickle / YAML tag / object array / cache entry (``refuse``, ``runs_no_code``,
  ``crafted`` in the name); passed = blocked, failed = the payload ran or was not refused;
- kill: a SIGKILL or a stopped DDP run resumed (``test_kill_resume.py``,
  ``test_training_ddp_resume.py``); passed = the history and weights equal an uninterrupted run;
- warning: usable data loaded with a logged warning (``warning`` in the name);
- valid: an edge case that must keep loading (``valid`` / ``quirk`` in the name);
- control: a check of the test machinery itself (the payload is live, the source scan, error
  types), not a case;
- error: everything else, a bad input that must give one clear error naming the file.

A failed error case is a *silent result* when nothing was raised (``DID NOT RAISE`` or the command
exited 0) and a *traceback* otherwise; an expected failure (``xfail``) is a known gap.

    OMP_NUM_THREADS=1 python benchmarks/bad_input_totals.py [--out totals.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
KILL_MODULES = ("tests/shared/test_kill_resume.py", "tests/shared/test_training_ddp_resume.py")
PAYLOAD_MODULE = "tests/shared/test_no_code_execution.py"
CONTROL = re.compile(r"payload_is_live|source_scan|no_unsafe_load|are_value_errors")
PAYLOAD = re.compile(r"refuse|runs_no_code|crafted")
DOMAINS = ("core", "graph", "recsys", "timeseries", "pointcloud")
COLUMNS = (
    "cases",
    "clear errors",
    "warnings",
    "valid edge cases",
    "payloads blocked",
    "kills resumed exactly",
    "tracebacks",
    "silent results",
    "payloads executed",
    "known gaps (xfail)",
)


def modules() -> list[str]:
    """The per-domain bad-input modules that exist, the payload module and the kill modules."""
    found = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("tests/*/test_bad_input*.py"))
    return [*found, PAYLOAD_MODULE, *KILL_MODULES]


def kind(nodeid: str) -> str:
    path, _, name = nodeid.partition("::")
    function = name.split("[")[0]  # the parameter id names the case, not its kind...
    if path in KILL_MODULES:
        return "kill"
    if CONTROL.search(function):
        return "control"
    if PAYLOAD.search(name):  # ... except a crafted file among other cases
        return "payload"
    if "warning" in function:
        return "warning"
    if "valid" in function or "quirk" in function:
        return "valid"
    return "payload" if path == PAYLOAD_MODULE else "error"


def domain(nodeid: str) -> str:
    path, _, name = nodeid.partition("::")
    folder = path.split("/")[1]
    if folder == "shared":
        return next((d for d in DOMAINS if d in name), "core")
    return folder.removesuffix("_cl")


class Tally:
    """A pytest plugin that keeps each item's outcome and failure text."""

    def __init__(self) -> None:
        self.outcomes: dict[str, tuple[str, str]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or report.outcome != "passed":
            outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
            if report.nodeid not in self.outcomes or outcome != "passed":
                self.outcomes[report.nodeid] = (outcome, str(report.longrepr or ""))


def classify(nodeid: str, outcome: str, text: str) -> str:
    what = kind(nodeid)
    if outcome == "xfailed":
        return "known gaps (xfail)"
    if outcome == "skipped":
        return "skipped"
    if outcome == "passed":
        return {
            "error": "clear errors",
            "warning": "warnings",
            "valid": "valid edge cases",
            "payload": "payloads blocked",
            "kill": "kills resumed exactly",
        }[what]
    if what == "payload":
        return "payloads executed"
    silent = "DID NOT RAISE" in text or re.search(r"assert 0 == 2", text)
    return "silent results" if silent else "tracebacks"


def totals(outcomes: dict[str, tuple[str, str]]) -> dict[str, Counter[str]]:
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for nodeid, (outcome, text) in sorted(outcomes.items()):
        if kind(nodeid) == "control":
            continue
        row = table[domain(nodeid)]
        row["cases"] += 1
        row[classify(nodeid, outcome, text)] += 1
    return table


def markdown(table: dict[str, Counter[str]]) -> str:
    lines = ["| domain | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    rows = [d for d in DOMAINS if d in table]
    overall: Counter[str] = sum((table[d] for d in rows), Counter())
    for name, row in [*[(d, table[d]) for d in rows], ("**all**", overall)]:
        lines.append(f"| {name} | " + " | ".join(str(row[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write the totals and every outcome as JSON")
    args = parser.parse_args()
    os.chdir(ROOT)
    tally = Tally()
    start = time.perf_counter()
    code = pytest.main(["-q", "-p", "no:cacheprovider", *modules()], plugins=[tally])
    seconds = time.perf_counter() - start
    table = totals(tally.outcomes)
    print(markdown(table))
    print(f"\nmodules: {' '.join(modules())}")
    print(f"{len(tally.outcomes)} items in {seconds:.0f} s, load average {os.getloadavg()}")
    if args.out:
        report: dict[str, Any] = {
            "totals": {d: dict(row) for d, row in table.items()},
            "outcomes": {
                n: {"outcome": o, "kind": kind(n)} for n, (o, _) in tally.outcomes.items()
            },
        }
        args.out.write_text(json.dumps(report, indent=1))
    return int(code) if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) else 0


if __name__ == "__main__":
    sys.exit(main())
