"""Apples and oranges: price 715 and its gradients. Same as `microgrid demo apple_orange`."""

from microgrid.demos.apple_orange import main

if __name__ == "__main__":
    raise SystemExit(main())
