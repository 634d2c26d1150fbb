"""Property tests of the playground API against its own OpenAPI schema (schemathesis).

Schemathesis reads ``/openapi.json`` from the app, generates requests for every
operation -- valid ones from the schema and invalid ones around it -- and sends
them in-process through the ASGI app. Whatever the request, the server must not
answer with a 5xx: a bad request is the client's fault and gets a 4xx.
"""

from __future__ import annotations

import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error

from gradstep.web.app import create_app

APP = create_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)

OPERATIONS = {"GET /api/limits", "GET /api/optimizers", "GET /api/presets", "GET /api/datasets", "POST /api/surface",
              "POST /api/run", "POST /api/fit", "POST /api/upload"}


def test_schema_lists_every_operation():
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert labels == OPERATIONS


@schema.parametrize()
@hypothesis.settings(max_examples=80, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(HealthCheck),
                     phases=[Phase.explicit, Phase.generate])   # no shrinking: it takes minutes
def test_no_server_error(case):
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500, f"{case.method} {case.path} -> {response.status_code}: {response.text[:500]}"
