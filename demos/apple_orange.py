"""Apples and oranges: price 715 and its gradients. Same as `microgrid demo apple_orange`."""

import sys

from microgrid.cli import main

if __name__ == "__main__":  # `microgrid demo apple_orange`, with its options (-o FILE, --style)
    raise SystemExit(main(["demo", "apple_orange", *sys.argv[1:]]))
