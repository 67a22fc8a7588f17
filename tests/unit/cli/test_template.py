"""The Go text/template subset used by --format."""

from __future__ import annotations

import pytest

from berth.cli.template import Record, TemplateError, go_sprint, render

DATA = {
    "Name": "web",
    "Id": "abc",
    "State": {"Pid": 42, "OOMKilled": False, "Running": True, "Health": None},
    "Config": {"Env": ["A=1", "B=2"], "Labels": {"k": "v", "a": "b"}, "Cmd": ["sh", "-c", "x"]},
    "Names": ["/web", "/alias"],
    "Empty": [],
    "Ratio": 0.5,
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{.Name}}", "web"),
        ("{{.State.Pid}} {{.State.OOMKilled}}", "42 false"),
        ("{{.Missing}}", "<no value>"),
        ("{{.State.Health}}", "<nil>"),
        ("{{.Config.Env}}", "[A=1 B=2]"),
        ("{{.Config.Labels}}", "map[a:b k:v]"),
        ("{{json .Config.Labels}}", '{"a":"b","k":"v"}'),
        ("{{json .Name}}", '"web"'),
        ('{{index .Config.Labels "k"}}', "v"),
        ("{{index .Names 1}}", "/alias"),
        ('{{join .Names ","}}', "/web,/alias"),
        ('{{upper .Name}} {{lower "AB"}} {{.Name | upper}}', "WEB ab WEB"),
        ("{{range .Config.Env}}[{{.}}]{{end}}", "[A=1][B=2]"),
        ("{{range $i, $e := .Names}}{{$i}}={{$e}} {{end}}", "0=/web 1=/alias "),
        ("{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}};{{end}}", "a:b;k:v;"),
        ("{{range .Empty}}x{{else}}none{{end}}", "none"),
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ("{{if .State.OOMKilled}}oom{{else if .State.Running}}run{{else}}x{{end}}", "run"),
        ("{{with .State}}{{.Pid}}{{end}}", "42"),
        ("{{println .Name}}", "web\n"),
        ('{{printf "%s-%d|%5s|%q" .Name .State.Pid "ab" .Name}}', 'web-42|   ab|"web"'),
        ('{{len .Names}} {{eq .Name "web"}} {{ne 1 2}} {{not .State.Running}}', "2 true true false"),
        ("{{and .Name .Id}} {{or .Missing .Id}}", "abc abc"),
        ("{{- .Name -}}  \n  {{- .Id}}", "webabc"),
        ("a{{/* comment */}}b", "ab"),
        ("{{$x := .Name}}{{$x}}{{$x}}", "webweb"),
        ("{{(index .Names 0) | upper}}", "/WEB"),
        ('{{(index .Config "Labels").k}}', "v"),  # a field of a parenthesised value, as Go chains it
        ('{{ (index . "State").Pid }}-{{(.State).Running}}', "42-true"),
        ("{{.Ratio}}", "0.5"),
        ("{{.}}", go_sprint(DATA)),
    ],
)
def test_render(template: str, expected: str) -> None:
    assert render(template, DATA) == expected


@pytest.mark.parametrize(
    "template", ["{{if .Name}}x", "{{end}}", "{{nofunc .Name}}", "{{.Name", "{{else}}", "{{(.State) .Pid}}"]
)
def test_errors(template: str) -> None:
    with pytest.raises(TemplateError):
        render(template, DATA)


def test_record_unknown_field_is_an_error() -> None:
    rec = Record({"ID": "abc"})
    assert render("{{.ID}}", rec) == "abc"
    with pytest.raises(TemplateError, match="can't evaluate field Nope"):
        render("{{.Nope}}", rec)


def test_json_escapes_like_go() -> None:
    assert render("{{json .}}", {"a": "<b>&"}) == '{"a":"\\u003cb\\u003e\\u0026"}'
