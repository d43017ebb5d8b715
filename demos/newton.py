"""Newton's method with the second derivative from grad(). Same as `microgrid demo newton`."""

from microgrid.demos.newton import main

if __name__ == "__main__":
    raise SystemExit(main())
