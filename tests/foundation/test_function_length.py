"""No function body in brainscore_speech/ longer than 80 lines (docstring excluded).

Long stage drivers are split into short named functions over containers; this
AST walk keeps them short.
"""

from __future__ import annotations

import ast
from pathlib import Path

import brainscore_speech

PKG = Path(brainscore_speech.__file__).parent
MAX_LINES = 80


def body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the function's end."""
    body = node.body
    first = body[0] if body else None
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        body = body[1:]
    if not body:
        return 0
    return node.end_lineno - body[0].lineno + 1


def long_functions(root: Path = PKG, limit: int = MAX_LINES) -> dict[str, int]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = body_lines(node)
                if n > limit:
                    out[f"{path.relative_to(root)}::{node.name}"] = n
    return out


def test_body_lines_excludes_the_docstring():
    src = 'def f():\n    """Doc.\n\n    more\n    """\n    a = 1\n    return a\n'
    node = ast.parse(src).body[0]
    assert body_lines(node) == 2


def test_the_walk_finds_a_long_function(tmp_path):
    (tmp_path / "m.py").write_text("def g():\n" + "    x = 1\n" * 81)
    assert long_functions(tmp_path) == {"m.py::g": 81}


def test_no_function_body_over_80_lines():
    assert long_functions() == {}
