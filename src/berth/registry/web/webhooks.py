"""The webhooks section of a repository's and a namespace's page (for their owners): each hook with
its last deliveries, a button to remove those set on this page's target, and the form that adds one."""

from __future__ import annotations

from dataclasses import dataclass

from berth.registry.web.templates import back_link, h, stamp


@dataclass(slots=True)
class HookRow:
    id: str
    target: str
    url: str
    events: str
    pending: int
    deliveries: list[tuple[float, str, int, str]]  # time, event, attempt, result (status or error)


@dataclass(frozen=True, slots=True)
class HookForm:
    target: str  # the repository or namespace this page is of
    csrf: str
    events: tuple[str, ...]  # every event a hook may take
    checked: tuple[str, ...]  # the events the form starts with


def _log(hook: HookRow) -> str:
    attempts = "".join(
        f'<tr><td class="nowrap">{h(stamp(at))}</td><td>{h(event)}</td><td>{h(attempt)}</td>'
        f'<td class="muted">{h(result)}</td></tr>'
        for at, event, attempt, result in reversed(hook.deliveries)
    )
    if not attempts:
        return '<p class="muted">No deliveries yet.</p>'
    return f"<table><tr><th>Time</th><th>Event</th><th>Attempt</th><th>Result</th></tr>{attempts}</table>"


def _remove(hook: HookRow, form: HookForm) -> str:
    if hook.target != form.target:  # an organisation's hook: changed on the organisation's page
        return f'<p class="muted">Set on <a href="{back_link(hook.target)}">{h(hook.target)}</a>.</p>'
    return (
        f'<form method="post" action="/webhooks/{h(form.target)}" class="inline">'
        f'<input type="hidden" name="action" value="remove"><input type="hidden" name="id" value="{h(hook.id)}">'
        f'<input type="hidden" name="csrf" value="{h(form.csrf)}">'
        '<button type="submit" class="danger small remove-hook">Remove</button></form>'
    )


def _add(form: HookForm) -> str:
    boxes = "".join(
        f'<label class="check"><input type="checkbox" name="events" value="{h(e)}"'
        f"{' checked' if e in form.checked else ''}> {h(e)}</label>"
        for e in form.events
    )
    return (
        f'<form method="post" action="/webhooks/{h(form.target)}" class="repo add-hook">'
        '<input type="hidden" name="action" value="add">'
        f'<input type="hidden" name="csrf" value="{h(form.csrf)}">'
        '<p><label>URL<br><input name="url" type="url" required placeholder="https://ci.example/hook" '
        'class="wide"></label></p>'
        "<p><label>Secret (signs each delivery: <code>X-Berth-Signature-256</code>; not shown again)<br>"
        '<input name="secret" type="password" required autocomplete="new-password" class="wide"></label></p>'
        f'<p class="events">Events: {boxes}</p><button type="submit">Add webhook</button></form>'
    )


def webhooks_section(hooks: list[HookRow], form: HookForm) -> str:
    parts = [
        f'<div class="repo hook" id="hook-{h(hook.id)}"><b>{h(hook.url)}</b>'
        f'<p class="muted">{h(hook.id)} · {h(hook.events)} of {h(hook.target)} · '
        f"{h(hook.pending)} pending</p>{_remove(hook, form)}{_log(hook)}</div>"
        for hook in hooks
    ]
    none = "" if hooks else '<p class="muted">No webhooks yet.</p>'
    return f'<h2 id="webhooks">Webhooks</h2>{"".join(parts)}{none}{_add(form)}'
