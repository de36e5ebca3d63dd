"""docker/: lint the images, parse the compose file, and keep every version pin equal to uv.lock.

The images cannot be built here (no Docker, no GPU); these checks catch what can be caught
without building them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

SERVICES = ("prefect-server", "mlflow", "minio", "gpu-worker")
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


def _labels(dockerfile: str) -> dict[str, str]:
    return dict(re.findall(r'(org\.gms\.[\w-]+)="([^"]+)"', dockerfile))


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_passes_hadolint(docker_dir: Path, name: str) -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), str(docker_dir / name)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_names_every_service_with_healthcheck_and_volume(compose: dict) -> None:
    services = compose["services"]
    assert set(SERVICES) <= set(services)
    declared_volumes = set(compose["volumes"])
    for name in SERVICES:
        service = services[name]
        assert "test" in service["healthcheck"], f"{name} has no healthcheck"
        mounted = {v.split(":", 1)[0] for v in service.get("volumes", [])}
        assert mounted and mounted <= declared_volumes, f"{name} lacks a named volume"
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_gpu_worker_reserves_nvidia_gpus_and_finds_the_servers(compose: dict) -> None:
    worker = compose["services"]["gpu-worker"]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    env = worker["environment"]
    assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert set(worker["depends_on"]) == {"prefect-server", "mlflow"}


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
    example = dict(
        line.split("=", 1)
        for line in (docker_dir / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert required == {"S3_ACCESS_KEY", "S3_SECRET_KEY"}
    assert required <= set(example)
    assert with_default - set(example) <= {"GMS_GPUS"}  # optional, documented commented out
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"SECRET|PASSWORD|ACCESS_KEY", key):
                assert str(value).startswith("${"), f"{name}.{key} holds a literal secret"
    assert ".env" in (docker_dir / ".gitignore").read_text().split()


def test_versions_match_uv_lock(docker_dir: Path, compose: dict, locked: dict[str, str]) -> None:
    worker = (docker_dir / "worker.Dockerfile").read_text()
    labels = _labels(worker)
    for package in ("torch", "tensorrt", "prefect", "mlflow"):
        assert labels[f"org.gms.{package}"] == locked[package], package
    cuda_major = labels["org.gms.cuda-major"]
    assert locked["nvidia-cuda-runtime"].split(".")[0] == cuda_major
    assert f"tensorrt-cu{cuda_major}" in locked
    assert "uv sync --frozen --no-dev --extra tensorrt" in worker

    pins = dict(re.findall(r"([\w-]+)==([\w.]+)", (docker_dir / "mlflow.Dockerfile").read_text()))
    assert pins == {"mlflow": locked["mlflow"], "boto3": locked["boto3"]}

    services = compose["services"]
    prefect_tag = services["prefect-server"]["image"].split(":", 1)[1]
    assert prefect_tag.split("-python")[0] == locked["prefect"]
    assert services["mlflow"]["image"] == f"gms-mlflow:{locked['mlflow']}"
    assert services["gpu-worker"]["image"] == f"gms-worker:{locked['gms']}"


def test_images_are_pinned_by_tag(docker_dir: Path, compose: dict) -> None:
    bases = []
    for name in DOCKERFILES:
        text = (docker_dir / name).read_text()
        bases += re.findall(r"^FROM\s+(\S+)", text, flags=re.M)
        bases += re.findall(r"COPY --from=(\S+)", text)
    bases += [s["image"] for s in compose["services"].values() if "build" not in s]
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
