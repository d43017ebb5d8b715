"""Perceptrons: autograd beside the hand formula. Same as `microgrid demo perceptron`."""

from microgrid.demos.perceptron import main

if __name__ == "__main__":
    raise SystemExit(main())
