"""The command line (`microgrid demo|draw|explain|quiz`, in `commands`) and the safe parser of
the expressions it draws (`expr`: a whitelist of the syntax, never `eval`). The top layer:
it may import everything below it, and nothing imports it.
"""

from microgrid.cli.commands import main

__all__ = ["main"]
