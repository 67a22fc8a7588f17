"""Challenges, scopes and credentials (distribution token spec, NOTES.md §4)."""

from __future__ import annotations

import base64

import pytest

from berth.distribution.auth import Credentials, Token, merge_scopes, parse_challenges, parse_scope
from berth.errors import InvalidArgument


def test_bearer_challenge_with_several_scopes() -> None:
    header = (
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:samalba/my-app:pull,push repository:other:pull"'
    )
    (challenge,) = parse_challenges(header)
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://auth.example/token"
    assert challenge.service == "registry.example"
    assert challenge.scopes == ["repository:samalba/my-app:pull,push", "repository:other:pull"]


def test_basic_and_multiple_challenges() -> None:
    challenges = parse_challenges(
        'Basic realm="berth-registry", Bearer realm="http://x/token",error="invalid_token"'
    )
    assert [c.scheme for c in challenges] == ["basic", "bearer"]
    assert challenges[1].params["error"] == "invalid_token"
    assert parse_challenges("") == []


def test_scope_names_may_hold_a_port() -> None:
    scope = parse_scope("repository:localhost:5000/team/app:pull,push")
    assert (scope.type, scope.name, scope.actions) == (
        "repository",
        "localhost:5000/team/app",
        ("pull", "push"),
    )
    assert parse_scope("repository(plugin):x:pull").type == "repository"
    assert str(parse_scope("registry:catalog:search")) == "registry:catalog:search"
    with pytest.raises(InvalidArgument):
        parse_scope("nonsense")


def test_merge_scopes_unions_actions() -> None:
    merged = merge_scopes(["repository:a:pull", "repository:a:push", "repository:b:pull", "bad"])
    assert merged == ["repository:a:pull,push", "repository:b:pull"]


def test_credentials_from_x_registry_auth() -> None:
    assert Credentials.from_auth_config({}).anonymous
    creds = Credentials.from_auth_config({"username": "alice", "password": "pw", "serveraddress": "r:5000"})
    assert creds.basic_header() == "Basic " + base64.b64encode(b"alice:pw").decode()
    encoded = Credentials.from_auth_config({"auth": base64.b64encode(b"bob:secret").decode()})
    assert (encoded.username, encoded.password) == ("bob", "secret")
    token = Credentials.from_auth_config({"IdentityToken": "refresh"})
    assert token.identity_token == "refresh" and token.basic_header() is None


def test_token_from_response() -> None:
    token = Token.from_response({"access_token": "abc", "expires_in": 300, "refresh_token": "r"})
    assert token.value == "abc" and token.valid and token.refresh_token == "r"
    with pytest.raises(InvalidArgument):
        Token.from_response({"expires_in": 5})
