"""Forward mode beside reverse mode: the same gradients. Same as `microgrid demo modes`."""

import sys

from microgrid.cli import main

if __name__ == "__main__":  # `microgrid demo modes`, with its options (-o FILE, --style)
    raise SystemExit(main(["demo", "modes", *sys.argv[1:]]))
