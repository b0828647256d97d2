"""Issue 25: no module of pytest_lips/ names the LiPS chemistry in code — only docstrings, comments and the
shipped pack's data may. The check reads every module with the ast module: docstrings are dropped, comments
never reach the tree, and every other string constant (f-string parts included), identifier, attribute,
argument and import name is searched for the compounds and for a hard-coded "Li"."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import pytest_lips

PACKAGE = Path(pytest_lips.__file__).resolve().parent
#: The compounds of the LiPS pack (case-insensitive: ``^li2s`` in a regex counts too).
COMPOUNDS = re.compile(r"li2s|p2s5|li7p3s11", re.IGNORECASE)
#: The element as a word in a string ("Li MSD", "Li+") — not inside other words such as "LiPS-25" or "Lipschitz".
LI_IN_TEXT = re.compile(r"(?<![A-Za-z])Li(?![a-z])(?!PS)")
#: The element as a part of an identifier (``Li``, ``n_Li``, ``LiCount``), case-sensitive.
LI_IN_NAME = re.compile(r"(?:^|_)Li(?:$|_|[A-Z0-9])")


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    ids.add(id(body[0].value))
        # attribute docstrings (a bare string after an assignment, as Sphinx reads them)
        for field in ("body", "orelse", "finalbody"):
            stmts = getattr(node, field, None)
            if isinstance(stmts, list):
                for stmt in stmts:
                    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                        if isinstance(stmt.value.value, str):
                            ids.add(id(stmt.value))
    return ids


def chemistry_in_code(source: str, filename: str = "<string>") -> list[str]:
    """Every place in ``source``'s code (not docstrings or comments) that names the LiPS compounds or Li."""
    tree = ast.parse(source, filename)
    docstrings = _docstring_nodes(tree)
    found = []

    def hit(node: ast.AST, what: str, text: str) -> None:
        found.append(f"{filename}:{getattr(node, 'lineno', '?')}: {what} {text!r}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if COMPOUNDS.search(node.value) or LI_IN_TEXT.search(node.value):
                hit(node, "string", node.value)
        names: list[str] = []
        if isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, ast.arg):
            names = [node.arg]
        elif isinstance(node, ast.keyword) and node.arg:
            names = [node.arg]
        elif isinstance(node, ast.alias):
            names = [node.name, node.asname or ""]
        for name in names:
            if COMPOUNDS.search(name) or LI_IN_NAME.search(name):
                hit(node, "identifier", name)
    return found


def test_the_checker_finds_code_and_ignores_docstrings_and_comments():
    source = '''
"""Module about Li2S and Li7P3S11."""
# a comment on P2S5 and Li
X = 1
"""An attribute docstring: Li hops."""


def f(n_Li):
    """Li MSD of Li7P3S11."""
    y = "Li MSD"  # Li
    z = f"{n_Li} atoms of Li2S"
    return re.compile("^p2s5")


def g():
    return "LiPS-25 and mobile-ion MSD", Lipschitz
'''
    found = chemistry_in_code(source)
    assert len(found) == 5, found
    assert any("identifier 'n_Li'" in f for f in found)
    assert any("'Li MSD'" in f for f in found)
    assert any("atoms of Li2S" in f for f in found)
    assert any("'^p2s5'" in f for f in found)
    assert not any("Lipschitz" in f or "LiPS-25" in f for f in found)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_names_the_lips_chemistry_in_code(path: Path):
    assert chemistry_in_code(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE))) == []
