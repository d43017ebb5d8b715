"""tanh and its 1st to 4th derivatives by grad(). Same as `microgrid demo derivatives`."""

import sys

from microgrid.cli import main

if __name__ == "__main__":  # `microgrid demo derivatives`, with its options (-o FILE, --style)
    raise SystemExit(main(["demo", "derivatives", *sys.argv[1:]]))
