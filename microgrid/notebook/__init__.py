"""The notebook: `interact`, a live widget in which sliders move a graph's inputs and the drawing
of every value and gradient follows (anywidget; ``pip install "microgrid[notebook]"``)."""

from microgrid.notebook.widget import interact

__all__ = ["interact"]
