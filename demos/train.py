"""Train an MLP on two moons. Same as `microgrid demo train`."""

from microgrid.demos.train import main

if __name__ == "__main__":
    raise SystemExit(main())
