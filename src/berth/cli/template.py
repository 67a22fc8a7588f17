"""A Go ``text/template`` subset, enough for Docker's ``--format`` strings. No dependencies.

Supported: text and ``{{ }}`` actions with ``{{-``/``-}}`` trimming and ``{{/* comments */}}``; field
chains on dot and variables (``.State.Pid``, ``$v.Name``, ``$``); string (``"…"``, raw), number, bool
and nil literals; pipelines (``.Name | upper``) and parenthesised sub-pipelines; variable declarations
(``$x := …``); ``if``/``else if``/``else``/``end``, ``range`` (with ``$i, $v :=`` and ``else``),
``with``; functions ``json index join split upper lower title len println print printf truncate pad
eq ne lt le gt ge and or not``. Values print as Go's fmt does (``map[a:1]``, ``[x y]``, ``<nil>``,
``<no value>`` for a missing map key).

    >>> render("{{.Name | upper}} {{json .Labels}}", {"Name": "web", "Labels": {"a": "b"}})
    'WEB {"a":"b"}'
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from berth.cli.format import go_quote
from berth.errors import InvalidArgument

# Not dataclasses, typing or json at import time: ``inspect -f`` pays for every module (~7 ms here).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class TemplateError(InvalidArgument):
    """The template is malformed or failed while executing (unknown function or field)."""


class _NoValue:
    """Go's invalid reflect.Value: what a missing map key evaluates to (prints ``<no value>``)."""

    def __repr__(self) -> str:
        return "<no value>"

    def __bool__(self) -> bool:
        return False


NO_VALUE = _NoValue()


_RecordBase = dict[str, "Any"]  # the string: typing is not imported at run time


class Record(_RecordBase):
    """A row object (ps, images, …): unlike a map, an unknown field is an error, as for a Go struct."""

    type_name = "formatter.Context"


# ---------------------------------------------------------------------------------------------- lexing
_ACTION_RE = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN_RE = re.compile(
    r"""\s*(?:
    (?P<str>"(?:[^"\\]|\\.)*")
    |(?P<raw>`[^`]*`)
    |(?P<char>'(?:[^'\\]|\\.)')
    |(?P<num>[-+]?(?:0x[0-9a-fA-F]+|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+))
    |(?P<field>(?:\$[A-Za-z0-9_]*)?(?:\.[A-Za-z0-9_]+)+|\.|\$[A-Za-z0-9_]*)
    |(?P<decl>:=|=)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<punct>[|(),])
    )""",
    re.X | re.S,
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"template: unexpected {text[pos:].strip()[:10]!r} in command")
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "field" and m.start(kind) == pos and tokens and tokens[-1] == ("punct", ")"):
            kind = "chain"  # ``(index .Networks "x").IPAddress``: fields of the parenthesised value
        tokens.append((kind, value))
        pos = m.end()
    return tokens


# ---------------------------------------------------------------------------------------------- nodes
class _Pipe:
    __slots__ = ("decl", "commands", "assign")

    def __init__(self, decl: list[str], commands: list[list[Any]], assign: bool = False) -> None:
        self.decl = decl
        self.commands = commands  # each: list of operands (tuples)
        self.assign = assign


class _Block:
    __slots__ = ("kind", "pipe", "body", "else_body", "in_else")

    def __init__(self, kind: str, pipe: _Pipe | None = None) -> None:
        self.kind = kind  # "root", "if", "range", "with"
        self.pipe = pipe
        self.body: list[Any] = []
        self.else_body: list[Any] = []
        self.in_else = False

    def target(self) -> list[Any]:
        return self.else_body if self.in_else else self.body


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def pipeline(self, stop: str | None = None) -> _Pipe:
        decl: list[str] = []
        assign = False
        # lookahead for "$a, $b :=" or "$a :="
        j = self.pos
        names: list[str] = []
        while j < len(self.tokens) and self.tokens[j][0] == "field" and self.tokens[j][1].startswith("$"):
            names.append(self.tokens[j][1])
            j += 1
            if j < len(self.tokens) and self.tokens[j] == ("punct", ","):
                j += 1
                continue
            break
        if names and j < len(self.tokens) and self.tokens[j][0] == "decl":
            decl = names
            assign = self.tokens[j][1] == "="
            self.pos = j + 1
        commands: list[list[Any]] = []
        current: list[Any] = []
        while True:
            tok = self.peek()
            if tok is None or (stop and tok == ("punct", stop)):
                break
            self.pos += 1
            kind, value = tok
            if tok == ("punct", "|"):
                if not current:
                    raise TemplateError("template: missing command before '|'")
                commands.append(current)
                current = []
            elif tok == ("punct", "("):
                sub = self.pipeline(stop=")")
                if self.peek() != ("punct", ")"):
                    raise TemplateError("template: unclosed left paren")
                self.pos += 1
                chain = self.peek()
                if chain is not None and chain[0] == "chain" and chain[1].startswith("."):
                    self.pos += 1
                    current.append(("chain", (sub, chain[1])))
                else:
                    current.append(("pipe", sub))
            elif kind == "punct":
                raise TemplateError(f"template: unexpected {value!r} in operand")
            else:
                current.append((kind, value))
        if current:
            commands.append(current)
        if not commands and not decl:
            raise TemplateError("template: missing value for command")
        return _Pipe(decl, commands, assign)


def parse(text: str) -> list[Any]:
    """Parse a template into nodes; TemplateError for unbalanced or malformed actions."""
    root = _Block("root")
    stack = [root]
    pos = 0
    pending_trim = False
    for m in _ACTION_RE.finditer(text):
        chunk = text[pos : m.start()]
        if pending_trim:
            chunk = chunk.lstrip()
        if m.group(1):
            chunk = chunk.rstrip()
        if chunk:
            stack[-1].target().append(("text", chunk))
        pending_trim = bool(m.group(3))
        pos = m.end()
        inner = m.group(2).strip()
        if inner.startswith("/*"):
            continue
        tokens = _tokenize(inner)
        if not tokens:
            raise TemplateError("template: missing value for command")
        head = tokens[0]
        if head[0] == "ident" and head[1] in ("if", "range", "with"):
            block = _Block(head[1], _Parser(tokens[1:]).pipeline())
            stack[-1].target().append(("block", block))
            stack.append(block)
        elif head == ("ident", "else"):
            block = stack[-1]
            if block.kind == "root" or block.in_else:
                raise TemplateError("template: unexpected {{else}}")
            block.in_else = True
            if len(tokens) > 1 and tokens[1] == ("ident", "if") and block.kind == "if":
                nested = _Block("if", _Parser(tokens[2:]).pipeline())
                nested.kind = "elseif"
                block.else_body.append(("block", nested))
                stack.append(nested)
        elif head == ("ident", "end"):
            while stack[-1].kind == "elseif":
                stack.pop()
            if len(stack) == 1:
                raise TemplateError("template: unexpected {{end}}")
            stack.pop()
        elif head[0] == "ident" and head[1] in ("define", "template", "block"):
            raise TemplateError(f"template: {{{{{head[1]}}}}} is not supported")
        else:
            stack[-1].target().append(("action", _Parser(tokens).pipeline()))
    tail = text[pos:]
    if "{{" in tail:
        raise TemplateError("template: unclosed action")
    if pending_trim:
        tail = tail.lstrip()
    if tail:
        stack[-1].target().append(("text", tail))
    if len(stack) != 1:
        raise TemplateError("template: unexpected EOF")
    return root.body


# ---------------------------------------------------------------------------------------------- printing
def _go_float(value: float) -> str:
    """Go's %v for a float64: shortest digits, exponent form when the exponent is < -4 or >= 21."""
    if value != value or value in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}[repr(value)]
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mant, exp = text.split("e")
        sign = "-" if exp.startswith("-") else "+"
        return f"{mant}e{sign}{exp.lstrip('+-').rjust(2, '0')}"
    return text


def go_sprint(value: Any) -> str:
    """Format ``value`` as Go's ``fmt.Sprint`` would for decoded JSON."""
    if value is NO_VALUE:
        return "<no value>"
    if value is None:
        return "<nil>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_sprint(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{go_sprint(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def go_json(value: Any) -> str:
    """Go ``json.Marshal``: compact, sorted map keys, ``<>&`` escaped."""
    if value is NO_VALUE:
        value = None
    import json

    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def truthy(value: Any) -> bool:
    """Go template truth: false, 0, nil, empty string/slice/map are false."""
    if value is NO_VALUE or value is None:
        return False
    if isinstance(value, bool | int | float | str | list | tuple | dict):
        return bool(value)
    return True


# ---------------------------------------------------------------------------------------------- functions
_PRINTF_RE = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+))?([a-zA-Z%])")


def _printf(fmt: str, *args: Any) -> str:
    items = list(args)

    def sub(m: re.Match[str]) -> str:
        flags, width, prec, verb = m.group(1), m.group(2) or "", m.group(3), m.group(4)
        if verb == "%":
            return "%"
        if not items:
            return f"%!{verb}(MISSING)"
        arg = items.pop(0)
        spec = flags + width + (f".{prec}" if prec is not None else "")
        if verb in "vs":
            return f"%{spec}s" % go_sprint(arg)
        if verb == "q":
            return f"%{spec}s" % go_quote(go_sprint(arg))
        if verb == "t":
            return f"%{spec}s" % go_sprint(bool(arg))
        if verb in "dxXobeEfFgG":
            try:
                num = int(arg) if verb in "dxXob" else float(arg)
            except (TypeError, ValueError):
                return f"%!{verb}({go_sprint(arg)})"
            return f"%{spec}{verb}" % num
        return f"%!{verb}({go_sprint(arg)})"

    return _PRINTF_RE.sub(sub, fmt)


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(value, Mapping):
            value = value.get(key, NO_VALUE) if key in value else NO_VALUE
        elif isinstance(value, list | tuple | str):
            try:
                value = value[int(key)]
            except (IndexError, ValueError) as exc:
                raise TemplateError(f"template: error calling index: index out of range: {key}") from exc
        elif value is None or value is NO_VALUE:
            return NO_VALUE
        else:
            raise TemplateError(
                f"template: error calling index: can't index item of type {type(value).__name__}"
            )
    return value


def _join(value: Any, sep: str) -> str:
    if isinstance(value, str):
        return value
    if value is None or value is NO_VALUE:
        return ""
    return sep.join(go_sprint(v) for v in value)


def _len(value: Any) -> int:
    try:
        return len(value)
    except TypeError as exc:
        raise TemplateError(f"template: error calling len: len of type {type(value).__name__}") from exc


def _cmp(op: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def compare(a: Any, *bs: Any) -> bool:
        a = None if a is NO_VALUE else a
        return all(op(a, None if b is NO_VALUE else b) for b in bs) if bs else False

    return compare


def _and(*args: Any) -> Any:
    for arg in args:
        if not truthy(arg):
            return arg
    return args[-1] if args else None


def _or(*args: Any) -> Any:
    for arg in args:
        if truthy(arg):
            return arg
    return args[-1] if args else None


def _truncate(value: Any, length: int) -> str:
    text = go_sprint(value)
    return text[: int(length)]


def _pad(value: Any, left: int, right: int) -> str:
    return " " * int(left) + go_sprint(value) + " " * int(right)


def _print(*args: Any) -> str:
    out = ""
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out += " "
        out += go_sprint(arg)
    return out


FUNCS: dict[str, Callable[..., Any]] = {
    "json": go_json,
    "index": _index,
    "join": _join,
    "split": lambda s, sep: go_sprint(s).split(sep),
    "upper": lambda s: go_sprint(s).upper(),
    "lower": lambda s: go_sprint(s).lower(),
    "title": lambda s: go_sprint(s).title(),
    "len": _len,
    "println": lambda *a: " ".join(go_sprint(x) for x in a) + "\n",
    "print": _print,
    "printf": _printf,
    "truncate": _truncate,
    "pad": _pad,
    "eq": _cmp(lambda a, b: a == b),
    "ne": _cmp(lambda a, b: a != b),
    "lt": _cmp(lambda a, b: a < b),
    "le": _cmp(lambda a, b: a <= b),
    "gt": _cmp(lambda a, b: a > b),
    "ge": _cmp(lambda a, b: a >= b),
    "and": _and,
    "or": _or,
    "not": lambda v: not truthy(v),
}


# ---------------------------------------------------------------------------------------------- execution
class _Exec:
    def __init__(self, root: Any) -> None:
        self.vars: list[dict[str, Any]] = [{"$": root}]

    def lookup_var(self, name: str) -> Any:
        for scope in reversed(self.vars):
            if name in scope:
                return scope[name]
        raise TemplateError(f"template: undefined variable {name!r}")

    def set_var(self, name: str, value: Any, assign: bool) -> None:
        if assign:
            for scope in reversed(self.vars):
                if name in scope:
                    scope[name] = value
                    return
            raise TemplateError(f"template: undefined variable {name!r}")
        self.vars[-1][name] = value

    def field(self, base: Any, chain: list[str], text: str) -> Any:
        value = base
        for name in chain:
            if isinstance(value, Record):
                if name not in value:
                    raise TemplateError(
                        f'template: executing "" at <{text}>: can\'t evaluate field {name} in type '
                        f"*{value.type_name}"
                    )
                value = value[name]
            elif isinstance(value, Mapping):
                value = value.get(name, NO_VALUE)
            elif value is None or value is NO_VALUE:
                if value is None:
                    raise TemplateError(f'template: executing "" at <{text}>: nil pointer evaluating {name}')
                return NO_VALUE
            else:
                raise TemplateError(
                    f'template: executing "" at <{text}>: can\'t evaluate field {name} in type '
                    f"{type(value).__name__}"
                )
        return value

    def operand(self, op: tuple[str, Any], dot: Any) -> Any:
        kind, value = op
        if kind == "field":
            if value == ".":
                return dot
            if value.startswith("$"):
                name, _, rest = value.partition(".")
                base = self.lookup_var(name)
                return self.field(base, rest.split(".") if rest else [], value)
            return self.field(dot, value[1:].split("."), value)
        if kind == "str":
            from berth.client.wirejson import loads

            try:
                return loads(value)
            except ValueError as exc:
                raise TemplateError(f"template: bad string {value}") from exc
        if kind == "raw":
            return value[1:-1]
        if kind == "char":
            from berth.client.wirejson import loads

            return ord(loads('"' + value[1:-1] + '"'))
        if kind == "num":
            if value.lower().startswith(("0x", "-0x", "+0x")):
                return int(value, 16)
            return float(value) if any(c in value for c in ".eE") else int(value)
        if kind == "pipe":
            return self.pipe(value, dot)
        if kind == "chain":
            sub, fields = value
            return self.field(self.pipe(sub, dot), fields[1:].split("."), fields)
        if kind == "ident":
            if value == "true":
                return True
            if value == "false":
                return False
            if value == "nil":
                return None
            if value in FUNCS:
                return FUNCS[value]()
            raise TemplateError(f'template: function "{value}" not defined')
        raise TemplateError(f"template: unexpected {value!r}")

    def command(self, cmd: list[Any], dot: Any, piped: tuple[Any] | tuple[()]) -> Any:
        head = cmd[0]
        if head[0] == "ident" and head[1] not in ("true", "false", "nil"):
            func = FUNCS.get(head[1])
            if func is None:
                raise TemplateError(f'template: function "{head[1]}" not defined')
            args = [self.operand(op, dot) for op in cmd[1:]] + list(piped)
            try:
                return func(*args)
            except TemplateError:
                raise
            except (TypeError, ValueError, KeyError) as exc:
                raise TemplateError(f"template: error calling {head[1]}: {exc}") from exc
        value = self.operand(head, dot)
        extra = [self.operand(op, dot) for op in cmd[1:]] + list(piped)
        if callable(value):
            return value(*extra)
        if extra:
            shown = "(…)" if head[0] in ("pipe", "chain") else head[1]
            raise TemplateError(f"template: can't give argument to non-function {shown}")
        return value

    def pipe(self, pipe: _Pipe, dot: Any) -> Any:
        value: Any = NO_VALUE
        piped: tuple[Any] | tuple[()] = ()
        for cmd in pipe.commands:
            value = self.command(cmd, dot, piped)
            piped = (value,)
        if pipe.decl:
            self.set_var(pipe.decl[-1], value, pipe.assign)
        return value

    def run(self, nodes: list[Any], dot: Any, out: list[str]) -> None:
        for kind, node in nodes:
            if kind == "text":
                out.append(node)
            elif kind == "action":
                value = self.pipe(node, dot)
                if not node.decl:
                    out.append(go_sprint(value))
            else:
                self.block(node, dot, out)

    def block(self, block: _Block, dot: Any, out: list[str]) -> None:
        self.vars.append({})
        try:
            if block.kind == "range":
                self.range(block, dot, out)
                return
            pipe = block.pipe
            if pipe is None:
                raise TemplateError("template: missing pipeline")
            decl, pipe.decl = pipe.decl, []
            value = self.pipe(pipe, dot)
            pipe.decl = decl
            for name in decl:
                self.set_var(name, value, False)
            if truthy(value):
                self.run(block.body, value if block.kind == "with" else dot, out)
            else:
                self.run(block.else_body, dot, out)
        finally:
            self.vars.pop()

    def range(self, block: _Block, dot: Any, out: list[str]) -> None:
        pipe = block.pipe
        if pipe is None:
            raise TemplateError("template: missing pipeline")
        decl, pipe.decl = pipe.decl, []
        value = self.pipe(pipe, dot)
        pipe.decl = decl
        if isinstance(value, Mapping):
            items: list[tuple[Any, Any]] = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, list | tuple):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [(i, i) for i in range(value)]
        elif value is None or value is NO_VALUE:
            items = []
        else:
            raise TemplateError(f"template: range can't iterate over {go_sprint(value)}")
        if not items:
            self.run(block.else_body, dot, out)
            return
        for key, item in items:
            if len(decl) == 1:
                self.set_var(decl[0], item, False)
            elif len(decl) == 2:
                self.set_var(decl[0], key, False)
                self.set_var(decl[1], item, False)
            self.run(block.body, item, out)


class Template:
    """A parsed template; ``execute(data)`` renders it (TemplateError on failure)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.nodes = parse(text)

    def execute(self, data: Any) -> str:
        out: list[str] = []
        _Exec(data).run(self.nodes, data, out)
        return "".join(out)


def render(text: str, data: Any) -> str:
    """Parse and execute in one go."""
    return Template(text).execute(data)
