"""A pure Dockerfile parser with the semantics of Docker's classic builder (moby/buildkit
``frontend/dockerfile/parser`` and ``shell/lex.go``).

    parse(text)            the file → ``Instruction``s (directives, continuations, flags, JSON forms)
    expand(word, env)      one word with ``$VAR``/``${VAR:-x}``… substituted and quotes removed
    split_words(args)      args → words on unquoted whitespace, quotes kept (expand each one later)
    key_values(cmd, args)  ENV/LABEL/ARG args → (key, raw value) pairs

Parsing validates what Docker validates at parse time (unknown instructions, missing arguments,
flag names, FROM's shape, the ENV/LABEL/ARG forms); everything that needs variable values is left
to the caller. Heredocs (``RUN <<EOF``) need BuildKit: they are refused with a message saying so.

    parse_trigger(text)    one ONBUILD trigger (``RUN make``) as an ``Instruction``
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from berth.errors import InvalidArgument

COMMANDS = frozenset(
    {
        "FROM", "RUN", "CMD", "ENTRYPOINT", "COPY", "ADD", "ENV", "ARG", "LABEL", "WORKDIR", "USER",
        "EXPOSE", "VOLUME", "STOPSIGNAL", "SHELL", "HEALTHCHECK", "ONBUILD", "MAINTAINER",
    }
)  # fmt: skip

# Only these take --flags; elsewhere a leading "--x" is an ordinary argument (``CMD --help``).
_FLAGS: dict[str, frozenset[str]] = {
    "FROM": frozenset({"platform"}),
    "COPY": frozenset({"from", "chown", "chmod", "link", "parents", "exclude"}),
    "ADD": frozenset({"chown", "chmod", "link", "checksum", "keep-git-dir", "exclude"}),
    "RUN": frozenset({"mount", "network", "security"}),
    "HEALTHCHECK": frozenset({"interval", "timeout", "start-period", "start-interval", "retries"}),
}
_BOOL_FLAGS = frozenset({"link", "parents", "keep-git-dir"})
# Docker allows these more than once; the values are joined with "\n" (none can contain one).
_REPEATABLE_FLAGS = frozenset({"mount", "exclude"})
_JSON_COMMANDS = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "VOLUME", "COPY", "ADD"})

_DIRECTIVE = re.compile(r"^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$")
_KNOWN_DIRECTIVES = frozenset({"escape", "syntax", "check"})
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")  # Docker's separator between an instruction and its args
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")
_NOT_STRINGS = "when using JSON array syntax, arrays must be comprised of strings only"
BUILDKIT_ONLY = (
    "Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"
)
# A heredoc word as BuildKit's parser sees one: ``<<EOF``, ``<<-EOF``, ``<<"EOF"``, ``2<<EOF``.
_HEREDOC = re.compile(r"""^[0-9]*<<-?(["']?)[^<"'\s]+\1$""")
_HEREDOC_COMMANDS = frozenset({"RUN", "COPY", "ADD"})


@dataclass(frozen=True)
class Instruction:
    """One instruction; ``args`` is unexpanded: the caller expands with its build args and ENV."""

    command: str
    args: str
    flags: dict[str, str]
    json: list[str] | None
    line: int
    original: str
    # The file's escape character (``# escape=``), for expand()/split_words()/key_values().
    escape: str = field(default="\\")


def parse(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile; ``InvalidArgument`` with Docker's message on any error."""
    lines = [line.removesuffix("\r") for line in text.removeprefix("\ufeff").split("\n")]
    escape = "\\"
    continuation = _continuation(escape)
    in_directives = True  # directives are only read until the first line that is not one
    seen: set[str] = set()
    instructions: list[Instruction] = []
    index = 0
    while index < len(lines):
        first = lines[index].lstrip()
        index += 1
        start = index
        if in_directives:
            directive = _DIRECTIVE.match(first)
            name = directive.group(1).lower() if directive else ""
            if directive and name in _KNOWN_DIRECTIVES:
                if name in seen:
                    raise _error(start, f"only one {name} parser directive can be used")
                seen.add(name)
                if name == "escape":
                    escape = _escape_token(directive.group(2), start)
                    continuation = _continuation(escape)
                continue
            in_directives = False  # an unknown directive is a plain comment, and ends them too
        if first.startswith("#"):
            continue
        line, more = _trim_continuation(first, continuation)
        while more and index < len(lines):
            raw = lines[index]
            index += 1
            # Comment and blank lines inside a continuation are dropped (Docker warns on blanks).
            if raw.lstrip().startswith("#") or not raw.strip():
                continue
            part, more = _trim_continuation(raw, continuation)
            line += part  # not left-stripped: "a \\\n b" joins as "a  b", as Docker does
        line = line.strip()
        if line:
            instructions.append(_instruction(line, start, escape))
    if not instructions:
        raise InvalidArgument("Dockerfile parse error: file with no instructions")
    for instruction in instructions:
        if instruction.command == "FROM":
            break
        if instruction.command != "ARG":  # only ARGs may come before the first FROM
            raise _error(instruction.line, "no build stage in current context")
    return instructions


def parse_trigger(text: str, *, escape: str = "\\") -> Instruction:
    """An ONBUILD trigger (``RUN make``, as the image's ``OnBuild`` list stores it) as one instruction."""
    return _instruction(text.strip(), 1, escape)


def expand(word: str, env: Mapping[str, str], *, escape: str = "\\") -> str:
    """``word`` as Docker's ProcessWord makes it: variables substituted, quotes and escapes removed.

    Single quotes are literal; double quotes still expand ``$``; the escape character makes the next
    character literal (inside double quotes only before ``"``, ``$`` and itself).
    """
    try:
        return _Lexer(word, env, escape).process(None)
    except _LexError as e:
        raise InvalidArgument(f"failed to process {_quote(word)}: {e}") from None


def split_words(args: str, *, escape: str = "\\") -> list[str]:
    """``args`` split on whitespace outside quotes; quotes and escapes are kept for ``expand``."""
    words: list[str] = []
    word: list[str] = []
    in_word = False  # a quoted empty string ('') is still a word
    quote = ""
    i = 0
    while i < len(args):
        ch = args[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'" and i + 1 < len(args):
                word.append(ch)  # an escape inside "…" keeps the next character (even ") in the quote
                i += 1
                ch = args[i]
            word.append(ch)
        elif ch.isspace():
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
        else:
            in_word = True
            if ch in "'\"":
                quote = ch
            elif ch == escape:
                if i + 1 == len(args):
                    break  # a trailing escape is dropped
                word.append(ch)
                i += 1
                ch = args[i]
            word.append(ch)
        i += 1
    if in_word:
        words.append("".join(word))
    return words


def key_values(command: str, args: str, *, escape: str = "\\") -> list[tuple[str, str | None]]:
    """The ``(key, value)`` pairs of ENV, LABEL or ARG, values still raw (quoted, unexpanded).

    ``K=V K2="two words"`` splits each word at its first ``=``; ENV/LABEL's legacy ``K value with
    spaces`` is one pair; an ARG without ``=`` has no default: its value is ``None``.
    """
    command = command.upper()
    if command not in ("ENV", "LABEL", "ARG"):
        raise ValueError(f"key_values: not ENV, LABEL or ARG: {command}")
    words = split_words(args, escape=escape)
    if not words:
        raise InvalidArgument(f"{command} requires at least one argument")
    if command != "ARG" and "=" not in words[0]:
        parts = _WHITESPACE.split(args.strip(), maxsplit=1)
        if len(parts) < 2:
            raise InvalidArgument(f"{command} must have two arguments")
        return [(parts[0], parts[1])]
    pairs: list[tuple[str, str | None]] = []
    for word in words:
        if "=" not in word:
            if command == "ARG":
                pairs.append((word, None))
                continue
            raise InvalidArgument(
                f"Syntax error - can't find = in {_quote(word)}. Must be of the form: name=value"
            )
        key, value = word.split("=", 1)
        if not key:
            raise InvalidArgument(f"{command} names can not be blank")
        pairs.append((key, value))
    return pairs


# -- parsing one instruction ----------------------------------------------------------------------


def _instruction(line: str, number: int, escape: str) -> Instruction:
    parts = _WHITESPACE.split(line, maxsplit=1)
    command = parts[0].upper()
    rest = parts[1] if len(parts) > 1 else ""
    if command not in COMMANDS:
        raise _error(number, f"unknown instruction: {command}")
    flags: dict[str, str] = {}
    if command in _FLAGS:
        rest, flags = _flags(command, rest, number)
    args = rest.strip()
    if not args:
        raise _error(number, f"{command} requires at least one argument")
    form = _json_array(args, number) if command in _JSON_COMMANDS else None
    words = split_words(args, escape=escape) if command in _HEREDOC_COMMANDS and form is None else []
    if any(_HEREDOC.match(word) for word in words):
        raise _error(number, f"the heredoc syntax (<<EOF) requires BuildKit. {BUILDKIT_ONLY}")
    if command == "HEALTHCHECK":
        form = _check_healthcheck(args, number)
    else:
        _check(command, args, form, number, escape)
    return Instruction(command, args, flags, form, number, line, escape)


def _check(command: str, args: str, form: list[str] | None, number: int, escape: str) -> None:
    """Docker's parse-time checks of each instruction's shape."""
    if command == "FROM":
        words = args.split()
        if not (len(words) == 1 or (len(words) == 3 and words[1].lower() == "as")):
            raise _error(number, "FROM requires either one or three arguments")
        if len(words) == 3 and not _STAGE_NAME.match(words[2].lower()):
            raise _error(
                number,
                f"invalid name for build stage: {_quote(words[2])}, "
                "name can't start with a number or contain symbols",
            )
    elif command in ("COPY", "ADD"):
        if len(form if form is not None else split_words(args, escape=escape)) < 2:
            raise _error(
                number,
                f"{command} requires at least two arguments, but only one was provided. "
                "Destination could not be determined.",
            )
    elif command == "SHELL":
        if form is None:
            raise _error(number, "SHELL requires the arguments to be in JSON form")
        if not form:
            raise _error(number, "SHELL requires at least one argument")
    elif command == "VOLUME" and form == []:
        raise _error(number, "VOLUME requires at least one argument")
    elif command in ("ENV", "LABEL", "ARG"):
        try:
            key_values(command, args, escape=escape)
        except InvalidArgument as e:
            raise _error(number, str(e)) from None
    elif command == "ONBUILD":
        trigger = _WHITESPACE.split(args, maxsplit=1)[0].upper()
        if trigger == "ONBUILD":
            raise _error(number, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger in ("FROM", "MAINTAINER"):
            raise _error(number, f"{trigger} isn't allowed as an ONBUILD trigger")
        _instruction(args, number, escape)  # the trigger must itself be a valid instruction


def _check_healthcheck(args: str, number: int) -> list[str] | None:
    """Validates ``NONE`` / ``CMD …``; the exec form of ``CMD [...]`` is returned as the JSON form."""
    parts = _WHITESPACE.split(args, maxsplit=1)
    kind = parts[0].upper()
    if kind == "NONE":
        if len(parts) > 1:
            raise _error(number, "HEALTHCHECK NONE takes no arguments")
        return None
    if kind != "CMD":
        raise _error(number, f"Unknown type {_quote(parts[0])} in HEALTHCHECK (try CMD)")
    if len(parts) < 2:
        raise _error(number, "Missing command after HEALTHCHECK CMD")
    return _json_array(parts[1].strip(), number)


def _json_array(args: str, number: int) -> list[str] | None:
    """The exec form: a JSON array of strings; other text (even bad JSON) is the shell form."""
    if not args.startswith("["):
        return None
    try:
        value = json.loads(args)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise _error(number, _NOT_STRINGS)  # valid JSON of the wrong shape is an error, not a shell form
    return value


def _flags(command: str, rest: str, number: int) -> tuple[str, dict[str, str]]:
    """Leading ``--name[=value]`` words, split off ``rest``; a bare ``--`` ends them."""
    flags: dict[str, str] = {}
    i = 0
    while True:
        while i < len(rest) and rest[i].isspace():
            i += 1
        if not rest.startswith("--", i):
            return rest[i:], flags
        word, i = _flag_word(rest, i + 2)
        if not word:
            return rest[i:], flags  # "--" alone
        name, has_value, value = word.partition("=")
        if name not in _FLAGS[command]:
            raise _error(number, f"Unknown flag: {name}")
        if not has_value:
            if name not in _BOOL_FLAGS:
                raise _error(number, f"Missing a value on flag: {name}")
            value = "true"
        if name in flags:
            if name not in _REPEATABLE_FLAGS:
                raise _error(number, f"Duplicate flag specified: {name}")
            value = f"{flags[name]}\n{value}"
        flags[name] = value


def _flag_word(text: str, i: int) -> tuple[str, int]:
    """One flag word from ``text[i:]`` up to unquoted whitespace: quotes removed, ``\\`` escapes."""
    word: list[str] = []
    quote = ""
    while i < len(text):
        ch = text[i]
        if not quote and ch.isspace():
            break
        i += 1
        if ch == quote:
            quote = ""
        elif not quote and ch in "'\"":
            quote = ch
        elif ch == "\\":
            if i < len(text):
                word.append(text[i])
                i += 1
        else:
            word.append(ch)
    return "".join(word), i


# -- directives and continuations -----------------------------------------------------------------


def _escape_token(value: str, number: int) -> str:
    if value not in ("`", "\\"):
        raise _error(number, f"invalid escape token '{value}' does not match ` or \\")
    return value


def _continuation(escape: str) -> re.Pattern[str]:
    return re.compile(re.escape(escape) + r"[ \t]*$")


def _trim_continuation(line: str, continuation: re.Pattern[str]) -> tuple[str, bool]:
    """``line`` without its trailing escape, and whether it continued on the next line."""
    trimmed = continuation.sub("", line, count=1)
    return trimmed, trimmed != line


def _error(line: int, message: str) -> InvalidArgument:
    return InvalidArgument(f"Dockerfile parse error line {line}: {message}")


def _quote(text: str) -> str:
    """Go's ``%q``, near enough for messages."""
    return json.dumps(text, ensure_ascii=False)


# -- word expansion (ProcessWord) -----------------------------------------------------------------


class _LexError(Exception):
    """An expansion error; ``expand`` wraps it with the word."""


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str) -> None:
        self.text = text
        self.env = env
        self.escape = escape
        self.pos = 0

    def peek(self) -> str:
        """The next character, or "" at the end."""
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        self.pos += len(ch)
        return ch

    def process(self, stop: str | None) -> str:
        """The text up to ``stop`` (consumed; ``None``: the end) with quotes, escapes and ``$`` done."""
        out: list[str] = []
        while (ch := self.peek()) != "":
            if ch == stop:
                self.next()
                return "".join(out)
            if ch == "'":
                out.append(self.single_quote())
            elif ch == '"':
                out.append(self.double_quote())
            elif ch == "$":
                out.append(self.dollar())
            else:
                self.next()
                if ch == self.escape:
                    ch = self.next()
                    if ch == "":
                        break  # a trailing escape is dropped
                out.append(ch)
        if stop is not None:
            raise _LexError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(out)

    def single_quote(self) -> str:
        self.next()
        end = self.text.find("'", self.pos)
        if end < 0:
            raise _LexError("unexpected end of statement while looking for matching single-quote")
        value = self.text[self.pos : end]
        self.pos = end + 1
        return value

    def double_quote(self) -> str:
        self.next()
        out: list[str] = []
        while True:
            ch = self.peek()
            if ch == "":
                raise _LexError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            self.next()
            # As in sh, the escape only escapes " $ and itself here; before anything else it stays.
            if ch == self.escape and self.peek() in ('"', "$", self.escape):
                ch = self.next()
            elif ch == self.escape and self.peek() == "":
                continue
            out.append(ch)

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            return self.env.get(name, "") if name else "$"
        self.next()
        if self.peek() == "":
            raise _LexError("missing '}'")
        if self.peek() in ("{", "}", ":"):
            raise _LexError("bad substitution")
        name = self.name()
        if not name:
            raise _LexError("bad substitution")
        ch = self.next()
        if ch == "}":
            return self.env.get(name, "")
        if ch == "":
            raise _LexError("missing '}'")
        colon = ch == ":"
        modifier = self.next() if colon else ch
        if modifier not in ("-", "+", "?"):
            if modifier == "":
                raise _LexError("missing '}'")
            raise _LexError(
                f"unsupported modifier ({modifier}) in substitution"
                if colon
                else "missing ':' in substitution"
            )
        try:
            word = self.process("}")
        except _LexError:
            if self.peek() == "":
                raise _LexError("missing '}'") from None
            raise
        is_set = name in self.env
        value = self.env.get(name, "")
        # With ":" an empty value counts as unset, as in sh.
        present = bool(value) if colon else is_set
        if modifier == "-":
            return value if present else word
        if modifier == "+":
            return word if present else ""
        if not present:
            reason = "is not allowed to be empty" if colon and is_set else "is not allowed to be unset"
            raise _LexError(f"{name}: {word or reason}")
        return value

    def name(self) -> str:
        """A variable name: letters, digits and ``_``; one starting with a digit is all digits."""
        start = self.pos
        if self.peek().isdigit():
            while self.peek().isdigit():
                self.next()
        else:
            while (ch := self.peek()) != "" and (ch.isalnum() or ch == "_"):
                self.next()
        return self.text[start : self.pos]
