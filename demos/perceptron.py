"""Perceptrons: autograd beside the hand formula. Same as `microgrid demo perceptron`."""

import sys

from microgrid.cli import main

if __name__ == "__main__":  # `microgrid demo perceptron`, with its options (-o FILE, --style)
    raise SystemExit(main(["demo", "perceptron", *sys.argv[1:]]))
