"""Multi-layer perceptron: autograd beside the chain rule. Same as `microgrid demo mlp_backprop`."""

from microgrid.demos.mlp_backprop import main

if __name__ == "__main__":
    raise SystemExit(main())
