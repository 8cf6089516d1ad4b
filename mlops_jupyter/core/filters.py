"""The run filter language, compiled to parameterized SQL.

    metrics.rmse < 0.7 and params.n_est = 100
    (stage = 'train' or stage = 'evaluate') and not status = 'failed'
    params.`model/kind` in ('rf', 'gbm') and tags.owner like 'ana%'
    start_time > '2026-11-01' and duration >= 2.5 and metrics.acc is not null

Fields are ``metrics.KEY``, ``params.KEY``, ``tags.KEY`` (quote odd keys with
backticks or double quotes) and the run attributes in ``ATTRIBUTES``
(optionally written ``attributes.NAME``). User text only ever becomes a bound
parameter: field names are looked up in fixed tables, never spliced into SQL.

Whatever the input, the result is SQL that SQLite accepts or a one-line
``FilterError`` that states the limit: ``in`` lists of any length are one bound
JSON array, long ``and``/``or`` chains are emitted as shallow trees, and nesting
is capped at ``MAX_NESTING`` (SQLite's parser takes little more).
"""

from __future__ import annotations

import json
import math
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
# namespace -> the table (or view) holding its (run, key, value) rows; ``core.experiments`` compiles
# the same language over its view of the runs' lineage.
RUN_TABLES = {"metrics": "latest_metrics", "params": "params", "tags": "tags"}
_ALIASES = {"metrics": "m", "params": "p", "tags": "t"}
_PREFIXES = {
    "metrics": "metrics", "metric": "metrics",
    "params": "params", "param": "params",
    "tags": "tags", "tag": "tags",
    "attributes": "attributes", "attribute": "attributes", "attr": "attributes",
}
_COMPARISONS = {"=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

MAX_NESTING = 20  # parentheses and `not`s around any point; SQLite 3.40 parser stack takes about twice that
MAX_COMPARISONS = 10_000  # after folding; SQLite's compile time grows with the square of the terms
MAX_SORT_FIELDS = 16  # each metric, param or tag sort field is one more table in SQLite's join (64 at most)
MAX_PATTERN = 50_000  # SQLite's SQLITE_MAX_LIKE_PATTERN_LENGTH
_FAN_OUT = 64  # terms joined flat in SQL; longer chains nest (SQLite's expression depth limit is 1000)
_INT64 = range(-(2**63), 2**63)

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<field>(?:[A-Za-z]+)\.(?:`(?:[^`]|``)+`|"(?:[^"]|"")+"|[\w.\-/:@]+))
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
  | (?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))  # one way to split: no backtracking blow-up
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


def _show(text: str) -> str:
    """The user's text, quoted, and shortened so that a message stays one readable line."""
    return repr(text) if len(text) <= 80 else repr(text[:70]) + "…"


def _check_text(text: Any, what: str) -> str:
    if not isinstance(text, str):
        raise FilterError(f"{what} must be a string, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise FilterError(f"{what} {_show(text)} is not valid text: it holds the lone surrogate {text[e.start]!r}") from None
    return text


def _tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise FilterError(f"unexpected {text[pos]!r} at position {pos + 1} in filter {_show(text)}")
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
                f"unknown field {_show(token.text)} in filter {_show(source)}; use metrics.KEY, params.KEY, "
                f"tags.KEY or one of: {', '.join(ATTRIBUTES)}"
            )
        return Field("attributes", name)
    prefix, _, key = token.text.partition(".")
    namespace = _PREFIXES.get(prefix.lower())
    if namespace is None:
        raise FilterError(
            f"unknown field prefix {_show(prefix)} in filter {_show(source)}; use metrics., params., tags. or attributes."
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
        self.depth = 0  # parentheses and `not`s open at this point

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
            where = f"at position {token.pos + 1} ({_show(token.text)})" if token else "at the end"
            raise FilterError(f"expected {what} {where} in filter {_show(self.source)}")
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
        token = self.peek()
        if not (token and (token.text == "(" or (token.kind == "word" and token.text.lower() == "not"))):
            return self.comparison()
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise FilterError(
                f"filter {_show(self.source)} nests parentheses and `not` more than {MAX_NESTING} levels deep "
                f"(at position {token.pos + 1}); flatten it, e.g. `a or b or c` instead of `a or (b or (c))`"
            )
        self.i += 1
        if token.text == "(":
            node = self.or_expr()
            self.expect("')'", (self.peek() or token).text == ")")
        else:
            node = Not(self.not_expr())
        self.depth -= 1
        return node

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
                raise FilterError(f"{op} needs a quoted pattern in filter {_show(self.source)}")
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
        if not any(c in text for c in ".eE") and len(text) <= 20 and int(text) in _INT64:
            return int(text)
        return float(text)  # past 64 bits a number compares as a float (as SQLite would)

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
    return _Parser(_check_text(source, "a filter")).parse()


# --- compilation -------------------------------------------------------------


def _like_to_glob(pattern: str) -> str:
    """SQLite's LIKE ignores ASCII case; GLOB does not. Same pattern, as GLOB."""
    out = []
    for ch in pattern:
        out.append({"%": "*", "_": "?", "*": "[*]", "?": "[?]", "[": "[[]"}.get(ch, ch))
    return "".join(out)


def _to_time(value: Any, field: Field, source: str) -> int:
    if isinstance(value, bool) or (isinstance(value, (int, float)) and not (
            math.isfinite(value) and int(value) in _INT64)):
        raise FilterError(f"{field}: {_show(str(value))} is not a time; give epoch milliseconds or a date "
                          f"like '2026-11-01' in filter {_show(source)}")
    if isinstance(value, (int, float)):
        return int(value)
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.astimezone()  # the user's local time
        return int(moment.astimezone(timezone.utc).timestamp() * 1000)
    except (ValueError, OverflowError, OSError):  # OverflowError: a date at the very edge of the calendar
        raise FilterError(f"{field}: {_show(value)} is not a date/time such as '2026-11-01 12:00' "
                          f"(years 1 to 9999, UTC offset within the calendar) in filter {_show(source)}") from None


def _join(op: str, parts: list[str]) -> str:
    """``(a OP b OP ...)`` as a tree at most ``_FAN_OUT`` wide: SQLite's expression depth is the
    length of a flat chain, its parser stack the depth of parentheses."""
    while len(parts) > _FAN_OUT:
        parts = ["(" + f" {op} ".join(parts[i : i + _FAN_OUT]) + ")" for i in range(0, len(parts), _FAN_OUT)]
    return "(" + f" {op} ".join(parts) + ")" if len(parts) > 1 else parts[0]


def _flatten(node: BoolOp) -> list[Node]:
    """The items of ``a and (b and c)`` are a, b and c."""
    items, pending = [], list(reversed(node.items))
    while pending:
        item = pending.pop()
        if isinstance(item, BoolOp) and item.op == node.op:
            pending.extend(reversed(item.items))
        else:
            items.append(item)
    return items


def _fold(items: list[Node]) -> list[Node]:
    """``x = a or x = b or x in (c)`` is ``x in (a, b, c)``: one list however long the chain."""
    lists: dict[Field, list] = {}
    folded: list[Any] = []
    for item in items:
        if isinstance(item, Comparison) and item.op in ("=", "in"):
            if item.field not in lists:
                lists[item.field] = []
                folded.append(item.field)
            lists[item.field].extend(item.value if item.op == "in" else (item.value,))
        else:
            folded.append(item)
    return [Comparison(item, "in", tuple(lists[item])) if isinstance(item, Field) else item for item in folded]


class _Compiler:
    def __init__(self, source: str, tables: dict[str, str]):
        self.source = source
        self.tables = tables
        self.params: list[Any] = []
        self.comparisons = 0

    def node(self, node: Node) -> str:
        if isinstance(node, BoolOp):
            items = _flatten(node)
            if node.op == "or":
                items = _fold(items)
            return _join(node.op.upper(), [self.node(item) for item in items])
        if isinstance(node, Not):
            if isinstance(node.item, Not):  # not not x is x, in SQL's three-valued logic too
                return self.node(node.item.item)
            return f"NOT {self.node(node.item)}"  # NOT binds looser than a comparison, tighter than AND
        return self.comparison(node)

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def array(self, values: list) -> str:
        """Any number of values as one bound JSON array: no SQL variable per value."""
        text = json.dumps(values, ensure_ascii=False)
        if not isinstance(values[0], str):
            text = text.replace("Infinity", "9e999")  # JSON has no infinities; SQLite reads 9e999 as one
        return f"(SELECT value FROM json_each({self.bind(text)}))"

    def predicate(self, column: str, op: str, value: Any, kind: str) -> str:
        """``column op value`` for one literal; kind is number, text or param."""
        if op in ("like", "ilike", "not like", "not ilike"):
            negate = "NOT " if op.startswith("not") else ""
            text = column if kind != "param" else f"CAST({column} AS TEXT)"
            pattern = value if op.endswith("ilike") else _like_to_glob(value)
            if len(pattern.encode("utf-8")) > MAX_PATTERN:
                raise FilterError(f"a like pattern holds at most {MAX_PATTERN:,} bytes (SQLite's limit), "
                                  f"not {len(pattern.encode('utf-8')):,}, in filter {_show(self.source)}")
            if op.endswith("ilike"):
                return f"{negate}({text} LIKE {self.bind(pattern)} ESCAPE '\\')"
            return f"{negate}({text} GLOB {self.bind(pattern)})"
        if kind == "param":
            if isinstance(value, bool):
                return f"(p.type = 'bool' AND {column} {op} {self.bind(int(value))})"
            if isinstance(value, str):
                return f"(CAST({column} AS TEXT) {op} {self.bind(value)})"
            return f"(typeof({column}) IN ('integer', 'real') AND {column} {op} {self.bind(value)})"
        return f"{column} {op} {self.bind(value)}"

    def member(self, column: str, values: tuple, kind: str) -> str:
        """``column`` equals one of ``values``, with the semantics of ``=`` for each kind of literal."""
        if kind != "param":
            return f"{column} IN {self.array(list(values))}"
        texts = [v for v in values if isinstance(v, str)]
        numbers = [v for v in values if not isinstance(v, (str, bool))]
        bools = [int(v) for v in values if isinstance(v, bool)]
        tests = []
        if texts:
            tests.append(f"CAST({column} AS TEXT) IN {self.array(texts)}")
        if numbers:
            tests.append(f"(typeof({column}) IN ('integer', 'real') AND {column} IN {self.array(numbers)})")
        if bools:
            tests.append(f"(p.type = 'bool' AND {column} IN {self.array(bools)})")
        return _join("OR", tests)

    def values(self, node: Comparison) -> tuple:
        values = node.value if isinstance(node.value, tuple) else (node.value,)
        kind, where = node.field.namespace, f"in filter {_show(self.source)}"
        if kind == "metrics" and any(isinstance(v, (str, bool)) for v in values):
            raise FilterError(f"{node.field} is a metric: compare it with a number {where}")
        if kind == "tags":
            values = tuple(v if isinstance(v, str) else str(v) for v in values)
        if kind == "attributes":
            column_kind = ATTRIBUTES[node.field.name][1]
            if column_kind == "time" and node.op not in ("like", "ilike", "not like", "not ilike"):
                values = tuple(_to_time(v, node.field, self.source) for v in values)
            elif column_kind == "text" and any(not isinstance(v, str) for v in values):
                raise FilterError(f"{node.field} is text: quote the value {where}")
            elif column_kind == "number" and any(isinstance(v, (str, bool)) for v in values):
                raise FilterError(f"{node.field} is a number of seconds {where}")
            if node.field.name == "status":
                for value in values:
                    if "like" not in node.op and value not in STATUSES:
                        raise FilterError(f"unknown status {_show(value)}; one of: {', '.join(STATUSES)}")
        return values

    def comparison(self, node: Comparison) -> str:
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise FilterError(
                f"filter {_show(self.source)} makes more than {MAX_COMPARISONS:,} comparisons; "
                "list values with `in (...)` (any length) instead of chaining them"
            )
        field, op = node.field, node.op
        if field.namespace == "attributes":
            column, _ = ATTRIBUTES[field.name]
            kind = "plain"
        else:
            table, alias = self.tables[field.namespace], _ALIASES[field.namespace]
            column, kind = f"{alias}.value", "param" if field.namespace == "params" else "plain"
            # The runs having the key: an index range on (key, value), not a probe per run.
            having = f"SELECT {alias}.run FROM {table} {alias} WHERE {alias}.key = {self.bind(field.name)}"
        if op in ("is null", "is not null"):
            if field.namespace == "attributes":
                return f"({column} IS {'NOT ' if op == 'is not null' else ''}NULL)"
            return f"(r.num {'NOT ' if op == 'is null' else ''}IN ({having}))"
        values = self.values(node)
        if op in ("in", "not in"):
            test = self.member(column, values, kind)
        elif op == "!=" and field.namespace == "attributes":
            test = f"({column} IS NOT {self.bind(values[0])})"  # a missing stage is != 'train'
        else:
            test = self.predicate(column, op, values[0], kind)
        if op == "not in":
            test = f"(NOT {test})" if field.namespace == "attributes" else test
        if field.namespace == "attributes":
            return test
        return f"(r.num {'NOT ' if op == 'not in' else ''}IN ({having} AND {test}))"


def compile_filter(source: str, tables: dict[str, str] = RUN_TABLES) -> tuple[str, list[Any]]:
    """SQL boolean expression over ``runs r JOIN experiments e`` and its parameters; metrics, params
    and tags are read from ``tables`` (namespace -> a table or view of ``run, key, value`` rows)."""
    compiler = _Compiler(source, tables)
    sql = compiler.node(parse(source))
    return sql, compiler.params


def parse_order_by(items) -> list[tuple[Field, bool]]:
    """``["metrics.rmse", "start_time DESC"]`` -> [(field, descending)]."""
    if isinstance(items, str):
        items = [items]
    try:
        items = list(items or ())
    except TypeError:
        raise FilterError(f"sort by a field name or a list of them, not a {type(items).__name__}") from None
    if len(items) > MAX_SORT_FIELDS:
        raise FilterError(f"sort by at most {MAX_SORT_FIELDS} fields, not {len(items)}")
    result = []
    for item in items:
        if not isinstance(item, str):
            raise FilterError(f"sort by a field name such as 'metrics.rmse DESC', not {type(item).__name__} {item!r:.40}")
        tokens = _tokenize(_check_text(item, "the sort field"))
        descending = False
        if len(tokens) == 2 and tokens[1].kind == "word" and tokens[1].text.lower() in ("asc", "desc"):
            descending = tokens[1].text.lower() == "desc"
            tokens = tokens[:1]
        if len(tokens) != 1 or tokens[0].kind not in ("field", "word"):
            raise FilterError(f"cannot sort by {_show(item)}; write a field and an optional ASC or DESC, e.g. 'metrics.rmse DESC'")
        result.append((_field(tokens[0], item), descending))
    return result
