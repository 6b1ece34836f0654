"""The emulator package's structure: no module imports another that
imports it back, directly or through others (function-level imports
included; imports only for type checking are not imports at run time).

Run:  python3 -m unittest emulator.tests.test_structure
"""

import ast
import os
import unittest

PKG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "faunaemu")


def module_name(path):
    rel = os.path.relpath(path, PKG)[:-3].replace(os.sep, ".")
    return rel[:-len(".__init__")] if rel.endswith(".__init__") else rel


def imports_of(path, name):
    """The package modules that module `name` (file `path`) imports."""
    tree = ast.parse(open(path).read())
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            skip.update(id(n) for n in ast.walk(node))
    package = name if os.path.basename(path) == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level == 0 or id(node) in skip:
            continue
        base = package.split(".") if package else []
        if node.level > 1:
            base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
        targets = [prefix] if node.module else [
            ".".join(base + [a.name]) for a in node.names]
        for t in targets:
            out.add(t.strip("."))
    return out


def graph():
    g = {}
    for root, _, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                p = os.path.join(root, f)
                g[module_name(p)] = p
    edges = {}
    for name, p in g.items():
        deps = set()
        for t in imports_of(p, name):
            while t and t not in g:     # "from .x import y": the module x
                t = t.rpartition(".")[0]
            if t and t != name:
                deps.add(t)
        edges[name] = deps
    return edges


def find_cycle(edges):
    state = {}
    stack = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in edges.get(n, ()):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                c = visit(m)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(edges):
        if n not in state:
            c = visit(n)
            if c:
                return c
    return None


class StructureTest(unittest.TestCase):
    def test_no_import_cycles(self):
        edges = graph()
        self.assertIn("evaluator", edges)
        self.assertIn("v4.query", edges)
        self.assertIsNone(find_cycle(edges))

    def test_the_checker_sees_cycles(self):
        self.assertEqual(find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}), ["a", "b", "c", "a"])
        self.assertIsNone(find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}))


if __name__ == "__main__":
    unittest.main()
