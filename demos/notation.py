"""Notation: da, dz, dW, db by name, from autograd. Same as `microgrid demo notation`."""

import sys

from microgrid.cli import main

if __name__ == "__main__":  # `microgrid demo notation`, with its options (-o FILE, --style)
    raise SystemExit(main(["demo", "notation", *sys.argv[1:]]))
