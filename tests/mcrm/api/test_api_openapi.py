"""The OpenAPI document at /api/v1/openapi.json is generated from the code and stays true to it:
every route is in it, and schemathesis drives every operation of the real app (WSGI, a SQLite or
PostgreSQL test database, a write token) with generated requests: no 5xx, and every answer
conforms to the document."""
from dataclasses import replace

import hypothesis
import pytest
import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

from mcrm.api.http import PREFIX

# positive_data_acceptance is left out: a schema cannot say which cursor this API gave out, which
# member id exists, or that an amount is under the merchant's maximum, so well-formed requests the
# domain refuses (400, 404, 409) are right, not failures. Every other check runs.

#: examples per operation: 13 operations in about 40 s on this machine's shared 2 cores
EXAMPLES = 25


@pytest.fixture
def settings(settings):
    """Generated requests come faster than a till's: the per-token limit is tested elsewhere."""
    return replace(settings, api_rate_limit="100000 per minute")


def test_every_api_route_is_in_the_document(app, client):
    document = client.get(f"{PREFIX}/openapi.json").json
    documented = {(path, method.upper()) for path, operations in document["paths"].items()
                  for method in operations if method != "parameters"}
    routes = {(rule.rule.replace("<int:", "{").replace(">", "}"), method)
              for rule in app.url_map.iter_rules() if rule.rule.startswith(PREFIX + "/")
              and rule.endpoint.startswith("api_v1.") for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes and routes == documented
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": document["components"]["securitySchemes"]
        ["bearerAuth"]["description"]}
    assert document["security"] == [{"bearerAuth": []}]
    purchase = document["paths"][f"{PREFIX}/purchases"]["post"]
    assert purchase["requestBody"]["content"]["application/json"]["schema"]
    assert any(p["name"] == "Idempotency-Key" for p in purchase["parameters"])
    assert "default" in purchase["responses"]  # the error envelope


def test_the_document_needs_no_token_but_every_operation_does(client):
    assert client.get(f"{PREFIX}/openapi.json").status_code == 200
    assert client.get(f"{PREFIX}/members").status_code == 401


def test_every_operation_conforms_and_never_fails_with_a_5xx(app, make_token, make_member):
    """Each operation in turn, with its own generated requests (schemathesis' pytest plugin does not
    run under this pytest, so the operations are walked here)."""
    make_member(points=500)  # something to find, redeem from and page through
    make_member(opted_out=True)
    headers = {"Authorization": f"Bearer {make_token('write')}"}
    operations = [result.ok() for result in schemathesis.openapi.from_wsgi(f"{PREFIX}/openapi.json", app)
                  .get_all_operations()]
    assert len(operations) == 16

    for operation in operations:
        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                             suppress_health_check=list(hypothesis.HealthCheck))
        def conforms(case):
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
        conforms()
