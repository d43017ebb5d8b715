"""The `microgrid` command line: `microgrid demo NAME`, `microgrid demo --list`."""

from __future__ import annotations

import argparse
import sys

from microgrid import demos


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="microgrid", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run a teaching demo")
    demo.add_argument("name", nargs="?", help="the demo to run (see --list)")
    demo.add_argument("--list", action="store_true", help="list the demos")
    demo.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the demo")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        if args.list or not args.name:
            for name in demos.DEMOS:
                print(f"{name:<16} {(demos.load(name).__doc__ or '').strip().splitlines()[0]}")
            return 0
        try:
            module = demos.load(args.name)
        except KeyError as e:
            print(f"microgrid demo: {e.args[0]}", file=sys.stderr)
            return 2
        return int(module.main(args.args))
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
