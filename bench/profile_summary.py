"""Summarise a py-spy raw profile: the share of samples per function, by itself and with what it calls.

Record one of our server processes under a benchmark's load, then summarise:

    .venv/bin/py-spy record -p PID -d 10 -r 250 --gil -f raw -o /tmp/profile.raw
    .venv/bin/python bench/profile_summary.py /tmp/profile.raw "what ran" > bench/results/profiles/NAME.md

`--gil` keeps only samples where the process holds the GIL, so the shares are
of CPU time, not of waiting.
"""

from __future__ import annotations

import sys
from collections import Counter


def summarise(path: str, title: str, most: int = 30) -> str:
    alone: Counter[str] = Counter()
    within: Counter[str] = Counter()
    total = 0
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip().rpartition(" ")
            n = int(count)
            total += n
            frames = stack.split(";")
            alone[frames[-1]] += n
            # A function counts once per sample however deep it recurses; frames are "name (file:line)".
            for name in {frame.rsplit(":", 1)[0] for frame in frames}:
                within[name] += n
    lines = [f"# Profile: {title}", "", f"{total} samples (py-spy, --gil).", "",
             "| % by itself | function (file:line) |", "| ---: | --- |"]
    lines += [f"| {n / total * 100:.1f} | `{name}` |" for name, n in alone.most_common(most)]
    lines += ["", "| % with callees | function (file) |", "| ---: | --- |"]
    lines += [f"| {n / total * 100:.1f} | `{name})` |" for name, n in within.most_common(most * 2)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(summarise(sys.argv[1], sys.argv[2]))
