"""The run filter language, compiled to parameterized SQL.

    metrics.rmse < 0.7 and params.n_est = 100
    (stage = 'train' or stage = 'evaluate') and not status = 'failed'
    params.`model/kind` in ('rf', 'gbm') and tags.owner like 'ana%'
    start_time > '2026-11-01' and duration >= 2.5 and metrics.acc is not null

Fields are ``metrics.KEY``, ``params.KEY``, ``tags.KEY`` (quote odd keys with
backticks or double quotes) and the run attributes in ``ATTRIBUTES``
(optionally written ``attributes.NAME``). User text only ever becomes a bound
parameter: field names are looked up in fixed tables, never spliced into SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Union

from .errors import FilterError
from .models import STATUSES

# name -> (SQL expression over runs `r` joined with experiments `e`, kind)
ATTRIBUTES: dict[str, tuple[str, str]] = {
    "run_id": ("r.id", "text"),
    "status": ("r.status", "text"),
    "stage": ("r.stage", "text"),
    "experiment": ("e.name", "text"),
    "notebook": ("r.notebook", "text"),
    "cell_id": ("r.cell_id", "text"),
    "fingerprint": ("r.fingerprint", "text"),
    "start_time": ("r.start_time", "time"),
    "end_time": ("r.end_time", "time"),
    "duration": ("((r.end_time - r.start_time) / 1000.0)", "number"),
}
_ATTRIBUTE_ALIASES = {"id": "run_id", "experiment_name": "experiment"}
_PREFIXES = {
    "metrics": "metrics", "metric": "metrics",
    "params": "params", "param": "params",
    "tags": "tags", "tag": "tags",
    "attributes": "attributes", "attribute": "attributes", "attr": "attributes",
}
_COMPARISONS = {"=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<field>(?:[A-Za-z]+)\.(?:`(?:[^`]|``)+`|"(?:[^"]|"")+"|[\w.\-/:@]+))
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<op>==|!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_]\w*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int


@dataclass(frozen=True)
class Field:
    namespace: str  # metrics | params | tags | attributes
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace != "attributes" else self.name


@dataclass(frozen=True)
class Comparison:
    field: Field
    op: str  # =, !=, <, <=, >, >=, like, ilike, not like, not ilike, in, not in, is null, is not null
    value: Any = None  # a literal, or a tuple of them for in / not in


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or
    items: tuple


@dataclass(frozen=True)
class Not:
    item: Any


Node = Union[Comparison, BoolOp, Not]


def _tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise FilterError(f"unexpected {text[pos]!r} at position {pos + 1} in filter {text!r}")
        if match.lastgroup != "ws":
            tokens.append(Token(match.lastgroup, match.group(), pos))
        pos = match.end()
    return tokens


def _unquote(text: str) -> str:
    quote, body = text[0], text[1:-1]
    if quote == "'":
        body = body.replace("''", "'")
    elif quote == '"':
        body = body.replace('""', '"')
    else:
        return body.replace("``", "`")
    return re.sub(r"\\(.)", r"\1", body)


def _field(token: Token, source: str) -> Field:
    if token.kind == "word":
        name = _ATTRIBUTE_ALIASES.get(token.text.lower(), token.text.lower())
        if name not in ATTRIBUTES:
            raise FilterError(
                f"unknown field {token.text!r} in filter {source!r}; use metrics.KEY, params.KEY, "
                f"tags.KEY or one of: {', '.join(ATTRIBUTES)}"
            )
        return Field("attributes", name)
    prefix, _, key = token.text.partition(".")
    namespace = _PREFIXES.get(prefix.lower())
    if namespace is None:
        raise FilterError(
            f"unknown field prefix {prefix!r} in filter {source!r}; use metrics., params., tags. or attributes."
        )
    if key[0] in "`\"":
        key = _unquote(key)
    if namespace == "attributes":
        return _field(Token("word", key, token.pos), source)
    return Field(namespace, key)


class _Parser:
    def __init__(self, source: str):
        self.source = source
        self.tokens = _tokenize(source)
        self.i = 0

    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token and token.kind == "word" and token.text.lower() in words:
            self.i += 1
            return True
        return False

    def expect(self, what: str, ok: bool) -> Token:
        token = self.peek()
        if token is None or not ok:
            where = f"at position {token.pos + 1} ({token.text!r})" if token else "at the end"
            raise FilterError(f"expected {what} {where} in filter {self.source!r}")
        self.i += 1
        return token

    def parse(self) -> Node:
        if not self.tokens:
            raise FilterError("the filter is empty")
        node = self.or_expr()
        if self.peek() is not None:
            self.expect("'and', 'or' or the end", False)
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.keyword("or"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.keyword("and"):
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def not_expr(self) -> Node:
        if self.keyword("not"):
            return Not(self.not_expr())
        token = self.peek()
        if token and token.text == "(":
            self.i += 1
            node = self.or_expr()
            self.expect("')'", (self.peek() or token).text == ")")
            return node
        return self.comparison()

    def comparison(self) -> Comparison:
        token = self.peek()
        self.expect("a field such as metrics.rmse or params.n_est", token is not None and token.kind in ("field", "word"))
        field = _field(token, self.source)
        if self.keyword("is"):
            negated = self.keyword("not")
            if not self.keyword("null"):
                self.expect("'null' after 'is'", False)
            return Comparison(field, "is not null" if negated else "is null")
        negated = self.keyword("not")
        if self.keyword("in"):
            return Comparison(field, "not in" if negated else "in", self.literal_list())
        if self.keyword("like", "ilike"):
            op = self.tokens[self.i - 1].text.lower()
            value = self.literal()
            if not isinstance(value, str):
                raise FilterError(f"{op} needs a quoted pattern in filter {self.source!r}")
            return Comparison(field, f"not {op}" if negated else op, value)
        if negated:
            self.expect("'in', 'like' or 'ilike' after 'not'", False)
        op = self.expect("a comparison (=, !=, <, <=, >, >=, in, like, is null)", (self.peek() or token).kind == "op")
        return Comparison(field, _COMPARISONS[op.text], self.literal())

    def literal(self) -> Any:
        token = self.peek()
        self.expect("a number or a quoted string", token is not None and (
            token.kind in ("string", "number") or (token.kind == "word" and token.text.lower() in ("true", "false"))
        ))
        if token.kind == "string":
            return _unquote(token.text)
        if token.kind == "word":
            return token.text.lower() == "true"
        text = token.text
        return float(text) if any(c in text for c in ".eE") else int(text)

    def literal_list(self) -> tuple:
        self.expect("'(' after 'in'", (self.peek() or Token("", "", 0)).text == "(")
        values = [self.literal()]
        while (self.peek() or Token("", "", 0)).text == ",":
            self.i += 1
            values.append(self.literal())
        self.expect("')' to close the list", (self.peek() or Token("", "", 0)).text == ")")
        return tuple(values)


def parse(source: str) -> Node:
    """Parse a filter into a tree; raises ``FilterError`` with the position."""
    if not isinstance(source, str):
        raise FilterError(f"a filter must be a string, got {type(source).__name__}")
    return _Parser(source).parse()


# --- compilation -------------------------------------------------------------


def _like_to_glob(pattern: str) -> str:
    """SQLite's LIKE ignores ASCII case; GLOB does not. Same pattern, as GLOB."""
    out = []
    for ch in pattern:
        out.append({"%": "*", "_": "?", "*": "[*]", "?": "[?]", "[": "[[]"}.get(ch, ch))
    return "".join(out)


def _to_time(value: Any, field: Field, source: str) -> int:
    if isinstance(value, bool):
        raise FilterError(f"{field} is a time; compare it with a date like '2026-11-01' in {source!r}")
    if isinstance(value, (int, float)):
        return int(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise FilterError(f"{field}: {value!r} is not a date/time such as '2026-11-01 12:00' in {source!r}") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # the user's local time
    return int(moment.astimezone(timezone.utc).timestamp() * 1000)


class _Compiler:
    def __init__(self, source: str):
        self.source = source
        self.params: list[Any] = []

    def node(self, node: Node) -> str:
        if isinstance(node, BoolOp):
            return "(" + f" {node.op.upper()} ".join(self.node(item) for item in node.items) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.node(node.item)})"
        return self.comparison(node)

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def predicate(self, column: str, op: str, value: Any, kind: str) -> str:
        """``column op value`` for one literal; kind is number, text or param."""
        if op in ("like", "ilike", "not like", "not ilike"):
            negate = "NOT " if op.startswith("not") else ""
            text = column if kind != "param" else f"CAST({column} AS TEXT)"
            if op.endswith("ilike"):
                return f"{negate}({text} LIKE {self.bind(value)} ESCAPE '\\')"
            return f"{negate}({text} GLOB {self.bind(_like_to_glob(value))})"
        if kind == "param":
            if isinstance(value, bool):
                return f"(p.type = 'bool' AND {column} {op} {self.bind(int(value))})"
            if isinstance(value, str):
                return f"(CAST({column} AS TEXT) {op} {self.bind(value)})"
            return f"(typeof({column}) IN ('integer', 'real') AND {column} {op} {self.bind(value)})"
        return f"{column} {op} {self.bind(value)}"

    def values(self, node: Comparison) -> tuple:
        values = node.value if isinstance(node.value, tuple) else (node.value,)
        kind = node.field.namespace
        if kind == "metrics" and any(isinstance(v, (str, bool)) for v in values):
            raise FilterError(f"{node.field} is a metric: compare it with a number in filter {self.source!r}")
        if kind == "tags":
            values = tuple(v if isinstance(v, str) else str(v) for v in values)
        if kind == "attributes":
            column_kind = ATTRIBUTES[node.field.name][1]
            if column_kind == "time" and node.op not in ("like", "ilike", "not like", "not ilike"):
                values = tuple(_to_time(v, node.field, self.source) for v in values)
            elif column_kind == "text" and any(not isinstance(v, str) for v in values):
                raise FilterError(f"{node.field} is text: quote the value in filter {self.source!r}")
            elif column_kind == "number" and any(isinstance(v, (str, bool)) for v in values):
                raise FilterError(f"{node.field} is a number of seconds in filter {self.source!r}")
            if node.field.name == "status":
                for value in values:
                    if "like" not in node.op and value not in STATUSES:
                        raise FilterError(f"unknown status {value!r}; one of: {', '.join(STATUSES)}")
        return values

    def comparison(self, node: Comparison) -> str:
        field, op = node.field, node.op
        if field.namespace == "attributes":
            column, _ = ATTRIBUTES[field.name]
            kind = "plain"
        else:
            table, alias = {"metrics": ("latest_metrics", "m"), "params": ("params", "p"), "tags": ("tags", "t")}[field.namespace]
            column, kind = f"{alias}.value", "param" if field.namespace == "params" else "plain"
            # The runs having the key: an index range on (key, value), not a probe per run.
            having = f"SELECT {alias}.run FROM {table} {alias} WHERE {alias}.key = {self.bind(field.name)}"
        if op in ("is null", "is not null"):
            if field.namespace == "attributes":
                return f"({column} IS {'NOT ' if op == 'is not null' else ''}NULL)"
            return f"(r.num {'NOT ' if op == 'is null' else ''}IN ({having}))"
        values = self.values(node)
        if op in ("in", "not in"):
            test = "(" + " OR ".join(self.predicate(column, "=", v, kind) for v in values) + ")"
        elif op == "!=" and field.namespace == "attributes":
            test = f"({column} IS NOT {self.bind(values[0])})"  # a missing stage is != 'train'
        else:
            test = self.predicate(column, op, values[0], kind)
        if op == "not in":
            test = f"(NOT {test})" if field.namespace == "attributes" else test
        if field.namespace == "attributes":
            return test
        return f"(r.num {'NOT ' if op == 'not in' else ''}IN ({having} AND {test}))"


def compile_filter(source: str) -> tuple[str, list[Any]]:
    """SQL boolean expression over ``runs r JOIN experiments e`` and its parameters."""
    compiler = _Compiler(source)
    sql = compiler.node(parse(source))
    return sql, compiler.params


def parse_order_by(items) -> list[tuple[Field, bool]]:
    """``["metrics.rmse", "start_time DESC"]`` -> [(field, descending)]."""
    if isinstance(items, str):
        items = [items]
    result = []
    for item in items or ():
        tokens = _tokenize(item)
        descending = False
        if len(tokens) == 2 and tokens[1].kind == "word" and tokens[1].text.lower() in ("asc", "desc"):
            descending = tokens[1].text.lower() == "desc"
            tokens = tokens[:1]
        if len(tokens) != 1 or tokens[0].kind not in ("field", "word"):
            raise FilterError(f"cannot sort by {item!r}; write a field and an optional ASC or DESC, e.g. 'metrics.rmse DESC'")
        result.append((_field(tokens[0], item), descending))
    return result
