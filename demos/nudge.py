"""Nudges: an input moved by h moves the output by about grad * h. `microgrid demo nudge`."""

import sys

from microgrid.cli import main

if __name__ == "__main__":  # `microgrid demo nudge`, with its options (-o FILE, --style)
    raise SystemExit(main(["demo", "nudge", *sys.argv[1:]]))
