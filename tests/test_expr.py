"""The expression parser of `microgrid draw`: where syntax errors are."""

from __future__ import annotations

import pytest

from microgrid.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse's own errors
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("expression, where", [
    ("a+", "at the end of the expression"),  # Python says column 0 for these
    ("a*", "at the end of the expression"),
    ("a.", "at the end of the expression"),
    ("  a +  ", "at the end of the expression"),
    ("tanh(a", "at column 5"),  # the '(' never closed
    ("a a", "at column 3"),
    ("a +* a", "at column 4"),
    ("a)", "at column 2"),
    ("a +\na", "at the end of line 1"),
    ("a\n* a", "at column 1 of line 2"),
])
def test_syntax_errors_say_where(capsys, tmp_path, expression, where):
    code, out, err = run(capsys, "draw", expression, "a=1", "-o", str(tmp_path / "g.svg"))
    assert code == 2 and out == ""
    assert err.startswith(f"microgrid draw: syntax error {where}: "), err
    assert "column 0" not in err and err.count("\n") == 1
