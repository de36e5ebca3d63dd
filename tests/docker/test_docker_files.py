"""docker/: lint the images, parse the compose files, validate the work-pool job templates, and
keep every version pin equal to uv.lock.

The images cannot be built and no Docker engine or Kubernetes cluster runs here (no GPU either);
these checks catch what can be caught without them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from prefect.utilities.templating import apply_values

CENTRAL_SERVICES = ("prefect-server", "mlflow", "minio", "postgres")
BIND = "${GMS_BIND_ADDRESS:-127.0.0.1}:"
DOCKERFILES = ("worker.Dockerfile", "mlflow.Dockerfile")


@pytest.fixture(scope="module")
def docker_dir(repo_root: Path) -> Path:
    return repo_root / "docker"


@pytest.fixture(scope="module")
def locked(repo_root: Path) -> dict[str, str]:
    """Package name -> version resolved in uv.lock."""
    lock = tomllib.loads((repo_root / "uv.lock").read_text())
    return {p["name"]: p["version"] for p in lock["package"]}


@pytest.fixture(scope="module")
def compose(docker_dir: Path) -> dict:
    return yaml.safe_load((docker_dir / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def worker_compose(docker_dir: Path) -> dict:
    return yaml.safe_load((docker_dir / "worker-compose.yaml").read_text())


def _env_file(path: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line and not line.startswith("#")
    )


def _labels(dockerfile: str) -> dict[str, str]:
    return dict(re.findall(r'(org\.gms\.[\w-]+)="([^"]+)"', dockerfile))


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_passes_hadolint(docker_dir: Path, name: str) -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), str(docker_dir / name)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_names_every_service_with_healthcheck_and_volume(
    compose: dict, worker_compose: dict
) -> None:
    services = compose["services"]
    assert set(CENTRAL_SERVICES) <= set(services) and "gpu-worker" not in services
    for file, names in ((compose, CENTRAL_SERVICES), (worker_compose, ("gpu-worker",))):
        declared_volumes = set(file["volumes"])
        for name in names:
            service = file["services"][name]
            assert "test" in service["healthcheck"], f"{name} has no healthcheck"
            mounted = {v.split(":", 1)[0] for v in service.get("volumes", [])}
            named = {v for v in mounted if not v.startswith(".")}
            assert named and named <= declared_volumes, f"{name} lacks a named volume"
    for name, service in services.items():
        for port in service.get("ports", []):
            # loopback unless the operator sets GMS_BIND_ADDRESS for the GPU hosts to join
            assert port.startswith(BIND), f"{name} publishes {port} past GMS_BIND_ADDRESS"


def test_servers_keep_their_state_in_postgres(compose: dict, docker_dir: Path) -> None:
    services = compose["services"]
    prefect_db = services["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert prefect_db.startswith("postgresql+asyncpg://") and prefect_db.endswith(
        "@postgres:5432/prefect"
    )
    (mlflow_db,) = [a for a in services["mlflow"]["command"] if a.startswith("--backend-store-uri")]
    assert mlflow_db.startswith("--backend-store-uri=postgresql://")
    assert mlflow_db.endswith("@postgres:5432/mlflow")
    for name in ("prefect-server", "mlflow"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    init = "".join(p.read_text() for p in (docker_dir / "postgres-init").glob("*.sql"))
    assert "CREATE DATABASE mlflow" in init
    assert "psycopg2-binary==" in (docker_dir / "mlflow.Dockerfile").read_text()


def test_gpu_worker_joins_servers_named_by_its_env_file(
    worker_compose: dict, docker_dir: Path
) -> None:
    worker = worker_compose["services"]["gpu-worker"]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert "depends_on" not in worker and worker["network_mode"] == "host"
    text = (docker_dir / "worker-compose.yaml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert {"PREFECT_API_URL", "MLFLOW_TRACKING_URI", "MLFLOW_S3_ENDPOINT_URL"} <= required
    assert required <= set(_env_file(docker_dir / "worker.env.example"))
    for key in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI", "MLFLOW_S3_ENDPOINT_URL"):
        assert worker["environment"][key].startswith(f"${{{key}:?"), key
    assert "worker.env" in (docker_dir / ".gitignore").read_text().split()


def test_buckets_are_created_before_mlflow_starts(compose: dict) -> None:
    services = compose["services"]
    assert services["mlflow"]["depends_on"]["createbuckets"]["condition"] == (
        "service_completed_successfully"
    )
    command = " ".join(services["createbuckets"]["command"])
    assert "gms/gms-mlflow" in command and "gms/gms-dvc" in command
    assert "--artifacts-destination=s3://gms-mlflow/" in services["mlflow"]["command"]


def test_credentials_come_from_the_env_file_only(docker_dir: Path, compose: dict) -> None:
    text = (docker_dir / "compose.yaml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    with_default = set(re.findall(r"\$\{(\w+):-", text))
    example = _env_file(docker_dir / ".env.example")
    assert required == {"S3_ACCESS_KEY", "S3_SECRET_KEY", "POSTGRES_PASSWORD"}
    assert required <= set(example)
    assert with_default <= set(example)
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"SECRET|PASSWORD|ACCESS_KEY", key):
                assert str(value).startswith("${"), f"{name}.{key} holds a literal secret"
    assert ".env" in (docker_dir / ".gitignore").read_text().split()


def test_versions_match_uv_lock(
    docker_dir: Path, compose: dict, worker_compose: dict, locked: dict[str, str]
) -> None:
    worker = (docker_dir / "worker.Dockerfile").read_text()
    labels = _labels(worker)
    for package in ("torch", "tensorrt", "prefect", "mlflow"):
        assert labels[f"org.gms.{package}"] == locked[package], package
    cuda_major = labels["org.gms.cuda-major"]
    assert locked["nvidia-cuda-runtime"].split(".")[0] == cuda_major
    assert f"tensorrt-cu{cuda_major}" in locked
    assert "uv sync --frozen --no-dev --extra tensorrt" in worker

    pins = dict(re.findall(r"([\w-]+)==([\w.]+)", (docker_dir / "mlflow.Dockerfile").read_text()))
    assert {k: v for k, v in pins.items() if k in locked} == {
        "mlflow": locked["mlflow"],
        "boto3": locked["boto3"],
    }

    services = compose["services"]
    prefect_tag = services["prefect-server"]["image"].split(":", 1)[1]
    assert prefect_tag.split("-python")[0] == locked["prefect"]
    assert services["mlflow"]["image"] == f"gms-mlflow:{locked['mlflow']}"
    assert worker_compose["services"]["gpu-worker"]["image"] == f"gms-worker:{locked['gms']}"


def test_images_are_pinned_by_tag(docker_dir: Path, compose: dict, worker_compose: dict) -> None:
    bases = []
    for name in DOCKERFILES:
        text = (docker_dir / name).read_text()
        bases += re.findall(r"^FROM\s+(\S+)", text, flags=re.M)
        bases += re.findall(r"COPY --from=(\S+)", text)
    for file in (compose, worker_compose):
        bases += [s["image"] for s in file["services"].values() if "build" not in s]
    for image in bases:
        tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{image} is not pinned"


def test_worker_image_ships_its_entrypoint(docker_dir: Path) -> None:
    dockerfile = (docker_dir / "worker.Dockerfile").read_text()
    ignore = (docker_dir / "worker.Dockerfile.dockerignore").read_text().split()
    for script in ("worker-entrypoint.sh", "worker-healthcheck.sh"):
        assert f"!docker/{script}" in ignore
        assert os.access(docker_dir / script, os.X_OK)
        check = subprocess.run(["bash", "-n", str(docker_dir / script)], capture_output=True)
        assert check.returncode == 0, check.stderr
    assert 'ENTRYPOINT ["/opt/gms/docker/worker-entrypoint.sh"]' in dockerfile


def test_worker_entrypoint_refuses_to_start_without_a_gpu(docker_dir: Path, tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path)}  # no nvidia-smi (nor anything else) to be found
    bash = shutil.which("bash")
    assert bash is not None
    result = subprocess.run(
        [bash, str(docker_dir / "worker-entrypoint.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert result.returncode == 1
    assert "no GPU visible" in result.stderr


def _rendered(template: dict) -> dict:
    """The job configuration with every variable at its default, rendered by Prefect itself."""
    jsonschema.Draft202012Validator.check_schema(template["variables"])
    defaults = {k: v["default"] for k, v in template["variables"]["properties"].items()}
    defaults["command"] = "prefect flow-run execute"
    return apply_values(template["job_configuration"], defaults)


def test_kubernetes_pool_asks_one_gpu_per_flow_run_in_a_valid_job(docker_dir: Path) -> None:
    template = json.loads((docker_dir / "work-pools" / "kubernetes-gpu.json").read_text())
    manifest = _rendered(template)["job_manifest"]
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    # what the Kubernetes worker does before it submits: split the command, list the env
    container["args"] = container["args"].split()
    container["env"] = [{"name": k, "value": v} for k, v in container["env"].items()]
    kubernetes_validate.validate(manifest, "1.37.0", strict=True)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["image"] == "gms-worker:0.1.0"
    # the image's entrypoint starts workers; a job runs the flow run instead
    assert container["command"] == ["/usr/bin/env"]


def test_docker_pool_hands_each_container_its_gpus(docker_dir: Path) -> None:
    template = json.loads((docker_dir / "work-pools" / "docker-gpu.json").read_text())
    config = _rendered(template)
    kwargs = config["container_create_kwargs"]
    (request,) = kwargs["device_requests"]
    assert request == {"driver": "nvidia", "device_ids": ["0"], "capabilities": [["gpu"]]}
    assert kwargs["entrypoint"] == ["/usr/bin/env"] and kwargs["working_dir"] == "/opt/gms"
    assert config["image"] == "gms-worker:0.1.0"


def test_flow_runs_work_in_the_checkout_their_worker_names(
    repo_root: Path, docker_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prefect.yaml's pull step enters $GMS_HOME: its inputs resolved as Prefect's run_step
    resolves them, against the upstream steps' outputs (none), then the worker's environment."""
    spec = yaml.safe_load((repo_root / "prefect.yaml").read_text())
    ((fqn, inputs),) = [step.popitem() for step in spec["pull"]]
    assert fqn == "prefect.deployments.steps.set_working_directory"
    monkeypatch.setenv("GMS_HOME", "/opt/gms")
    resolved = apply_values(apply_values(inputs, {}), dict(os.environ))
    assert resolved == {"directory": "/opt/gms"}
    assert "GMS_HOME=/opt/gms" in (docker_dir / "worker.Dockerfile").read_text()
