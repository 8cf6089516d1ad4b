"""Which module-level names a cell reads and writes, by static analysis.

Python source only: callers turn IPython syntax into Python first
(``cellcode.to_python``). The answer is a safe over-approximation of
reads (a name loaded anywhere, inside functions too, before the cell binds
it) and the module-level bindings for writes; runtime checks refine both.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass


@dataclass(frozen=True)
class CellNames:
    reads: frozenset[str]
    writes: frozenset[str]
    star_import: bool = False
    global_names: frozenset[str] = frozenset()  # declared `global` inside a function
    loop_only: frozenset[str] = frozenset()  # bound only as `for` targets: a loop's leftovers


def _target_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


class _Scope(ast.NodeVisitor):
    """Visits one scope in source order, collecting loads of names not bound before."""

    def __init__(self, bound: set[str] | None = None):
        self.bound: set[str] = set(bound or ())
        self.reads: set[str] = set()
        self.writes: set[str] = set()
        self.star_import = False
        self.global_names: set[str] = set()

    def bind(self, names) -> None:
        for name in names:
            self.bound.add(name)
            self.writes.add(name)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            if node.id not in self.bound:
                self.reads.add(node.id)
        else:
            self.bind([node.id])

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)  # the right side is read before the targets are bound
        for target in node.targets:
            self.visit(target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        self.visit(node.target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        for name in _target_names(node.target):  # x += 1 reads x too
            if name not in self.bound:
                self.reads.add(name)
        self.visit(node.target)

    def visit_Import(self, node: ast.Import) -> None:
        self.bind(alias.asname or alias.name.split(".")[0] for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                self.star_import = True
            else:
                self.bind([alias.asname or alias.name])

    def _nested(self, node: ast.AST, params: set[str], body) -> None:
        inner = _Scope(params)
        for child in body:
            inner.visit(child)
        # Inside a function, names it binds itself are local; the rest are globals it reads.
        local = inner.bound - inner.global_names
        self.reads |= {n for n in inner.reads if n not in self.bound and n not in local}
        self.global_names |= inner.global_names
        self.bind(inner.global_names & inner.writes)

    @staticmethod
    def _params(args: ast.arguments) -> set[str]:
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
        return {a.arg for a in every if a is not None}

    def visit_FunctionDef(self, node) -> None:
        for expr in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
            if expr is not None:
                self.visit(expr)
        self.bind([node.name])
        self._nested(node, self._params(node.args) | {node.name}, node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        for expr in [*node.args.defaults, *node.args.kw_defaults]:
            if expr is not None:
                self.visit(expr)
        self._nested(node, self._params(node.args), [node.body])

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
            self.visit(expr)
        self.bind([node.name])
        self._nested(node, {node.name}, node.body)

    def _comprehension(self, node, elements) -> None:
        inner = _Scope(self.bound)
        for generator in node.generators:
            inner.visit(generator.iter)
            inner.bind(_target_names(generator.target))
            for condition in generator.ifs:
                inner.visit(condition)
        for element in elements:
            inner.visit(element)
        self.reads |= inner.reads
        # Walrus targets in a comprehension bind in the enclosing scope.
        self.bind(n.target.id for n in ast.walk(node) if isinstance(n, ast.NamedExpr))

    def visit_ListComp(self, node) -> None:
        self._comprehension(node, [node.elt])

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node) -> None:
        self._comprehension(node, [node.key, node.value])

    def visit_Global(self, node: ast.Global) -> None:
        self.global_names.update(node.names)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self.bind([node.name])
        for child in node.body:
            self.visit(child)


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
           ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _module_level(nodes):
    """Every node of the cell's own scope (not inside functions, classes or comprehensions)."""
    todo = list(nodes)
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, _SCOPES):
            todo.extend(ast.iter_child_nodes(node))


def _loop_only(body) -> frozenset[str]:
    """Names the cell binds only as the target of a ``for`` loop (``for i, row in ...``)."""
    targets, target_nodes = set(), set()
    for node in _module_level(body):
        if isinstance(node, (ast.For, ast.AsyncFor)):
            for name in ast.walk(node.target):
                if isinstance(name, ast.Name):
                    targets.add(name.id)
                    target_nodes.add(id(name))
    elsewhere = set()
    for node in _module_level(body):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load) and id(node) not in target_nodes:
            elsewhere.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            elsewhere.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            elsewhere.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(targets - elsewhere)


def statement_names(node: ast.AST) -> CellNames:
    """Reads and writes of one statement (a ``def`` reads the globals its body reads)."""
    scope = _Scope()
    scope.visit(node)
    return CellNames(reads=frozenset(scope.reads), writes=frozenset(scope.writes))


def analyze(code: str) -> CellNames:
    """Reads and writes of a cell of Python code (raises ``SyntaxError``)."""
    scope = _Scope()
    body = ast.parse(code).body
    for node in body:
        scope.visit(node)
    return CellNames(
        reads=frozenset(scope.reads),
        writes=frozenset(scope.writes),
        star_import=scope.star_import,
        global_names=frozenset(scope.global_names),
        loop_only=_loop_only(body),
    )
