"""`python -m bench.profile_top FILE [--thread NAME] [--n 25]`: top frames of a py-spy raw profile.

py-spy's `--format raw` writes one collapsed stack per line, `frame;frame;... count`.
Prints, per function, the share of samples it is on the stack (inclusive) and at
the top (self), for one thread (matched by substring) or all.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--thread", default="")
    parser.add_argument("--n", type=int, default=25)
    args = parser.parse_args(argv)
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in args.file.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or args.thread not in stack.split(";", 1)[0]:
            continue
        count = int(count_text)
        frames = [
            f.split(" (")[0] + " " + f.rsplit("/", 1)[-1].split(":")[0]
            for f in stack.split(";")[1:]
        ]
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            own[frames[-1]] += count
    print(f"{total} samples")
    print("inclusive:")
    for frame, count in inclusive.most_common(args.n):
        print(f"  {count / total:6.1%}  {frame}")
    print("self:")
    for frame, count in own.most_common(args.n):
        print(f"  {count / total:6.1%}  {frame}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
