"""The champion is deployable from the registry, for real: an MLflow server with its artifacts in
S3 (moto) and Prefect's test server on 127.0.0.1; a toy ablation and its pick, twice; then the
champion's package loaded by ``mlflow.pyfunc`` in a fresh venv holding only the package's own
requirements (no torch, no Prefect, no repository code) and served by ``mlflow models serve``
from that venv, and used by ``gms segment --model`` — the same masks all three ways; no
``mlruns/`` anywhere; and a wiped store reported as an error, not an empty download."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from flows.params import DistillAblationParams
from gms_cli.main import app
from gms_cli.stack.launcher import free_ports, running_services
from gms_cli.stack.services import S3Endpoint, mlflow_server_spec, s3_server_spec
from gms_models.train.config import Arm
from tasks.registry import RegistryError, download_package, lost_versions
from tests.flows.test_distill_ablation_flow import tiny_params
from tests.tolerances import (
    ORT_MASK_FLIP_FRACTION,
    ORT_STUDENT_IOU_ATOL,
    ORT_STUDENT_LOGITS_ATOL,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(1800),
    pytest.mark.usefixtures("prefect_harness"),
]

REPO = Path(__file__).resolve().parents[2]
IMAGE = "000000104455"
BOXES = ["40,60,300,380", "320,100,600,400"]
POINT = "250,200"
CHAMPION = "models:/gms-encoder@champion"
PREDICT = """
import base64, json, sys
import mlflow.pyfunc, numpy as np
requests = json.load(open(sys.argv[1]))
model = mlflow.pyfunc.load_model(sys.argv[2])
answers = model.predict(requests)
np.savez(sys.argv[3], **{f"{k}.{i}": v for i, a in enumerate(answers) for k, v in a.items()})
assert not [m for m in sys.modules if m.split(".")[0] in ("torch", "prefect")]
"""
PACKAGE_REQUIREMENTS = {"mlflow", "onnxruntime", "numpy", "pillow"}


def torch_free_python(folder: Path, model_uri: str) -> Path:
    """A fresh venv holding what the package's ``requirements.txt`` names and nothing of this
    project: no torch, no Prefect, no repository code. What those requirements pull in is held
    to uv.lock's versions (so uv installs from its cache; ``UV_OFFLINE=1`` where no index can
    be reached)."""
    import mlflow.pyfunc
    from packaging.requirements import Requirement

    requirements = Path(mlflow.pyfunc.get_model_dependencies(model_uri, format="pip"))
    lines = requirements.read_text().split()
    assert {Requirement(line).name.lower() for line in lines} == PACKAGE_REQUIREMENTS, lines
    constraints = folder.with_name("uv-lock-constraints.txt")
    export = ["uv", "export", "--frozen", "--no-hashes", "--no-emit-project", "-q"]
    constraints.write_text(subprocess.check_output(export, cwd=REPO, text=True))
    subprocess.run(["uv", "venv", "-q", "--python", sys.executable, str(folder)], check=True)
    python = folder / "bin" / "python"
    install = ["uv", "pip", "install", "-q", "--python", str(python)]
    subprocess.run([*install, "-r", str(requirements), "-c", str(constraints)], check=True)
    absent = (
        "import importlib.util as u; print([m for m in ('torch', 'prefect', 'tasks', "
        "'gms_models') if u.find_spec(m)])"
    )
    found = subprocess.check_output([python, "-c", absent], text=True, env=venv_env(python))
    assert found.strip() == "[]", found
    return python


def venv_env(python: Path) -> dict[str, str]:
    """This process's environment with the venv's ``bin`` first on PATH (``mlflow models serve``
    starts ``uvicorn`` from PATH) and no path into this repository."""
    path = f"{python.parent}{os.pathsep}{os.environ['PATH']}"
    return {**os.environ, "PATH": path, "PYTHONPATH": "", "PYTHONSAFEPATH": "1"}


def one_arm_params(data: Path, runs_dir: Path) -> DistillAblationParams:
    """The toy ablation of the flow tests with its one good arm, in an experiment of its own."""
    return tiny_params(data, runs_dir).model_copy(
        update={"experiment": "it-registry", "arms": {"gmf_2282": Arm()}}
    )


def gms_segment(out: Path, image: Path, *prompts: str) -> dict[str, np.ndarray]:
    result = CliRunner().invoke(
        app, ["segment", "--model", CHAMPION, "--image", str(image), "--out", str(out), *prompts]
    )
    assert result.exit_code == 0, (result.output, result.exception)
    with np.load(out) as npz:
        return dict(npz)


def assert_same_answer(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    """Two ONNX Runtime processes agree to float32 noise; a mask may flip where a logit is ~0."""
    np.testing.assert_allclose(
        got["low_res_logits"], expected["low_res_logits"], atol=ORT_STUDENT_LOGITS_ATOL
    )
    np.testing.assert_allclose(
        got["iou_predictions"], expected["iou_predictions"], atol=ORT_STUDENT_IOU_ATOL
    )
    masks = np.asarray(got["masks"], bool)
    assert masks.shape == expected["masks"].shape
    flipped = int((masks != expected["masks"]).sum())
    assert flipped <= max(5, ORT_MASK_FLIP_FRACTION * masks.size), flipped


def serve(python: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [python, "-m", "mlflow", "models", "serve", "-m", CHAMPION]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    env = venv_env(python)
    assert shutil.which("uvicorn", path=env["PATH"]) == str(python.parent / "uvicorn")
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5):
                return process
        except OSError:
            assert process.poll() is None, log.read_text()[-3000:]
            time.sleep(2)
    os.killpg(process.pid, signal.SIGKILL)
    raise AssertionError(f"mlflow models serve did not answer: {log.read_text()[-3000:]}")


def test_champion_package_loads_serves_and_segments_like_gms_segment(
    tmp_path: Path, tiny_data: Path, coco_mini: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    from flows.distill_ablation import distill_ablation

    s3_port, mlflow_port, serve_port = free_ports(3)
    s3 = S3Endpoint(url=f"http://127.0.0.1:{s3_port}")
    specs = [
        s3_server_spec(s3_port, endpoint=s3),
        mlflow_server_spec(mlflow_port, tmp_path / "mlflow", s3=s3),
    ]
    tracking_uri = f"http://127.0.0.1:{mlflow_port}"
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    mlruns_before = (REPO / "mlruns").exists()
    image = coco_mini / "val2017" / f"{IMAGE}.jpg"
    with running_services(specs, tmp_path / "stack"):
        client = MlflowClient(tracking_uri)
        params = one_arm_params(tiny_data, tmp_path / "runs")
        first = distill_ablation(params)
        versions = client.search_model_versions("name='gms-encoder'")
        champion = client.get_model_version_by_alias("gms-encoder", "champion")
        second = distill_ablation(params)
        assert first.champion is not None and second.champion is not None
        assert len(client.search_model_versions("name='gms-encoder'")) == len(versions) == 1
        again = client.get_model_version_by_alias("gms-encoder", "champion")
        assert again.version == champion.version == first.champion.version

        # The version is the package, described where users look.
        for tag in ("gms.sha256", "miou", "latency_ms_onnxruntime", "params_m", "gms.pick_reason"):
            assert tag in again.tags, tag
        assert "Table 2 row" in again.description and "Picked as `champion`" in again.description
        experiment = client.get_experiment_by_name("it-registry")
        logged = client.get_logged_model(again.source.removeprefix("models:/"))
        assert logged.experiment_id == experiment.experiment_id
        assert client.get_run(first.champion.run_id).data.tags["gms.champion"] == "champion"

        by_boxes = gms_segment(tmp_path / "boxes.npz", image, "--box", BOXES[0], "--box", BOXES[1])
        by_point = gms_segment(tmp_path / "point.npz", image, "--point", POINT)
        expected = {
            k: np.concatenate([by_boxes[k], by_point[k]])
            for k in ("masks", "iou_predictions", "low_res_logits")
        }
        request = {
            "image": base64.b64encode(image.read_bytes()).decode(),
            "prompts": [
                {"box": [float(v) for v in BOXES[0].split(",")]},
                {"box": [float(v) for v in BOXES[1].split(",")]},
                {"points": [[float(v) for v in POINT.split(",")]], "labels": [1]},
            ],
        }
        # One point is ambiguous: SAM's three candidates, as `gms segment --multimask`.
        by_point_3 = gms_segment(tmp_path / "point3.npz", image, "--point", POINT, "--multimask")
        multimask = {**request, "prompts": request["prompts"][2:], "multimask": True}
        expected_3 = {
            k: by_point_3[k][None] for k in ("masks", "iou_predictions", "low_res_logits")
        }
        request_file = tmp_path / "requests.json"
        request_file.write_text(json.dumps([request, multimask]))

        python = torch_free_python(tmp_path / "venv", CHAMPION)
        predicted = tmp_path / "pyfunc.npz"
        run = subprocess.run(
            [python, "-c", PREDICT, request_file, CHAMPION, predicted],
            capture_output=True, text=True, env=venv_env(python), cwd=work, timeout=600,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-4000:]
        with np.load(predicted) as npz:
            for i, want in enumerate((expected, expected_3)):
                assert_same_answer({k: npz[f"{k}.{i}"] for k in want}, want)

        process = serve(python, serve_port, tmp_path / "serve.log")
        try:
            post = urllib.request.Request(
                f"http://127.0.0.1:{serve_port}/invocations",
                data=json.dumps({"inputs": [request]}).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(post, timeout=300) as response:
                (served,) = json.load(response)["predictions"]
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        assert_same_answer({k: np.array(v) for k, v in served.items()}, expected)

        assert not list(tmp_path.rglob("mlruns")) and (REPO / "mlruns").exists() == mlruns_before

        # The store loses the files (as moto does on `gms stack down`): every path says so.
        import boto3

        bucket = boto3.resource(
            "s3",
            endpoint_url=s3.url,
            aws_access_key_id=s3.access_key,
            aws_secret_access_key=s3.secret_key,
            region_name=s3.region,
        ).Bucket("gms-mlflow")
        bucket.objects.all().delete()
        with pytest.raises(
            RegistryError, match=rf"version {again.version} of gms-encoder.*models:/"
        ):
            download_package(CHAMPION, tracking_uri, tmp_path / "gone")
        assert lost_versions(tracking_uri) == [f"gms-encoder/{again.version} -> {again.source}"]
