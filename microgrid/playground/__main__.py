"""python -m microgrid.playground build SITE: write the playground site to the folder SITE."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from microgrid.playground.build import BuildError, build, default_cache


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m microgrid.playground", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    site = commands.add_parser("build", help="write the static site (index.html and its files)")
    site.add_argument("folder", help="where to write it, e.g. site/ (made if missing)")
    site.add_argument("--cache", default=None, metavar="DIR",
                      help=f"where the npm and pip downloads are kept (default: {default_cache()}"
                           " or $MICROGRID_PLAYGROUND_CACHE)")
    args = parser.parse_args(argv)
    try:
        folder = build(Path(args.folder), None if args.cache is None else Path(args.cache))
    except (BuildError, OSError) as e:
        print(f"microgrid.playground build: {e}", file=sys.stderr)
        return 1
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    print(f"wrote the playground to {folder} ({size / 1e6:.1f} MB); serve it with "
          f"python -m http.server -d {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
