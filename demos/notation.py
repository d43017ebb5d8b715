"""Notation: da, dz, dW, db by name, from autograd. Same as `microgrid demo notation`."""

from microgrid.demos.notation import main

if __name__ == "__main__":
    raise SystemExit(main())
