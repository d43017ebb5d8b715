"""Train an MLP on two moons. Same as `microgrid demo train`."""

import sys

from microgrid.cli import main

if __name__ == "__main__":  # `microgrid demo train`, with its options (-o FILE, --style)
    raise SystemExit(main(["demo", "train", *sys.argv[1:]]))
