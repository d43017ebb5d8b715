"""tanh and its 1st to 4th derivatives by grad(). Same as `microgrid demo derivatives`."""

from microgrid.demos.derivatives import main

if __name__ == "__main__":
    raise SystemExit(main())
