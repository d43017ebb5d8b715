"""Moving to PyTorch: the same network in both libraries. Same as `microgrid demo pytorch`."""

import sys

from microgrid.cli import main

if __name__ == "__main__":  # `microgrid demo pytorch`, with its options (-o FILE, --style)
    raise SystemExit(main(["demo", "pytorch", *sys.argv[1:]]))
