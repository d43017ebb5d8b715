"""backward()'s cost in CPU instructions, this tree against a git revision: a count that a
busy machine does not blur (wall-clock medians swing by 2x under load; instruction counts
repeat to the instruction).

    python -m benchmarks.instructions                 # against HEAD
    python -m benchmarks.instructions --base 33ede74 --steps 10

Each side runs the same script twice under valgrind's callgrind (``apt-get install
valgrind``), once with backward() and once without; the difference is backward()'s count.
The script: `--steps` training steps of nn.MLP(2, [16, 16, 1]) on 10 points, then `--steps`
chains of 40,000 nodes (`y = y * 1.0001 + 0.001`). PYTHONHASHSEED is fixed, so the counts
repeat. The base revision is checked out into a temporary git worktree.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = """
import random, sys
from microgrid import Value, nn
steps, with_backward = int(sys.argv[1]), sys.argv[2] == "backward"
random.seed(0)
model = nn.MLP(2, [16, 16, 1])
xs = [[random.uniform(-1, 1), random.uniform(-1, 1)] for _ in range(10)]
for _ in range(steps):
    loss = sum(((model(x) - 1.0) ** 2 for x in xs), Value(0.0))
    model.zero_grad()
    if with_backward:
        loss.backward()
for _ in range(steps):
    y = Value(0.5)
    for _ in range(20000):
        y = y * 1.0001 + 0.001
    if with_backward:
        y.backward()
"""


def instructions(tree: Path, steps: int, mode: str, script: Path) -> int:
    """The instructions callgrind counts for `script` run on `tree`'s microgrid."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"}
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                           sys.executable, str(script), str(steps), mode],
                          env=env, capture_output=True, text=True, check=True)
    return int(re.search(r"refs:\s+([\d,]+)", done.stderr)[1].replace(",", ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="HEAD", help="the git revision to compare with")
    parser.add_argument("--steps", type=int, default=5, help="MLP steps and chains (default 5)")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        parser.error("needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        base, script = Path(tmp) / "base", Path(tmp) / "steps.py"
        script.write_text(SCRIPT)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base),
                        args.base], check=True, capture_output=True)
        try:
            counts = {name: {mode: instructions(tree, args.steps, mode, script)
                             for mode in ("backward", "forward")}
                      for name, tree in ((args.base, base), ("this tree", ROOT))}
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)],
                           check=True)
    print(f"{'':<12}{'forward':>16}{'backward()':>16}")
    for name, c in counts.items():
        print(f"{name:<12}{c['forward']:>16,}{c['backward'] - c['forward']:>16,}")
    old, new = (c["backward"] - c["forward"] for c in counts.values())
    print(f"backward(): {100 * (new - old) / old:+.1f}% instructions against {args.base}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
