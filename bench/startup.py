"""Start-up time of `klear serve` with an existing embedded data folder.

The first start creates the embedded PostgreSQL cluster (not measured). Each
measured start is a new process on that folder: the clock starts when the
process is spawned and stops when /readyz answers 200 (database connected,
migrations checked, listening). Target: under 3 s.

    python bench/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from common import free_port, machine, start_klear, stop, wait_http, write


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    data_dir = tempfile.mkdtemp(prefix="klear-bench-startup-")
    env = {"KLEAR_DATA_DIR": data_dir}
    port = free_port()
    first = start_klear(port, env, cpu=None)
    first_s = wait_http(f"http://127.0.0.1:{port}/readyz", timeout=120)
    stop(first)
    times = []
    for _ in range(args.runs):
        port = free_port()
        spawned = time.monotonic()
        proc = start_klear(port, env, cpu=None)
        try:
            wait_http(f"http://127.0.0.1:{port}/readyz")
            times.append(time.monotonic() - spawned)
        finally:
            stop(proc)
    result = {"benchmark": "startup", "machine": machine(), "first_start_s": first_s, "runs_s": times,
              "median_s": statistics.median(times), "max_s": max(times), "target_s": 3.0, "met": max(times) < 3.0}
    md = f"""# Start-up with an existing embedded data folder ({machine()['when']})

From spawning `klear serve` to the first 200 from `/readyz`, {args.runs} runs (the embedded PostgreSQL
is started by each run; the folder was initialised by an unmeasured first start, which took {first_s:.2f} s).

| median | max | runs |
| --- | --- | --- |
| {statistics.median(times):.2f} s | {max(times):.2f} s | {', '.join(f'{t:.2f}' for t in times)} |

Target: under 3 s ({'met' if max(times) < 3.0 else 'missed'}).
"""
    write("startup", result, md)


if __name__ == "__main__":
    main()
