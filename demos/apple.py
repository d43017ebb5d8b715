"""Apples: price 220 and its gradients. Same as `microgrid demo apple`."""

from microgrid.demos.apple import main

if __name__ == "__main__":
    raise SystemExit(main())
