"""What microgrid teaches with: `explain` (every path of the chain rule) and `tree`, the
`quiz`, the book's layers on plain floats (`layers`), and the `demos`, one module each, that
reproduce the examples of the book and the posts microgrid is built from (docs/demos.md
names them) and check themselves.

A new demo is a module in ``demos/`` and its name in `demos.DEMOS`. Imports the core, `nn`,
`compile` and `drawing`.
"""

from microgrid.teaching.explain import Explanation, explain, tree

__all__ = ["Explanation", "explain", "tree"]
