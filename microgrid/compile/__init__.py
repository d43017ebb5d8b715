"""`compile(fn, *example_args)`: a traced graph turned into straight-line Python.

- `symbolic`: the operations' rules evaluated on symbols, which write code.
- `trace`: `fn` called once on leaves, its graph recorded, the arguments flattened.
- `generate`: the graph to source, the forward pass and then the backward pass.
- `step`: the `CompiledStep` that runs that source, and `compile` itself.

Imports the core only: every line of code comes from an operation's rule in
`microgrid.core.functions`.
"""

from microgrid.compile.step import CompiledStep, GuardError, compile  # noqa: A004

__all__ = ["CompiledStep", "GuardError", "compile"]
