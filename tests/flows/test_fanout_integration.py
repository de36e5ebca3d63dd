"""Issue 14's acceptance: the arms of one ablation fan out over real workers.

On 127.0.0.1: a Prefect server, an MLflow server and moto's S3 server as the shared store
(``GMS_STORE``); the deployments of prefect.yaml and the zombie-run automation of
prefect-automations.yaml; two process workers on queue ``default`` of pool ``gpu`` (``--limit 1``,
each pretending to be one GPU through ``GMS_DEVICE``/``CUDA_VISIBLE_DEVICES``), each in its own
checkout with its own ``runs/`` (a host each), and one worker on queue ``control`` for the
ablation's own flow run. ``prefect deployment run 'distill-ablation/toy-fanout'`` runs four arms,
each a group of its own; the worker training the long arm is killed (SIGKILL, with its flow
run's process) once that arm has pushed a checkpoint. Then: every arm finished, both GPU
workers ran arms, the killed group ran again on the other worker from the pushed checkpoint, and
Table 2's losses and mIoUs equal those of the same ablation run in one process without a store.
A second host (one more checkout, empty ``runs/``, same servers and store) runs the ablation
again and trains nothing. Every service is stopped by pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
import yaml

from gms_cli.stack.launcher import RunningService, free_ports, running_services
from gms_cli.stack.services import (
    MLFLOW_BUCKET,
    S3Endpoint,
    mlflow_server_spec,
    prefect_api_url,
    prefect_server_spec,
    prefect_worker_spec,
    s3_server_spec,
)

# About ten minutes on a quiet 2-core machine. Run it with `pytest -m integration`.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(3000)]

REPO = Path(__file__).resolve().parents[2]
STORE_BUCKET = "gms-store"
STORE = f"s3://{STORE_BUCKET}/shared"
LONG_ARM = "gmf_2282-long"
ARMS = {
    "gmf_2282": {},
    "resnet18": {},
    "gmf_2282-lr3e-3": {"arch": "gmf_2282", "lr": 3e-3},
    LONG_ARM: {"arch": "gmf_2282", "epochs": 12},
}
GPU_WORKERS = {"gpu0": "0", "gpu1": "1"}  # GMS_DEVICE label → CUDA_VISIBLE_DEVICES
#: Crashed after 45 s without a heartbeat (30 s, Prefect's shortest) instead of the file's 90.
ZOMBIE_AFTER_S = 45


def ablation_params(data_root: Path, dispatch: str) -> dict[str, object]:
    """The 4-arm toy ablation; ``runs`` is relative, so each checkout (host) has its own."""
    return {
        "experiment": f"it-fanout-{dispatch}",
        "arms": ARMS,
        "train_together": False,
        "dispatch": dispatch,
        "arm_retries": 1,
        "pick": None,
        "train": {"img_size": 64, "batch_size": 2, "epochs": 1, "num_workers": 0, "device": "cpu"},
        "export": {"decoder": False},
        "evaluate": {
            "max_images": 2,
            "mask_grid_images": 1,
            "profile_img_size": 64,
            "latency_runs": 1,
            "latency_runtimes": ["onnxruntime"],
        },
        "data": {"root": str(data_root), "demo_scale": "tiny"},
        "teacher": {"backend": "torch"},
        "tracking": {"runs_dir": "runs"},
        "torch_threads": 1,
    }


def checkout(dest: Path) -> Path:
    """A clone of this repository at its HEAD with the working tree's uncommitted changes on top
    (so that its code version, hence every cache key, is this checkout's)."""
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(dest)], check=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "--quiet", "--detach", head], check=True)

    def listed(*flags: str) -> list[str]:
        out = subprocess.run(
            ["git", "-C", str(REPO), "ls-files", "-z", "--exclude-standard", *flags],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return [p for p in out.split("\0") if p]

    deleted = set(listed("--deleted"))
    for path in deleted:
        (dest / path).unlink(missing_ok=True)
    for path in set(listed("--modified", "--others")) - deleted:
        (dest / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / path, dest / path)
    return dest


def api(api_url: str, path: str, body: dict[str, object]) -> list[dict[str, object]]:
    response = httpx.post(f"{api_url}/{path}", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def group_runs(api_url: str) -> dict[str, dict[str, object]]:
    """The flow runs the dispatch started (``g4-try0``, ...), by name."""
    runs = api(api_url, "flow_runs/filter", {"flow_runs": {"tags": {"all_": ["arm-group"]}}})
    return {str(r["name"]): r for r in runs}


def store_keys(endpoint: S3Endpoint, prefix: str) -> list[str]:
    pages = (
        endpoint.client()
        .get_paginator("list_objects_v2")
        .paginate(Bucket=STORE_BUCKET, Prefix=prefix)
    )
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def wait_for(
    what: str, ready: Callable[[], bool], timeout_s: float, log: Callable[[], str]
) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{log()[-6000:]}"
        time.sleep(1.0)


def table2_numbers(host: Path, stem: str = "table2_distill_ablation") -> dict[str, tuple]:
    """(last_loss, miou) per arm of a host's Table 2."""
    metrics = json.loads((host / "runs" / "tables" / f"{stem}_metrics.json").read_text())
    return {arm: (m["last_loss"], m["miou"]) for arm, m in metrics.items() if arm in ARMS}


def gms_run(host: Path, params_file: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``gms run distill-ablation`` in ``host`` (its own code, its own ``runs/``)."""
    return subprocess.run(
        [sys.executable, "-c", "from gms_cli.main import app; app()", "run", "distill-ablation",
         "--params", str(params_file)],
        cwd=host, env=env, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip


def run_params_file(path: Path, data_root: Path) -> Path:
    """params.yaml of the in-process runs: the ablation's section plus the shared sections."""
    values = ablation_params(data_root, "local")
    shared = {k: values.pop(k) for k in ("data", "teacher", "tracking", "torch_threads")}
    path.write_text(yaml.safe_dump({"distill_ablation": values, **shared}))
    return path


@dataclass
class FannedOut:
    tmp: Path
    api_url: str
    client_env: dict[str, str]
    control: Path
    data_root: Path
    runs: dict[str, dict[str, object]]
    killed: str
    """GMS_DEVICE label of the killed worker."""
    killed_run: str
    logs: dict[str, str]
    """Worker logs by GMS_DEVICE label (and `control`)."""


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.pop("GMS_STORE", None)
    return {**env, "COLUMNS": "250", "DO_NOT_TRACK": "true", **extra}


@pytest.fixture(scope="module")
def fanned_out(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FannedOut]:
    tmp = tmp_path_factory.mktemp("fanout")
    prefect_port, mlflow_port, s3_port = free_ports(3)
    api_url = prefect_api_url(prefect_port)
    s3 = S3Endpoint(url=f"http://127.0.0.1:{s3_port}")
    client_env = {
        **s3.client_env(),
        "PREFECT_API_URL": api_url,
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{mlflow_port}",
        "GMS_STORE": STORE,
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
    }
    hosts = {name: checkout(tmp / name) for name in ("control", *GPU_WORKERS)}
    workers = [
        prefect_worker_spec(
            api_url,
            tmp / "prefect-home" / label,
            name=label,
            queues=("default",),
            env={**client_env, "GMS_DEVICE": label, "CUDA_VISIBLE_DEVICES": gpu},
            cwd=hosts[label],
        )
        for label, gpu in GPU_WORKERS.items()
    ]
    workers.append(
        prefect_worker_spec(
            api_url,
            tmp / "prefect-home" / "control",
            name="control",
            limit=None,
            queues=("control",),
            env=client_env,
            cwd=hosts["control"],
        )
    )
    specs = [
        s3_server_spec(s3_port, endpoint=s3, buckets=(MLFLOW_BUCKET, STORE_BUCKET)),
        prefect_server_spec(prefect_port, tmp / "prefect"),
        mlflow_server_spec(mlflow_port, tmp / "mlflow", s3=s3),
    ]

    def prefect(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(Path(sys.executable).with_name("prefect")), "--no-prompt", *args],
            cwd=REPO, env=clean_env({"PREFECT_API_URL": api_url}),
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done

    with running_services(specs, tmp / "servers"):
        prefect("work-pool", "create", "gpu", "--type", "process")
        assert "distill-ablation/toy-fanout" in prefect("deploy", "--all").stdout
        automations = yaml.safe_load((REPO / "prefect-automations.yaml").read_text())
        for automation in automations["automations"]:
            automation["trigger"]["within"] = ZOMBIE_AFTER_S
        prefect("automation", "create", "--from-json", json.dumps(automations["automations"]))
        # the workers start once the servers run: no dependency between the two sets
        workers = [replace(w, depends_on=()) for w in workers]
        with running_services(workers, tmp / "workers") as started:
            yield run_and_kill(tmp, api_url, s3, client_env, hosts["control"], started, prefect)


def run_and_kill(
    tmp: Path,
    api_url: str,
    s3: S3Endpoint,
    client_env: dict[str, str],
    control: Path,
    workers: dict[str, RunningService],
    prefect: Callable[..., subprocess.CompletedProcess[str]],
) -> FannedOut:
    """Trigger the ablation, SIGKILL the worker (and flow-run process) training the long arm
    once the arm's first checkpoint is on the store, wait for the ablation to end."""
    data_root = tmp / "data"
    params = {"params": ablation_params(data_root, "deployments")}
    run = subprocess.Popen(
        [str(Path(sys.executable).with_name("prefect")), "--no-prompt", "deployment", "run",
         "distill-ablation/toy-fanout", "--params", json.dumps(params),
         "--watch", "--watch-interval", "5", "--watch-timeout", "2400"],
        cwd=REPO, env=clean_env({"PREFECT_API_URL": api_url}),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip

    def logs() -> str:
        return "\n".join(w.log.read_text(errors="replace")[-3000:] for w in workers.values())

    long_group = "g4-try0"  # the fourth arm, a group of its own

    def long_arm_checkpointed() -> bool:
        assert run.poll() is None, f"the ablation ended early: {run.communicate()[0][-3000:]}"
        keys = store_keys(s3, f"shared/work/distill/{LONG_ARM}-")
        assert not any(k.endswith("/outputs.json") for k in keys), "the long arm ended unkilled"
        return any(k.endswith(".pt") for k in keys)

    wait_for("the long arm's first pushed checkpoint", long_arm_checkpointed, 1200, logs)
    infra = str(group_runs(api_url)[long_group]["infrastructure_pid"])
    flow_pid = int(infra.rsplit(":", 1)[-1])
    parent = int(Path(f"/proc/{flow_pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    killed = next(label for label, w in workers.items() if w.pid == parent)
    os.killpg(workers[killed].pid, signal.SIGKILL)  # the host dies: its worker ...
    with contextlib.suppress(ProcessLookupError):
        os.kill(flow_pid, signal.SIGKILL)  # ... and the flow run's process (its own session)
    out, _ = run.communicate(timeout=2700)
    assert run.returncode == 0 and "Completed" in out, out[-3000:] + logs()
    return FannedOut(
        tmp=tmp,
        api_url=api_url,
        client_env=client_env,
        control=control,
        data_root=data_root,
        runs=group_runs(api_url),
        killed=killed,
        killed_run=long_group,
        logs={label: w.log.read_text(errors="replace") for label, w in workers.items()},
    )


def ran_on(result: FannedOut, run: dict[str, object]) -> str:
    """The GMS_DEVICE label of the worker whose log shows it submitting ``run``."""
    (label,) = [
        label
        for label, log in result.logs.items()
        if re.search(rf"submitting flow run '{run['id']}'", log)
    ]
    return label


def test_arms_fan_out_over_both_workers_and_survive_a_killed_one(fanned_out: FannedOut) -> None:
    result = fanned_out
    states = {name: run["state_type"] for name, run in result.runs.items()}
    assert states[result.killed_run] == "CRASHED", states
    assert states["g4-try1"] == "COMPLETED", states
    completed = {n: r for n, r in result.runs.items() if r["state_type"] == "COMPLETED"}
    assert sorted(completed) == ["g1-try0", "g2-try0", "g3-try0", "g4-try1"], states
    where = {name: ran_on(result, run) for name, run in completed.items()}
    assert set(where.values()) == set(GPU_WORKERS), where  # both workers trained arms
    assert ran_on(result, result.runs[result.killed_run]) == result.killed
    assert where["g4-try1"] != result.killed  # the retry went to the surviving worker
    # the ablation's own run built Table 2 from the groups' work on the store, training nothing
    assert "distilling" not in result.logs["control"], result.logs["control"][-4000:]
    # the retry resumed from the epoch the killed run had pushed: its first epoch is the 2nd
    survivor_log = result.logs[where["g4-try1"]]
    assert f"{LONG_ARM} epoch 12:" in survivor_log, survivor_log[-4000:]
    assert f"{LONG_ARM} epoch 1:" not in survivor_log, survivor_log[-4000:]

    # the same ablation in one process, no store, no workers: same seeds, same numbers
    reference = checkout(result.tmp / "one-process")
    params_file = run_params_file(result.tmp / "one-process.yaml", result.data_root)
    env = clean_env({"PREFECT_API_URL": result.api_url})
    done = gms_run(reference, params_file, env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert table2_numbers(result.control) == table2_numbers(reference)


def test_a_second_host_reuses_the_finished_arms(fanned_out: FannedOut) -> None:
    result = fanned_out
    host = checkout(result.tmp / "second-host")
    assert not (host / "runs").exists()
    params_file = run_params_file(result.tmp / "second-host.yaml", result.data_root)
    done = gms_run(host, params_file, clean_env(result.client_env))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    for arm in ARMS:
        assert f"{arm}: reusing the finished distillation" in output, output[-6000:]
    assert "distilling" not in output and " epoch " not in output, output[-6000:]
    assert table2_numbers(host) == table2_numbers(result.control)
