"""The docker compose file and the Helm chart, held against ``Settings`` and the CLI.

What is checked, for both deployments:

- they parse (compose after ``${VAR…}`` interpolation as compose does it; the chart rendered
  by tests/infra/helm_template.py, a Go-template subset renderer, since ``helm`` is not
  installed here; with ``helm`` on PATH, ``helm lint``/``helm template`` run too);
- every environment name given to an openft container is a ``Settings`` field
  (``OPENFT_`` + field name) or one of boto3's ``AWS_*`` variables; infrastructure images get
  only their documented variables;
- each role gets the settings it cannot run without, GPU workers never get the database URL,
  and the values parse as ``Settings`` (types, ``s3://`` store);
- container commands are real ``openft`` subcommands (parsed by the CLI's own parser);
- secrets have no defaults (``${VAR:?…}`` in compose, ``required`` in the chart), the GPU
  worker reserves a GPU, the migration runs first (compose ``depends_on`` /
  Helm pre-install,pre-upgrade hook that finds its Secret), healthchecks/probes exist.

Not checked: that Docker or Kubernetes accept every field (no daemon or cluster here).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_template import RequiredValueMissing, merge_values, render_chart

from api.cli import build_parser
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "infra" / "docker-compose.yml"
CHART = ROOT / "infra" / "helm" / "openft"
DOCKERFILE = ROOT / "Dockerfile"

SETTINGS_ENV = {f"OPENFT_{name.upper()}" for name in Settings.model_fields}
#: boto3's standard variables (the S3 store uses boto3's default credential chain)
AWS_ENV = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_PROFILE",
    "AWS_CA_BUNDLE",
}
#: variables of the third-party images, as their documentation names them
INFRA_ENV = {
    "postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"},
    "minio": {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"},
    "minio-init": {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"},
    "redis": set(),
}
#: settings a role cannot run without in distributed mode (the defaults point at localhost)
REQUIRED = {
    "db": {"OPENFT_DATABASE_URL"},
    "api": {"OPENFT_DATABASE_URL", "OPENFT_STORE_URL"},
    "scheduler": {"OPENFT_DATABASE_URL", "OPENFT_REDIS_URL", "OPENFT_STORE_URL"},
    "worker": {"OPENFT_REDIS_URL", "OPENFT_STORE_URL"},
}
SECRET_VARS = ("POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "OPENFT_API_KEY")


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """``Settings()`` as the container would build it from exactly ``env``."""
    for name in list(os.environ):
        if name.startswith("OPENFT_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def role_of(command: list[str]) -> str:
    """The ``openft`` subcommand a container runs, checked against the CLI's parser."""
    args = build_parser().parse_args(command)
    assert args.func, command
    return command[0]


def check_role_env(role: str, names: set[str]) -> None:
    unknown = names - SETTINGS_ENV - AWS_ENV
    assert not unknown, f"{role}: names Settings does not read: {sorted(unknown)}"
    missing = REQUIRED[role] - names
    assert not missing, f"{role}: required settings not provided: {sorted(missing)}"
    if role == "worker":
        assert "OPENFT_DATABASE_URL" not in names, "GPU workers must not get database credentials"


# --- docker compose --------------------------------------------------------------------------
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_]\w*)(?::([?-])([^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation: ``${V}``, ``${V:-default}``, ``${V:?error}``, ``$$``."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.groups()
        value = env.get(name, "")
        if op == "?" and not value:
            raise ValueError(f"required variable {name} is missing: {arg}")
        if op == "-" and not value:
            return arg
        return value

    return _VAR.sub(sub, text)


COMPOSE_ENV = {
    "POSTGRES_PASSWORD": "pg-secret",
    "MINIO_ROOT_USER": "openft",
    "MINIO_ROOT_PASSWORD": "minio-secret",
    "OPENFT_API_KEY": "sk-bootstrap",
}


def interpolate_tree(node: Any, env: dict[str, str]) -> Any:
    """Interpolate every string of a parsed compose file (comments are not interpolated)."""
    if isinstance(node, dict):
        return {k: interpolate_tree(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(v, env) for v in node]
    return interpolate(node, env) if isinstance(node, str) else node


def load_compose(env: dict[str, str]) -> dict[str, Any]:
    parsed: dict[str, Any] = interpolate_tree(yaml.safe_load(COMPOSE.read_text()), env)
    return parsed


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose(COMPOSE_ENV)


def openft_services(compose: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, service in compose["services"].items():
        if str(service.get("image", "")).startswith("openft:"):
            yield name, service


def test_compose_secrets_are_required(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = COMPOSE.read_text()
    for name in SECRET_VARS:
        uses = re.findall(r"\$\{" + name + r"(:[?-][^}]*)?\}", raw)
        assert uses, f"{name} is not used"
        assert all(u.startswith(":?") for u in uses), f"{name} must be ${{{name}:?…}} everywhere"
    for name in SECRET_VARS:
        with pytest.raises(ValueError, match=name):
            load_compose({k: v for k, v in COMPOSE_ENV.items() if k != name})


def test_compose_services_and_env_match_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose["services"]
    assert set(services) >= {
        "postgres",
        "redis",
        "minio",
        "minio-init",
        "migrate",
        "api",
        "scheduler",
        "worker",
    }
    roles = {}
    for name, service in openft_services(compose):
        role = role_of(service["command"])
        roles[name] = role
        env = {k: str(v) for k, v in service.get("environment", {}).items()}
        check_role_env(role, set(env))
        settings = settings_from(env, monkeypatch)
        if role != "db":
            assert settings.resolved_store_url.startswith("s3://"), name
            assert settings.s3_endpoint_url == "http://minio:9000"
            assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(env), name
            assert env["AWS_ACCESS_KEY_ID"] == COMPOSE_ENV["MINIO_ROOT_USER"]
        if "OPENFT_DATABASE_URL" in env:
            assert settings.resolved_database_url == (
                "postgresql+psycopg://openft:pg-secret@postgres:5432/openft"
            )
            assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "pg-secret"
    assert sorted(roles.values()) == ["api", "db", "scheduler", "worker"]
    assert services["api"]["environment"]["OPENFT_API_KEY"] == "sk-bootstrap"
    for name, allowed in INFRA_ENV.items():
        unknown = set(services[name].get("environment", {})) - allowed
        assert not unknown, f"{name}: {unknown}"


def test_compose_ordering_health_and_gpu(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("postgres", "redis", "minio", "api", "scheduler", "worker"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("api", "scheduler"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert services["migrate"]["restart"] == "no" and services["minio-init"]["restart"] == "no"
    assert "mc mb --ignore-existing local/openft" in services["minio-init"]["command"][0]
    assert compose["services"]["api"]["environment"]["OPENFT_STORE_URL"].startswith("s3://openft/")
    devices = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert services["worker"]["environment"]["OPENFT_DEVICE"] == "cuda"


def test_dockerfile_has_the_targets_compose_builds(compose: dict[str, Any]) -> None:
    text = DOCKERFILE.read_text()
    stages = set(re.findall(r"^FROM \S+ AS (\w+)$", text, re.M))
    for name, service in openft_services(compose):
        assert service["build"]["target"] in stages, name
        assert service["build"]["dockerfile"] == "Dockerfile"
        assert (COMPOSE.parent / service["build"]["context"] / "Dockerfile").resolve() == DOCKERFILE
    assert text.count('ENTRYPOINT ["openft"]') == 2
    assert 'pip install ".[gpu]"' in text


# --- Helm ------------------------------------------------------------------------------------
CHART_VALUES = {
    "secrets": {
        "databaseUrl": "postgresql://openft:pw@db.internal:5432/openft",
        "redisUrl": "redis://:pw@redis.internal:6379/0",
        "apiKey": "sk-bootstrap",
        "awsAccessKeyId": "AKIAEXAMPLE",
        "awsSecretAccessKey": "secret",
        "wandbApiKey": "wandb-operator-key",
    },
    "config": {"s3_endpoint_url": "http://minio.minio:9000"},
}


def chart_values(**override: Any) -> dict[str, Any]:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    return merge_values(merge_values(values, CHART_VALUES), override)


def documents(rendered: dict[str, str]) -> list[dict[str, Any]]:
    docs = []
    for name, text in rendered.items():
        for doc in yaml.safe_load_all(text):
            if doc is not None:
                assert isinstance(doc, dict) and doc.get("kind"), name
                docs.append(doc)
    return docs


def containers(docs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            for container in doc["spec"]["template"]["spec"]["containers"]:
                yield doc, container


def container_env(container: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, str]:
    """The env a container sees: its ``env`` (secretKeyRef resolved) plus ``envFrom`` maps."""
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(by_name[("ConfigMap", source["configMapRef"]["name"])]["data"])
        else:
            env.update(by_name[("Secret", source["secretRef"]["name"])]["stringData"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        secret = by_name.get(("Secret", ref["name"]))
        if secret is None or ref["key"] not in secret["stringData"]:
            assert ref.get("optional") is True, f"{item['name']}: {ref} does not exist and is not optional"
            continue
        env[item["name"]] = secret["stringData"][ref["key"]]
    return env


def test_chart_config_keys_are_settings_fields() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    unknown = set(values["config"]) - set(Settings.model_fields)
    assert not unknown, f"values.config keys that are not Settings fields: {unknown}"
    assert not {"database_url", "redis_url", "api_key"} & set(values["config"]), "secrets go in secrets:"


def test_chart_renders_roles_with_exactly_the_settings_they_need(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = documents(render_chart(CHART, chart_values()))
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "Deployment",
        "Deployment",
        "Job",
        "Secret",
        "Secret",
        "Service",
    ]
    roles: dict[str, dict[str, str]] = {}
    for _doc, container in containers(docs):
        role = role_of(container["args"])
        names = {i["name"] for i in container.get("env", [])}
        for source in container.get("envFrom", []):
            assert "configMapRef" in source  # secrets only by explicit key, so each role gets its own
        env = container_env(container, docs)
        check_role_env(role, names | set(env))
        settings = settings_from(env, monkeypatch)
        if role != "db":
            assert settings.resolved_store_url == "s3://openft/artifacts"
            assert settings.s3_endpoint_url == "http://minio.minio:9000"
            assert env["AWS_ACCESS_KEY_ID"] == "AKIAEXAMPLE"
        if role in ("db", "api", "scheduler"):
            assert settings.resolved_database_url.startswith("postgresql+psycopg://openft:pw@db.internal")
        roles[role] = env
    assert set(roles) == {"db", "api", "scheduler", "worker"}
    assert roles["api"]["OPENFT_API_KEY"] == "sk-bootstrap" and roles["api"]["OPENFT_HOST"] == "0.0.0.0"
    assert "OPENFT_API_KEY" not in roles["worker"] and roles["worker"]["OPENFT_DEVICE"] == "cuda"
    assert roles["worker"]["OPENFT_REDIS_URL"] == "redis://:pw@redis.internal:6379/0"
    assert roles["worker"]["OPENFT_WANDB_API_KEY"] == "wandb-operator-key"  # workers log jobs to W&B


def test_chart_worker_gpu_service_and_migration_hook() -> None:
    docs = documents(render_chart(CHART, chart_values(worker={"gpusPerWorker": 2})))
    by_component = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d
        for d in docs
        if d["kind"] in ("Deployment", "Job")
    }
    worker = by_component["worker"]["spec"]["template"]["spec"]["containers"][0]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 2
    secret_refs = {i["valueFrom"]["secretKeyRef"]["name"] for i in worker["env"] if "valueFrom" in i}
    assert secret_refs == {"rel-openft-runtime"}  # never the database Secret

    api = by_component["api"]
    service = next(d for d in docs if d["kind"] == "Service")
    pod_labels = api["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert api["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    api_container = api["spec"]["template"]["spec"]["containers"][0]
    assert service["spec"]["ports"][0]["targetPort"] in {p["name"] for p in api_container["ports"]}
    assert api_container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api_container["livenessProbe"]["httpGet"]["path"] == "/healthz"

    job = by_component["migration"]
    hooks = job["metadata"]["annotations"]
    assert hooks["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["db", "upgrade"]
    database_secret = next(
        d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"].endswith("-database")
    )
    secret_hooks = database_secret["metadata"]["annotations"]
    # the Job is a pre-install hook, so the Secret it reads must be a hook that runs before it
    assert secret_hooks["helm.sh/hook"] == hooks["helm.sh/hook"]
    assert int(secret_hooks["helm.sh/hook-weight"]) < int(hooks["helm.sh/hook-weight"])


def test_chart_requires_its_secrets_or_existing_ones() -> None:
    values = chart_values()
    values["secrets"]["databaseUrl"] = ""
    with pytest.raises(RequiredValueMissing, match="databaseUrl"):
        render_chart(CHART, values)
    values["secrets"]["redisUrl"] = ""
    values["existingSecret"] = {"database": "corp-db", "runtime": "corp-runtime"}
    docs = documents(render_chart(CHART, values))
    assert not [d for d in docs if d["kind"] == "Secret"]
    refs = {
        i["valueFrom"]["secretKeyRef"]["name"]
        for _, c in containers(docs)
        for i in c["env"]
        if "valueFrom" in i
    }
    assert refs == {"corp-db", "corp-runtime"}


@pytest.mark.skipif(shutil.which("helm") is None, reason="helm is not installed")
def test_real_helm_lints_and_renders(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(CHART_VALUES))
    subprocess.run(["helm", "lint", str(CHART), "-f", str(values)], check=True, timeout=120)
    out = subprocess.run(
        ["helm", "template", "rel", str(CHART), "-f", str(values)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    real = [d for d in yaml.safe_load_all(out) if d]
    ours = documents(render_chart(CHART, chart_values()))
    assert sorted(d["kind"] for d in real) == sorted(d["kind"] for d in ours)
