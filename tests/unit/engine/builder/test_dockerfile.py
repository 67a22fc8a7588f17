from __future__ import annotations

import json

import pytest

from berth.engine.builder.dockerfile import (
    SCRIPT_DIR,
    Heredoc,
    Instruction,
    RunScript,
    copy_sources,
    expand,
    expand_heredoc,
    key_values,
    parse,
    parse_trigger,
    run_script,
    split_words,
    with_heredocs,
)
from berth.errors import InvalidArgument

ENV = {"HOME": "/root", "EMPTY": "", "NAME": "berth"}


def one(text: str) -> Instruction:
    """The last instruction of ``FROM scratch`` + ``text``."""
    return parse(f"FROM scratch\n{text}")[-1]


def parse_error(text: str) -> str:
    with pytest.raises(InvalidArgument) as info:
        parse(text)
    return str(info.value)


# -- parse: lines ---------------------------------------------------------------------------------


def test_parse_skips_comments_and_blank_lines_and_numbers_lines() -> None:
    steps = parse("# comment\n\nFROM alpine AS base\n  # indented comment\nRUN echo hi\n")
    assert [(s.command, s.args, s.line) for s in steps] == [
        ("FROM", "alpine AS base", 3),
        ("RUN", "echo hi", 5),
    ]
    assert steps[1] == Instruction("RUN", "echo hi", {}, None, 5, "RUN echo hi")


def test_continuation_joins_lines_keeping_the_next_lines_indentation() -> None:
    step = one("RUN apt-get update \\\n    && apt-get install -y curl \\  \n    && true")
    assert step.args == "apt-get update     && apt-get install -y curl     && true"
    assert step.original == f"RUN {step.args}"
    assert step.line == 2


def test_comment_and_blank_lines_inside_a_continuation_are_dropped() -> None:
    steps = parse("FROM a\nRUN one \\\n# a comment\n   # another\n\n two\nUSER me")
    assert [(s.command, s.args, s.line) for s in steps[1:]] == [("RUN", "one  two", 2), ("USER", "me", 7)]


def test_continuation_at_end_of_file_keeps_the_line() -> None:
    assert one("EXPOSE 80 \\").args == "80"


def test_crlf_line_endings_and_bom() -> None:
    steps = parse('\ufeffFROM a\r\nRUN x \\\r\n y\r\nCMD ["sh"]\r\n')
    assert [(s.command, s.args, s.json) for s in steps] == [
        ("FROM", "a", None),
        ("RUN", "x  y", None),
        ("CMD", '["sh"]', ["sh"]),
    ]


def test_instructions_are_case_insensitive() -> None:
    steps = parse("from alpine\nRun echo\nworkDir /srv")
    assert [s.command for s in steps] == ["FROM", "RUN", "WORKDIR"]
    assert steps[2].original == "workDir /srv"


# -- parse: directives ----------------------------------------------------------------------------


def test_escape_directive_backtick_changes_the_continuation_character() -> None:
    steps = parse("# escape=`\n# syntax=docker/dockerfile:1\nFROM a\nRUN dir C:\\ `\n  /w\nCOPY a\\b c")
    assert [s.args for s in steps] == ["a", "dir C:\\   /w", "a\\b c"]
    assert {s.escape for s in steps} == {"`"}


def test_escape_directive_is_case_and_space_insensitive_and_defaults_to_backslash() -> None:
    assert parse("#  ESCAPE = `\nFROM a")[0].escape == "`"
    assert parse("FROM a")[0].escape == "\\"


def test_directives_only_count_before_anything_else() -> None:
    # After a blank line, a comment or an unknown directive, "# escape=" is a plain comment.
    for text in ("\n# escape=`\nFROM a\nRUN x \\\n y", "# hi\n# escape=`\nFROM a\nRUN x \\\n y"):
        steps = parse(text)
        assert steps[1].args == "x  y"
        assert steps[1].escape == "\\"
    assert parse("# foo=bar\n# escape=`\nFROM a")[0].escape == "\\"


def test_bad_or_repeated_escape_directive() -> None:
    assert parse_error("# escape=x\nFROM a") == (
        "Dockerfile parse error line 1: invalid escape token 'x' does not match ` or \\"
    )
    assert parse_error("# escape=`\n# escape=\\\nFROM a") == (
        "Dockerfile parse error line 2: only one escape parser directive can be used"
    )


# -- parse: errors --------------------------------------------------------------------------------


def test_unknown_instruction() -> None:
    assert parse_error("FROM a\n\nfoo bar") == "Dockerfile parse error line 3: unknown instruction: FOO"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "# escape=`\n"])
def test_file_with_no_instructions(text: str) -> None:
    assert parse_error(text) == "Dockerfile parse error: file with no instructions"


def test_only_arg_may_come_before_from() -> None:
    steps = parse("ARG VERSION=1\nFROM alpine:${VERSION}")
    assert [s.command for s in steps] == ["ARG", "FROM"]
    assert parse_error("RUN x\nFROM a") == "Dockerfile parse error line 1: no build stage in current context"
    assert parse_error("ARG A\nENV B=1\nFROM a") == (
        "Dockerfile parse error line 2: no build stage in current context"
    )


@pytest.mark.parametrize("command", ["FROM", "RUN", "CMD", "WORKDIR", "ENV", "LABEL", "ARG", "EXPOSE"])
def test_instruction_without_arguments(command: str) -> None:
    assert parse_error(f"FROM a\n{command}  ") == (
        f"Dockerfile parse error line 2: {command} requires at least one argument"
    )


def test_from_shape_is_checked() -> None:
    assert (
        parse_error("FROM a b")
        == "Dockerfile parse error line 1: FROM requires either one or three arguments"
    )
    assert parse_error("FROM a to b") == (
        "Dockerfile parse error line 1: FROM requires either one or three arguments"
    )
    assert "invalid name for build stage" in parse_error("FROM a AS 1x")
    assert parse("FROM a as Build")[0].args == "a as Build"


def test_copy_needs_a_destination_and_shell_needs_json() -> None:
    assert parse_error("FROM a\nCOPY onlyone").startswith(
        "Dockerfile parse error line 2: COPY requires at least two arguments"
    )
    assert parse_error('FROM a\nADD ["x"]').startswith(
        "Dockerfile parse error line 2: ADD requires at least two"
    )
    assert parse_error("FROM a\nSHELL /bin/bash -c") == (
        "Dockerfile parse error line 2: SHELL requires the arguments to be in JSON form"
    )


def test_json_array_of_non_strings_is_an_error() -> None:
    assert parse_error("FROM a\nCMD [1, 2]") == (
        "Dockerfile parse error line 2: "
        "when using JSON array syntax, arrays must be comprised of strings only"
    )


def test_env_and_label_errors_carry_the_line() -> None:
    assert parse_error("FROM a\nENV =x") == "Dockerfile parse error line 2: ENV names can not be blank"
    assert parse_error("FROM a\nENV ONLYKEY") == "Dockerfile parse error line 2: ENV must have two arguments"
    assert parse_error("FROM a\nLABEL a=1 b") == (
        'Dockerfile parse error line 2: Syntax error - can\'t find = in "b". Must be of the form: name=value'
    )


def test_onbuild_validates_its_trigger() -> None:
    step = one("ONBUILD run echo hi")
    assert (step.command, step.args) == ("ONBUILD", "run echo hi")
    assert parse_error("FROM a\nONBUILD ONBUILD RUN x") == (
        "Dockerfile parse error line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    )
    assert parse_error("FROM a\nONBUILD FROM b") == (
        "Dockerfile parse error line 2: FROM isn't allowed as an ONBUILD trigger"
    )
    assert (
        parse_error("FROM a\nONBUILD BOGUS x") == "Dockerfile parse error line 2: unknown instruction: BOGUS"
    )


# -- parse: JSON and shell forms ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "form"),
    [
        ('CMD ["echo", "a b"]', ["echo", "a b"]),
        ("ENTRYPOINT []", []),
        ('RUN [ "sh" , "-c", "x" ] ', ["sh", "-c", "x"]),
        ('VOLUME ["/data", "/logs"]', ["/data", "/logs"]),
        ('COPY ["a b", "/dst/"]', ["a b", "/dst/"]),
        ('SHELL ["/bin/bash", "-c"]', ["/bin/bash", "-c"]),
        # Not valid JSON, so the shell form: single quotes, a trailing comma, trailing text.
        ("CMD ['echo', 'hi']", None),
        ('CMD ["echo",]', None),
        ('RUN ["a"] && b', None),
        ("RUN echo [1]", None),
        ('VOLUME /data "/x y"', None),
    ],
)
def test_json_form_or_shell_form(text: str, form: list[str] | None) -> None:
    step = one(text)
    assert step.json == form
    assert step.args == text.split(None, 1)[1].strip()


def test_json_form_is_only_computed_for_exec_capable_instructions() -> None:
    assert one('LABEL ["a"]=b').json is None
    assert one('EXPOSE ["80"]').json is None


# -- parse: flags ---------------------------------------------------------------------------------


def test_copy_flags() -> None:
    step = one('COPY --from=build --chown=1:1 --link ["/out", "/app"]')
    assert step.flags == {"from": "build", "chown": "1:1", "link": "true"}
    assert step.args == '["/out", "/app"]'
    assert step.json == ["/out", "/app"]
    assert step.original == 'COPY --from=build --chown=1:1 --link ["/out", "/app"]'


def test_flags_stop_at_the_first_non_flag_word_or_a_bare_double_dash() -> None:
    step = one("ADD --chmod=644 src --chown=x /dst")
    assert (step.flags, step.args) == ({"chmod": "644"}, "src --chown=x /dst")
    step = one("COPY --link -- --weird /dst")
    assert (step.flags, step.args) == ({"link": "true"}, "--weird /dst")


def test_flag_values_may_be_quoted() -> None:
    assert one('COPY --chown="a b" x y').flags == {"chown": "a b"}


def test_from_run_and_healthcheck_flags() -> None:
    start = parse("FROM --platform=linux/amd64 alpine AS b")[0]
    assert (start.flags, start.args) == ({"platform": "linux/amd64"}, "alpine AS b")
    run = one("RUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t --network=none make")
    assert run.flags == {"mount": "type=cache,target=/c\ntype=tmpfs,target=/t", "network": "none"}
    assert run.args == "make"
    check = one('HEALTHCHECK --interval=5s --retries=3 CMD ["curl", "-f", "x"]')
    assert check.flags == {"interval": "5s", "retries": "3"}
    assert (check.args, check.json) == ('CMD ["curl", "-f", "x"]', ["curl", "-f", "x"])


def test_flags_are_not_parsed_for_other_instructions() -> None:
    step = one("CMD --help")
    assert (step.flags, step.args) == ({}, "--help")


def test_flag_errors() -> None:
    assert parse_error("FROM a\nCOPY --bogus=1 a b") == "Dockerfile parse error line 2: Unknown flag: bogus"
    assert (
        parse_error("FROM a\nCOPY --from a b")
        == "Dockerfile parse error line 2: Missing a value on flag: from"
    )
    assert parse_error("FROM a\nCOPY --from=x --from=y a b") == (
        "Dockerfile parse error line 2: Duplicate flag specified: from"
    )


def test_healthcheck_forms() -> None:
    assert one("HEALTHCHECK none").json is None
    assert one("HEALTHCHECK CMD curl -f x || exit 1").json is None
    assert parse_error("FROM a\nHEALTHCHECK NONE x") == (
        "Dockerfile parse error line 2: HEALTHCHECK NONE takes no arguments"
    )
    assert parse_error("FROM a\nHEALTHCHECK RUN x") == (
        'Dockerfile parse error line 2: Unknown type "RUN" in HEALTHCHECK (try CMD)'
    )
    assert (
        parse_error("FROM a\nHEALTHCHECK CMD")
        == "Dockerfile parse error line 2: Missing command after HEALTHCHECK CMD"
    )


# -- expand ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("$HOME/bin", "/root/bin"),
        ("${HOME}bin", "/rootbin"),
        ("$UNSET-$NAME", "-berth"),
        ("${UNSET}", ""),
        ("a$", "a$"),
        ("$-x", "$-x"),
        ("${UNSET:-dflt}", "dflt"),
        ("${EMPTY:-dflt}", "dflt"),
        ("${NAME:-dflt}", "berth"),
        ("${UNSET-dflt}", "dflt"),
        ("${EMPTY-dflt}", ""),
        ("${NAME:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${UNSET:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${UNSET:-$HOME/x}", "/root/x"),
        ("${UNSET:-${ALSO:-deep}}", "deep"),
        ("${UNSET:-'a }'}", "a }"),
        ("${NAME:?must be set}", "berth"),
    ],
)
def test_expand_substitutions(word: str, expected: str) -> None:
    assert expand(word, ENV) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("\\$HOME", "$HOME"),
        ("a\\ b", "a b"),
        ("\\\\", "\\"),
        ("trailing\\", "trailing"),
        ("'$HOME \\x'", "$HOME \\x"),
        ('"$HOME x"', "/root x"),
        ('"a \\"q\\" \\$HOME \\n"', 'a "q" $HOME \\n'),
        ("pre'mid'\"$NAME\"post", "premidberthpost"),
        ("''", ""),
    ],
)
def test_expand_quotes_and_escapes(word: str, expected: str) -> None:
    assert expand(word, ENV) == expected


def test_expand_with_backtick_escape() -> None:
    assert expand("`$HOME C:\\dir", ENV, escape="`") == "$HOME C:\\dir"
    assert expand('"`"$HOME"', ENV, escape="`") == '"/root'


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("${x", "missing '}'"),
        ("${x:-abc", "missing '}'"),
        ("${", "missing '}'"),
        ("${}", "bad substitution"),
        ("${:-x}", "bad substitution"),
        ("${x:=y}", "unsupported modifier (=) in substitution"),
        ("${x!}", "missing ':' in substitution"),
        ("'open", "unexpected end of statement while looking for matching single-quote"),
        ('"open', "unexpected end of statement while looking for matching double-quote"),
        ("${UNSET:?}", "UNSET: is not allowed to be unset"),
        ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
        ("${UNSET?need it}", "UNSET: need it"),
    ],
)
def test_expand_errors(word: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        expand(word, ENV)
    assert str(info.value) == f"failed to process {json.dumps(word)}: {message}"


# -- split_words ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ("  a   b\tc ", ["a", "b", "c"]),
        ('"a b" /dst', ['"a b"', "/dst"]),
        ("x='1 2' y", ["x='1 2'", "y"]),
        ('"say \\"hi there\\"" z', ['"say \\"hi there\\""', "z"]),
        ("a\\ b c", ["a\\ b", "c"]),
        ("'\\' x", ["'\\'", "x"]),
        ("'' b", ["''", "b"]),
        ("end\\", ["end"]),
        ("", []),
    ],
)
def test_split_words(args: str, words: list[str]) -> None:
    assert split_words(args) == words


def test_split_words_then_expand_round_trip() -> None:
    words = split_words("\"$HOME/a b\" '$NAME' c\\ d")
    assert [expand(w, ENV) for w in words] == ["/root/a b", "$NAME", "c d"]


def test_split_words_with_backtick_escape() -> None:
    assert split_words("a` b C:\\x", escape="`") == ["a` b", "C:\\x"]


# -- key_values -----------------------------------------------------------------------------------


def test_key_values_name_value_form_keeps_raw_values() -> None:
    assert key_values("ENV", "A=1 B=\"two words\" C='$x' D= E=a=b") == [
        ("A", "1"),
        ("B", '"two words"'),
        ("C", "'$x'"),
        ("D", ""),
        ("E", "a=b"),
    ]
    assert key_values("label", 'com.example="x y"') == [("com.example", '"x y"')]


def test_key_values_legacy_form_is_one_pair_with_the_rest_of_the_line() -> None:
    assert key_values("ENV", "  PATH   /usr/bin:$PATH  and  more ") == [("PATH", "/usr/bin:$PATH  and  more")]
    assert key_values("LABEL", "maintainer me@x") == [("maintainer", "me@x")]


def test_key_values_arg_with_and_without_defaults() -> None:
    assert key_values("ARG", "NAME") == [("NAME", None)]
    assert key_values("ARG", "A B=2 C=") == [("A", None), ("B", "2"), ("C", "")]


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        ("ENV", "", "ENV requires at least one argument"),
        ("LABEL", "  ", "LABEL requires at least one argument"),
        ("ENV", "KEY", "ENV must have two arguments"),
        ("ENV", "=x", "ENV names can not be blank"),
        ("ARG", "=x", "ARG names can not be blank"),
        ("LABEL", "a=1 b", 'Syntax error - can\'t find = in "b". Must be of the form: name=value'),
    ],
)
def test_key_values_errors(command: str, args: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        key_values(command, args)
    assert str(info.value) == message


def test_key_values_rejects_other_instructions() -> None:
    with pytest.raises(ValueError):
        key_values("RUN", "a=b")


# -- heredocs ------------------------------------------------------------------------------------


def heredocs(text: str) -> tuple[Heredoc, ...]:
    return one(text).heredocs


def test_run_heredoc_body_is_kept_verbatim_and_args_keep_the_line() -> None:
    steps = parse("FROM a\nRUN <<EOF\n# not a comment\necho a \\\n\n  b\nEOF\nUSER me\n")
    assert steps[1] == Instruction(
        "RUN",
        "<<EOF",
        {},
        None,
        2,
        "RUN <<EOF",
        heredocs=(Heredoc("EOF", "# not a comment\necho a \\\n\n  b\n", True, False, None),),
    )
    assert (steps[2].command, steps[2].line) == ("USER", 8)  # the body's lines are counted


def test_an_empty_heredoc_and_a_terminator_that_must_match_exactly() -> None:
    assert heredocs("RUN <<EMPTY\nEMPTY") == (Heredoc("EMPTY", "", True, False, None),)
    # "EOF " and " EOF" are body lines; "EOF\r" ends it (line endings are not part of the line).
    assert heredocs("RUN <<EOF\nEOF \n EOF\nEOF\r\n")[0].content == "EOF \n EOF\n"


def test_dash_strips_leading_tabs_of_the_body_and_the_terminator() -> None:
    (doc,) = heredocs("RUN <<-EOF\n\t\techo a\n  \tb\n\tEOF\n")
    assert doc == Heredoc("EOF", "echo a\n  \tb\n", True, True, None, raw="\t\techo a\n  \tb\n")
    assert heredocs("RUN <<EOF\n\tx\n\tEOF\nEOF")[0].content == "\tx\n\tEOF\n"  # without "-": no


@pytest.mark.parametrize(
    ("word", "name", "expand"),
    [
        ("<<'EOF'", "EOF", False),
        ('<<"EOF"', "EOF", False),
        ("<<-'EOF'", "EOF", False),
        ('<<EO"F"', "EOF", False),
        ("<<eo\\'f", "eo'f", True),  # an escaped quote quotes nothing
        ("<<'e'o\\'f", "eo'f", False),
        ("<<'one two'", "one two", False),
        ("<<$EOF", "$EOF", True),  # no variable in a delimiter
        ("<<  EOF", "EOF", True),  # blanks after << belong to the word
        ("<< -EOF", "-EOF", True),
        ("<<file.txt", "file.txt", True),
    ],
)
def test_delimiter_words_as_buildkit_reads_them(word: str, name: str, expand: bool) -> None:
    (doc,) = heredocs(f"RUN {word}\nbody\n{name}\n")
    assert (doc.name, doc.content, doc.expand) == (name, "body\n", expand)


def test_file_descriptor_prefix() -> None:
    assert heredocs("RUN cat 3<<EOT\nx\nEOT")[0] == Heredoc("EOT", "x\n", True, False, 3)
    assert heredocs("RUN cat <<EOT\nx\nEOT")[0].file_descriptor is None


def test_several_heredocs_are_read_in_order_each_to_its_own_terminator() -> None:
    steps = parse("FROM a\nCOPY <<X <<Y /dest\nY\nX\nX\nY\nRUN <<A <<B\na\nA\nb\nB\nUSER me")
    assert [(d.name, d.content) for d in steps[1].heredocs] == [("X", "Y\n"), ("Y", "X\n")]
    assert [(d.name, d.content) for d in steps[2].heredocs] == [("A", "a\n"), ("B", "b\n")]
    assert [s.line for s in steps] == [1, 2, 7, 12]


def test_copy_and_add_heredocs_and_their_sources() -> None:
    step = one("COPY <<EOF /etc/motd\nhello $NAME\nEOF")
    assert (step.args, step.original) == ("<<EOF /etc/motd", "COPY <<EOF /etc/motd")
    assert copy_sources(step) == [Heredoc("EOF", "hello $NAME\n", True, False, None)]
    step = one(
        "ADD --chmod=644 a <<robots.txt b <<-'humans.txt' /srv/\nUser-agent: *\nrobots.txt\n\tme\n\thumans.txt"
    )
    assert copy_sources(step) == [
        "a",
        Heredoc("robots.txt", "User-agent: *\n", True, False, None),
        "b",
        Heredoc("humans.txt", "me\n", False, True, None, raw="\tme\n"),
    ]
    assert copy_sources(one("COPY a '<<b' /c/")) == ["a", "'<<b'"]


def test_copy_heredoc_as_destination_and_json_forms() -> None:
    assert parse_error("FROM a\nCOPY x <<EOF\nEOF") == (
        "Dockerfile parse error line 2: COPY cannot accept a heredoc as a destination"
    )
    assert "ADD cannot accept a heredoc" in parse_error('FROM a\nADD ["x", "<<EOF"]')
    # The JSON form has no heredocs: "<<EOF" is no body reader, BuildKit writes an empty file EOF.
    step = one('COPY ["<<EOF", "/x/"]')
    assert (step.heredocs, copy_sources(step)) == ((), [Heredoc("EOF", "", True, False, None)])


def test_heredoc_after_continuations_starts_after_the_logical_line() -> None:
    steps = parse("FROM a\nRUN cat \\\n  # a comment\n  <<EOF \\\n  > /f\nbody \\\nEOF\nUSER me")
    assert (steps[1].args, steps[1].line) == ("cat   <<EOF   > /f", 2)
    assert steps[1].heredocs[0].content == "body \\\n"
    assert steps[2].line == 8


def test_heredocs_with_the_backtick_escape_and_crlf() -> None:
    steps = parse("# escape=`\nFROM a\nRUN type `\n  <<EOF\nC:\\dir `\nEOF\nUSER me")
    assert (steps[1].args, steps[1].heredocs[0].content) == ("type   <<EOF", "C:\\dir `\n")
    assert steps[2].line == 7
    steps = parse("FROM a\r\nRUN <<EOF\r\necho hi\r\nEOF\r\nUSER me\r\n")
    assert steps[1].heredocs[0].content == "echo hi\r\n"  # kept as written, as BuildKit does
    assert steps[2].line == 5


@pytest.mark.parametrize(
    "text",
    [
        "RUN echo '<<EOF'",
        'RUN echo "<<EOF"',
        "RUN cat<<EOF",  # glued to a word, BuildKit's lexer does not see it
        "RUN cat <<<EOF",
        'RUN cat <<""',
        'RUN ["cat", "<<EOF"]',
        "RUN echo \"it's <<EOF",  # an unclosed quote: BuildKit's lexer fails, so no heredoc
        "LABEL a=<<EOF",
        "ENV A=<<EOF",
        "CMD cat <<EOF",
        "HEALTHCHECK CMD cat <<EOF",
        'ONBUILD RUN ["cat", "<<EOF"]',
    ],
)
def test_heredoc_looking_text_that_is_not_one(text: str) -> None:
    steps = parse(f"FROM a\n{text}\nUSER me")
    assert (steps[1].heredocs, steps[2].line) == ((), 3)


def test_heredocs_elsewhere_are_plain_text_so_the_body_is_read_as_instructions() -> None:
    assert (
        parse_error("FROM a\nUSER <<EOF\nEOF\n") == "Dockerfile parse error line 3: unknown instruction: EOF"
    )


def test_unterminated_heredoc_is_an_error_at_its_instruction() -> None:
    for text in ("RUN <<EOF\necho hi\n", "RUN <<EOF", "COPY <<A <<B /d/\na\nA\nb\n"):
        assert parse_error(f"FROM a\n{text}") == "Dockerfile parse error line 2: unterminated heredoc"


def test_onbuild_heredocs_and_their_trigger_text() -> None:
    steps = parse("FROM a\nONBUILD RUN <<-EOF\n\techo hi\n\tEOF\nUSER me")
    assert steps[1].heredocs == (Heredoc("EOF", "echo hi\n", True, True, None, raw="\techo hi\n"),)
    assert steps[2].line == 5
    trigger = with_heredocs(steps[1])
    assert trigger == "RUN <<-EOF\n\techo hi\nEOF"  # BuildKit's OnBuild entry
    step = parse_trigger(trigger)
    assert (step.command, step.args, step.heredocs) == ("RUN", "<<-EOF", steps[1].heredocs)
    assert parse_trigger("RUN make").heredocs == ()
    with pytest.raises(InvalidArgument, match="line 1: unterminated heredoc"):
        parse_trigger("RUN <<EOF")


# -- run_script and friends -----------------------------------------------------------------------


def test_run_script_of_a_lone_heredoc_is_its_body() -> None:
    assert run_script(one("RUN <<EOF\napt-get update\napt-get install -y x\nEOF")) == RunScript(
        "apt-get update\napt-get install -y x\n"
    )
    # Flags, a file descriptor, <<- and a quoted delimiter change nothing: the shell runs the body.
    assert run_script(one("RUN --network=none 3<<-'EOF'\n\techo $HOME\n\tEOF")) == RunScript("echo $HOME\n")


def test_run_script_of_a_shebang_heredoc_is_a_file_to_execute() -> None:
    step = one('RUN <<py\n#!/usr/bin/env python3\nprint("hi")\npy')
    assert run_script(step) == RunScript("/dev/pipes/py", '#!/usr/bin/env python3\nprint("hi")\n')
    assert SCRIPT_DIR == "/dev/pipes"
    # BuildKit looks for "#!" in the body as written: a tab before it means a plain script.
    assert run_script(one("RUN <<-EOF\n\t#!/bin/sh\n\techo\n\tEOF")) == RunScript("#!/bin/sh\necho\n")


def test_run_script_gives_the_shell_its_own_heredocs_otherwise() -> None:
    step = one("RUN python3 <<EOF > /hello\nprint('hi')\nEOF")
    assert run_script(step) == RunScript("python3 <<EOF > /hello\nprint('hi')\nEOF")
    step = one("RUN cat <<'A' <<-B\n$x\nA\n\tb\n\tB")
    assert run_script(step) == RunScript("cat <<'A' <<-B\n$x\nA\n\tb\nB")  # as written, bare names
    assert run_script(one("RUN <<A <<B\na\nA\nb\nB")) == RunScript("<<A <<B\na\nA\nb\nB")


def test_run_script_is_none_without_heredocs() -> None:
    assert run_script(one("RUN echo hi")) is None
    assert run_script(one('RUN ["sh", "-c", "<<EOF"]')) is None
    assert run_script(one("COPY <<EOF /f\nEOF")) is None
    assert with_heredocs(one("RUN echo hi")) == "echo hi"


def test_expand_heredoc_substitutes_variables_but_keeps_quotes() -> None:
    text = "a=$NAME '$NAME' \"${NAME}\" ${UNSET:-dflt} \\$NAME C:\\\\x `x`\nend \\\nx\n"
    assert expand_heredoc(text, ENV) == "a=berth 'berth' \"berth\" dflt $NAME C:\\x `x`\nend \nx\n"
    with pytest.raises(InvalidArgument, match="failed to process"):
        expand_heredoc("${x", ENV)


def test_an_onbuild_trigger_parses_as_its_own_instruction() -> None:
    trigger = parse_trigger("COPY --chown=1:1 a /b")
    assert (trigger.command, trigger.args, trigger.flags) == ("COPY", "a /b", {"chown": "1:1"})
