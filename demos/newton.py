"""Newton's method, f'' by backward(create_graph=True). Same as `microgrid demo newton`."""

import sys

from microgrid.cli import main

if __name__ == "__main__":  # `microgrid demo newton`, with its options (-o FILE, --style)
    raise SystemExit(main(["demo", "newton", *sys.argv[1:]]))
