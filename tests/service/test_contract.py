"""The committed openapi.yaml is the app's schema, and a schemathesis run finds no server error."""

from __future__ import annotations

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from service.openapi import CONTRACT, document, render
from tests.service.conftest import LiveServer

SCHEMA = document()


def test_openapi_yaml_matches_the_app() -> None:
    committed = yaml.safe_load(CONTRACT.read_text())
    assert committed == SCHEMA, "openapi.yaml drifted from the app: run `python -m service.openapi`"
    assert render(SCHEMA) == CONTRACT.read_text()


api = schemathesis.openapi.from_dict(SCHEMA)


@pytest.fixture
def base_url(live_server: LiveServer) -> str:
    return live_server.url


@api.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case, base_url: str) -> None:
    response = case.call(base_url=base_url, timeout=30)
    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400 and response.status_code not in (401,):
        assert "error" in response.json(), response.text
