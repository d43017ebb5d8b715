"""Apples: price 220 and its gradients. Same as `microgrid demo apple`."""

import sys

from microgrid.cli import main

if __name__ == "__main__":  # `microgrid demo apple`, with its options (-o FILE, --style)
    raise SystemExit(main(["demo", "apple", *sys.argv[1:]]))
