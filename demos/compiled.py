"""Apples and oranges, compiled, beside the book's code. Same as `microgrid demo compiled`."""

import sys

from microgrid.cli import main

if __name__ == "__main__":  # `microgrid demo compiled`, with its options (-o FILE, --style)
    raise SystemExit(main(["demo", "compiled", *sys.argv[1:]]))
