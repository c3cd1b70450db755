"""Bad admin requests answer 400/401/403/404 in OpenAI's error shape, never 5xx."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from live_server import LiveServer

P = "/v1/organization/projects"
CASES: list[tuple[str, str, Any, int, str | None]] = [
    ("POST", P, {}, 400, "name"),
    ("POST", P, {"name": ""}, 400, "name"),
    ("POST", P, {"name": 5}, 400, "name"),
    ("POST", P, {"name": "x", "color": "red"}, 400, "color"),
    ("POST", P, {"name": "x", "quotas": {"max_running_jobs": -1}}, 400, "quotas[max_running_jobs]"),
    ("POST", P, {"name": "x", "quotas": {"max_jobs": 1}}, 400, "quotas[max_jobs]"),
    ("POST", P, "not json", 400, None),
    ("GET", P + "?limit=0", None, 400, "limit"),
    ("GET", P + "?limit=101", None, 400, "limit"),
    ("GET", P + "?after=proj_nope", None, 400, "after"),
    ("GET", P + "?include_archived=maybe", None, 400, "include_archived"),
    ("GET", P + "/proj_nope", None, 404, "project_id"),
    ("POST", P + "/proj_nope", {"name": "y"}, 404, "project_id"),
    ("POST", P + "/proj_nope/archive", None, 404, "project_id"),
    ("POST", P + "/default/archive", None, 400, "project_id"),
    ("POST", P + "/proj-a/service_accounts", {}, 400, "name"),
    ("POST", P + "/proj_nope/service_accounts", {"name": "s"}, 404, "project_id"),
    ("GET", P + "/proj-a/service_accounts/svc_acct_nope", None, 404, "service_account_id"),
    ("DELETE", P + "/proj-a/service_accounts/svc_acct_nope", None, 404, "service_account_id"),
    ("GET", P + "/proj-a/api_keys/key_nope", None, 404, "key_id"),
    ("DELETE", P + "/proj-a/api_keys/key_nope", None, 404, "key_id"),
    ("GET", P + "/proj_nope/api_keys", None, 404, "project_id"),
    ("GET", P + "/proj-a/rate_limits?after=rl-nope", None, 400, "after"),
    ("POST", P + "/proj-a/rate_limits/rl-nope", {"max_requests_per_1_minute": 3}, 404, "rate_limit_id"),
    ("POST", P + "/proj-a/rate_limits/rl-tiny-chat", {"max_requests_per_1_minute": "many"}, 400,
     "max_requests_per_1_minute"),
    ("POST", "/v1/organization/admin_api_keys", {}, 400, "name"),
    ("POST", "/v1/organization/admin_api_keys", {"name": "k", "expires_in_seconds": 0}, 400, "expires_in_seconds"),
    ("GET", "/v1/organization/admin_api_keys/key_nope", None, 404, "key_id"),
    ("DELETE", "/v1/organization/admin_api_keys/key_nope", None, 404, "key_id"),
    ("GET", "/v1/organization/admin_api_keys?order=sideways", None, 400, "order"),
    ("GET", "/v1/organization/audit_logs?after=x&before=y", None, 400, "before"),
    ("GET", "/v1/organization/usage/completions", None, 400, "start_time"),
    ("GET", "/v1/organization/usage/completions?start_time=-5", None, 400, "start_time"),
    ("GET", "/v1/organization/costs?start_time=0&group_by[]=model", None, 400, "group_by"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "param"), CASES)
def test_bad_admin_requests(server: LiveServer, org_admin_key: str, api_key: str, method: str, path: str,
                            body: Any, status: int, param: str | None) -> None:
    kwargs: dict[str, Any] = {"content": body} if isinstance(body, str) else {"json": body}
    with httpx2.Client(base_url=server.url, headers={"Authorization": f"Bearer {org_admin_key}"}) as http:
        r = http.request(method, path, **kwargs)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    assert err["param"] == param, err
    with httpx2.Client(base_url=server.url, headers={"Authorization": f"Bearer {api_key}"}) as http:
        refused = http.request(method, path, **kwargs)  # a project key never gets past the door
    assert refused.status_code in (400, 403), refused.text
    no_key = httpx2.request(method, server.url + path, **kwargs)
    assert no_key.status_code in (400, 401)
