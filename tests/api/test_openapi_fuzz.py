"""schemathesis over ``/openapi.json``: every operation, with a valid key, against a live server.

Generated requests (valid and invalid, a bounded number per operation) must never get a 5xx
(the ``server`` fixture also fails the test on any 5xx it logged) and every documented response
must match its schema. Each operation is drawn a few times, so the whole run is a few hundred
requests in seconds to a minute.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from live_server import LiveServer
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

pytestmark = pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)

#: examples per operation and generation mode (valid and invalid data)
EXAMPLES = 4


def test_no_operation_answers_5xx_or_breaks_its_schema(server: LiveServer, api_key: str, http: Any) -> None:
    spec = http.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    headers = {"Authorization": f"Bearer {api_key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20  # the whole API, not a stub
    calls = 0
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            def run(case: Any) -> None:
                nonlocal calls
                response = case.call(base_url=server.url, headers=headers, timeout=60)
                calls += 1
                case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

            try:
                run()
            except Unsatisfiable:  # an operation without parameters has no invalid input
                assert mode == schemathesis.GenerationMode.NEGATIVE
    assert calls >= len(operations) * EXAMPLES
