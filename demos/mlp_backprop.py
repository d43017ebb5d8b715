"""Multi-layer perceptron: autograd beside the chain rule. Same as `microgrid demo mlp_backprop`."""

import sys

from microgrid.cli import main

if __name__ == "__main__":  # `microgrid demo mlp_backprop`, with its options (-o FILE, --style)
    raise SystemExit(main(["demo", "mlp_backprop", *sys.argv[1:]]))
