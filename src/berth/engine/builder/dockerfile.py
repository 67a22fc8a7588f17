"""A pure Dockerfile parser with the semantics of Docker's classic builder (moby/buildkit
``frontend/dockerfile/parser`` and ``shell/lex.go``).

    parse(text)            the file → ``Instruction``s (directives, continuations, flags, JSON forms)
    expand(word, env)      one word with ``$VAR``/``${VAR:-x}``… substituted and quotes removed
    split_words(args)      args → words on unquoted whitespace, quotes kept (expand each one later)
    key_values(cmd, args)  ENV/LABEL/ARG args → (key, raw value) pairs

Parsing validates what Docker validates at parse time (unknown instructions, missing arguments,
flag names, FROM's shape, the ENV/LABEL/ARG forms); everything that needs variable values is left
to the caller.

    parse_trigger(text)    one ONBUILD trigger (``RUN make``) as an ``Instruction``

Heredocs (BuildKit's ``docker/dockerfile:1`` syntax, ``frontend/dockerfile/parser``): in the shell
form of RUN, COPY and ADD (and of an ONBUILD of one of them), each ``<<EOF`` word (``<<-EOF``,
``<<'EOF'``, ``3<<EOF``…) takes the lines after the instruction, verbatim, up to its terminator
line; several are read in order. They are ``Instruction.heredocs``; ``args`` and ``original`` keep
the instruction line alone. What the builder does with them, BuildKit's way:

    run_script(step)           what the shell runs for a RUN with heredocs
    copy_sources(step)         COPY/ADD sources: paths, or heredocs to write as files
    expand_heredoc(text, env)  the variables of an unquoted COPY/ADD heredoc substituted
    with_heredocs(step)        args followed by the bodies (RUN's shell text, the OnBuild entry)
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

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
# A heredoc word as BuildKit's reHeredoc sees one: fd, "-" (chomp), then the delimiter, which its
# lexer must read as one word (``<<EOF``, ``<<-EOF``, ``<< "EOF"``, ``3<<EOF``; not ``<<EOF<<X``).
_HEREDOC = re.compile(r"([0-9]*)<<(-?)[ \t\n\f\r]*([^<]*)")
_HEREDOC_COMMANDS = frozenset({"RUN", "COPY", "ADD"})
_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)  # what ``<<-`` strips from every body line
# BuildKit's lexer keeps these after an unquoted "<<" in the same word: ``<< EOF`` is one word.
_AFTER_HEREDOC_OPERATOR = " \t\r"
# Where BuildKit mounts the script of ``RUN <<EOF`` whose body starts with "#!".
SCRIPT_DIR = "/dev/pipes"


@dataclass(frozen=True)
class Heredoc:
    """One here-document: the body lines after the instruction, up to the terminator line ``name``.

    ``content`` is what the heredoc holds: the body lines (each ending "\\n"; a CRLF file's keep
    their "\\r"), leading tabs removed for ``<<-`` (``chomp``). ``expand`` is False when any part of
    the delimiter word was quoted (``<<'EOF'``, ``<<E"O"F``): a COPY heredoc is then written as is.
    ``file_descriptor`` is the ``3`` of ``3<<EOF``. ``raw`` is the body as written (before
    ``<<-``): BuildKit uses it to give the body back to the shell; it defaults to ``content``.
    """

    name: str
    content: str
    expand: bool
    chomp: bool
    file_descriptor: int | None
    raw: str = ""

    def __post_init__(self) -> None:
        if not self.raw:
            object.__setattr__(self, "raw", self.content)  # nothing was stripped


@dataclass(frozen=True)
class RunScript:
    """What the shell runs for a RUN with heredocs: ``[*SHELL, command]``.

    With ``script`` set (``RUN <<EOF`` whose body starts with "#!"), ``command`` is a path under
    ``SCRIPT_DIR``: the builder puts ``script`` there first, as an executable file (0755, BuildKit
    mounts it read-only), so that the kernel runs it with its ``#!`` interpreter.
    """

    command: str
    script: str | None = None


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
    # RUN/COPY/ADD (or ONBUILD of one): the heredocs of the line, in order, bodies read after it.
    heredocs: tuple[Heredoc, ...] = ()


def parse(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile; ``InvalidArgument`` with Docker's message on any error."""
    written = text.removeprefix("\ufeff").split("\n")  # heredoc bodies are kept as written
    lines = [line.removesuffix("\r") for line in written]
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
            instruction, index = _with_heredocs(_instruction(line, start, escape), written, index)
            instructions.append(instruction)
    if not instructions:
        raise InvalidArgument("Dockerfile parse error: file with no instructions")
    for instruction in instructions:
        if instruction.command == "FROM":
            break
        if instruction.command != "ARG":  # only ARGs may come before the first FROM
            raise _error(instruction.line, "no build stage in current context")
    return instructions


def directives(text: str) -> dict[str, str]:
    """The parser directives at the top of a Dockerfile (``syntax``, ``escape``, ``check``) by name."""
    found: dict[str, str] = {}
    for line in text.removeprefix("\ufeff").split("\n"):
        directive = _DIRECTIVE.match(line.removesuffix("\r").lstrip())
        name = directive.group(1).lower() if directive else ""
        if directive is None or name not in _KNOWN_DIRECTIVES:
            break
        found.setdefault(name, directive.group(2))
    return found


def parse_trigger(text: str, *, escape: str = "\\") -> Instruction:
    """An ONBUILD trigger (``RUN make``, as the image's ``OnBuild`` list stores it) as one instruction.

    A trigger with heredocs holds their bodies on the lines after its own (see ``with_heredocs``).
    """
    first, _, bodies = text.strip().partition("\n")
    instruction = _instruction(first.strip(), 1, escape)
    return _with_heredocs(instruction, bodies.split("\n") if bodies else [], 0)[0]


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


# -- heredocs: what the builder makes of them ----------------------------------------------------


def run_script(step: Instruction) -> RunScript | None:
    """What the shell runs for a RUN with heredocs (BuildKit's dispatchRun); None for other steps.

    When the whole command is one heredoc word (``RUN <<EOF``), its body is the script (``expand``
    is ignored: the shell expands as it runs it), or, if the body starts with "#!", a file to
    execute. Otherwise (``RUN python3 <<EOF``, ``RUN <<A <<B``) the shell gets the line followed by
    the bodies and terminators (``with_heredocs``) and reads the heredocs itself.
    """
    if step.command != "RUN" or not step.heredocs:
        return None
    if _heredoc_word(step.args) is None:
        return RunScript(with_heredocs(step))
    doc = step.heredocs[0]
    if doc.raw.startswith("#!"):  # BuildKit looks at the body as written, before <<- stripping
        return RunScript(posixpath.normpath(posixpath.join(SCRIPT_DIR, doc.name)), doc.content)
    return RunScript(doc.content)


def copy_sources(step: Instruction) -> list[str | Heredoc]:
    """The sources of a COPY/ADD in order (its last word is the destination): unexpanded path
    words, and ``Heredoc``s to write as files named ``name`` holding ``content`` (passed through
    ``expand_heredoc`` when ``expand``), as BuildKit's parseSourcesAndDest splits them.
    """
    words = step.json if step.json is not None else split_words(step.args, escape=step.escape)
    bodies = {doc.name: doc for doc in step.heredocs}  # BuildKit looks each body up by its name
    sources: list[str | Heredoc] = []
    for word in words[:-1]:
        marker = _heredoc_word(word)
        # A heredoc word with no body (only in the JSON form) is an empty file in BuildKit.
        sources.append(word if marker is None else bodies.get(marker.name, marker))
    return sources


def expand_heredoc(text: str, env: Mapping[str, str]) -> str:
    """A COPY/ADD heredoc body with ``$VAR``/``${VAR:-x}``… substituted, as BuildKit's ExpandRaw.

    Quotes are plain text there; ``\\`` (whatever ``# escape=``) still escapes the next character
    and is removed, so ``\\$HOME`` gives ``$HOME`` and a ``\\`` before a newline disappears.
    """
    try:
        return _Lexer(text, env, "\\", quotes=False).process(None)
    except _LexError as e:
        raise InvalidArgument(f"failed to process {_quote(text)}: {e}") from None


def with_heredocs(step: Instruction) -> str:
    """``step.args`` followed, for each heredoc, by "\\n", its body as written and its terminator.

    BuildKit's text for the shell of a RUN that reads its heredocs itself, and the ``OnBuild``
    entry of an ONBUILD with heredocs (``parse_trigger`` reads it back); else just ``step.args``.
    """
    return step.args + "".join(f"\n{doc.raw}{doc.name}" for doc in step.heredocs)


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
        words = form if form is not None else split_words(args, escape=escape)
        if len(words) < 2:
            raise _error(
                number,
                f"{command} requires at least two arguments, but only one was provided. "
                "Destination could not be determined.",
            )
        if _heredoc_word(words[-1]) is not None:  # BuildKit checks this in the JSON form too
            raise _error(number, f"{command} cannot accept a heredoc as a destination")
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


# -- heredocs: reading them ------------------------------------------------------------------------


def _with_heredocs(instruction: Instruction, raw: list[str], index: int) -> tuple[Instruction, int]:
    """``instruction`` with its heredocs, their bodies read from ``raw[index:]``; the index after."""
    heredocs: list[Heredoc] = []
    for marker in _heredoc_markers(instruction):
        body, index = _heredoc_body(marker, raw, index, instruction.line)
        content = _LEADING_TABS.sub("", body) if marker.chomp else body
        heredocs.append(replace(marker, content=content, raw=body))
    return (replace(instruction, heredocs=tuple(heredocs)) if heredocs else instruction), index


def _heredoc_markers(step: Instruction) -> list[Heredoc]:
    """The heredocs the instruction line opens, bodies still empty (BuildKit's heredocsFromLine)."""
    if "<<" not in step.original or not _takes_heredocs(step):
        return []
    markers = (_heredoc_word(word) for word in _lexer_words(step.original))
    return [marker for marker in markers if marker is not None]


def _takes_heredocs(step: Instruction) -> bool:
    """RUN, COPY and ADD in the shell form, and an ONBUILD of one (BuildKit's canContainHeredoc)."""
    if step.command == "ONBUILD":
        step = _instruction(step.args, step.line, step.escape)
    return step.command in _HEREDOC_COMMANDS and step.json is None


def _heredoc_body(marker: Heredoc, raw: list[str], index: int, line: int) -> tuple[str, int]:
    """The lines from ``raw[index]`` up to ``marker``'s terminator, each with its "\\n"; the index after."""
    body: list[str] = []
    while index < len(raw):
        text = raw[index]
        index += 1
        candidate = text.rstrip("\r")
        if marker.chomp:
            candidate = candidate.lstrip("\t")
        if candidate == marker.name:
            return "".join(body), index
        body.append(text + "\n")
    raise _error(line, "unterminated heredoc")


def _heredoc_word(word: str) -> Heredoc | None:
    """The heredoc a word like ``<<-"EOF"`` opens (empty body), or None (BuildKit's ParseHeredoc)."""
    match = _HEREDOC.fullmatch(word)
    delimiter = _delimiter(match.group(3)) if match else None
    if match is None or delimiter is None:
        return None
    name, quoted = delimiter
    fd = match.group(1)
    return Heredoc(name, "", not quoted, match.group(2) == "-", int(fd) if fd else None)


def _delimiter(text: str) -> tuple[str, bool] | None:
    """The delimiter without its quotes and escapes (``$X`` stays), and whether any of it was
    quoted; None unless it is exactly one word."""
    words: list[str] = []
    word = ""
    quoted = False
    i = 0
    while i < len(text):
        ch = text[i]
        end = _token_end(text, i)
        if end < 0:
            return None
        if ch in "'\"":
            inner = text[i + 1 : end - 1]
            word += inner if ch == "'" else re.sub(r'\\(["$\\])', r"\1", inner)
            quoted = True
        elif ch == "\\":
            word += text[i + 1 : end]  # the escaped character (a trailing escape is dropped)
        elif ch.isspace():
            words.append(word)
            word = ""
        else:
            word += text[i:end]
        i = end
    words = [w for w in [*words, word] if w]  # as in BuildKit's lexer, an empty word is no word
    return (words[0], quoted) if len(words) == 1 else None


def _lexer_words(line: str) -> list[str]:
    """``line`` in words as BuildKit's lexer cuts it to find heredocs: quotes and escapes kept (the
    escape is always ``\\``), blanks after ``<<`` kept in its word; no words on an open quote."""
    words: list[str] = []
    word: list[str] = []
    i = 0
    while i < len(line):
        if line[i].isspace():
            if word:
                words.append("".join(word))
            word = []
            i += 1
            continue
        end = _token_end(line, i)
        if end < 0:
            return []  # BuildKit's lexer fails on it, and then finds no heredoc in the line
        word.append(line[i:end])
        i = end
    if word:
        words.append("".join(word))
    return words


def _token_end(line: str, i: int) -> int:
    """Where the token at ``line[i]`` ends: a quoted string, an escape and its character, ``<<`` and
    the blanks after it, or one character; -1 for an unclosed quote."""
    ch = line[i]
    if ch == "'":
        end = line.find("'", i + 1)
        return end + 1 if end >= 0 else -1
    if ch == '"':
        return _double_quote_end(line, i + 1)
    if ch == "\\":
        return min(i + 2, len(line))
    if not line.startswith("<<", i):
        return i + 1
    i += 2
    while i < len(line) and line[i] in _AFTER_HEREDOC_OPERATOR:
        i += 1
    return i


def _double_quote_end(text: str, i: int) -> int:
    """The index after the ``"`` closing a string that starts at ``text[i]``, or -1."""
    while i < len(text):
        if text[i] == '"':
            return i + 1
        i += 2 if text[i] == "\\" and text[i + 1 : i + 2] in ('"', "$", "\\") else 1
    return -1


def _error(line: int, message: str) -> InvalidArgument:
    return InvalidArgument(f"Dockerfile parse error line {line}: {message}")


def _quote(text: str) -> str:
    """Go's ``%q``, near enough for messages."""
    return json.dumps(text, ensure_ascii=False)


# -- word expansion (ProcessWord) -----------------------------------------------------------------


class _LexError(Exception):
    """An expansion error; ``expand`` wraps it with the word."""


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str, *, quotes: bool = True) -> None:
        self.text = text
        self.env = env
        self.escape = escape
        self.quotes = quotes  # False: quotes are plain characters (a heredoc body)
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
            if ch == "'" and self.quotes:
                out.append(self.single_quote())
            elif ch == '"' and self.quotes:
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
