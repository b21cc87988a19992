"""Start-up time of the ``contrast`` command against ``python -c "import torch"``.

Both commands are run alternately in one process and time window (``--repeats`` pairs), each as a
fresh interpreter; the table gives the median wall-clock and CPU time (user + system of the child)
of each and their ratios, with the load average before and after.

    python benchmarks/bench_cli_start.py --repeats 7 --out benchmarks/results/cli_start.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

CONTRAST = shutil.which("contrast") or "contrast"
COMMANDS = {
    "contrast --help": [CONTRAST, "--help"],
    **{
        f"contrast {domain} --help": [CONTRAST, domain, "--help"]
        for domain in ("graph", "pointcloud", "recsys", "timeseries")
    },
    'python -c "import torch"': [sys.executable, "-c", "import torch"],
}


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall-clock and child CPU seconds of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, help="JSON output (default: print only)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    for argv in COMMANDS.values():  # warm the file cache once
        timed(argv)
    for _ in range(args.repeats):
        for name, argv in COMMANDS.items():
            samples[name].append(timed(argv))
    load_after = os.getloadavg()
    torch_wall = statistics.median(w for w, _ in samples['python -c "import torch"'])
    torch_cpu = statistics.median(c for _, c in samples['python -c "import torch"'])
    rows = []
    for name, runs in samples.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        rows.append(
            {
                "command": name,
                "wall_s": wall,
                "cpu_s": cpu,
                "wall_vs_import_torch": wall / torch_wall,
                "cpu_vs_import_torch": cpu / torch_cpu,
            }
        )
    print(f"load average before {load_before}, after {load_after}; {args.repeats} alternated runs")
    print("| command | wall s | CPU s | wall / `import torch` | CPU / `import torch` |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| `{r['command']}` | {r['wall_s']:.3f} | {r['cpu_s']:.3f} | "
            f"{r['wall_vs_import_torch']:.2f} | {r['cpu_vs_import_torch']:.2f} |"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        payload = {"load_before": load_before, "load_after": load_after, "rows": rows}
        args.out.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
