from __future__ import annotations

import json

import pytest

from berth.engine.builder.dockerfile import Instruction, expand, key_values, parse, parse_trigger, split_words
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


def test_heredocs_are_refused_as_needing_buildkit() -> None:
    for text in ("RUN <<EOF\necho hi\nEOF", "COPY <<-'X' /f\nhi\nX", "RUN cat 3<<EOT"):
        assert "the heredoc syntax (<<EOF) requires BuildKit" in parse_error(f"FROM scratch\n{text}\n")
    assert one("RUN echo '<<EOF'").args == "echo '<<EOF'"  # quoted: a plain word
    assert one('RUN ["cat", "<<EOF"]').json == ["cat", "<<EOF"]


def test_an_onbuild_trigger_parses_as_its_own_instruction() -> None:
    trigger = parse_trigger("COPY --chown=1:1 a /b")
    assert (trigger.command, trigger.args, trigger.flags) == ("COPY", "a /b", {"chown": "1:1"})
