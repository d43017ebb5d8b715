"""microgrid in the browser: `python -m microgrid.playground build site/` writes a static site in
which the package itself runs, in Pyodide, with Graphviz compiled to WebAssembly for the layout.

`build.py` makes the site on this machine (npm and pip fetch what it holds, once, into a cache);
`page.py` is the part that runs in the page: it calls the command line's own code, so the page
draws, explains and reports errors exactly as `microgrid draw`, `explain`, `quiz` and `demo` do;
`static/` holds the page and its scripts.
"""
