"""Issue 17 item 5, the mechanisms (fast): what a SIGKILL of ``gms run`` would leave is cleaned.

- a service started ``die_with_parent`` (the run's temporary Prefect server) dies with the
  process that started it, also by SIGKILL;
- the next run stops a recorded temporary server whose owner is gone, and leaves a live owner's;
- the next flow run in an experiment ends as KILLED the MLflow runs a dead process left RUNNING,
  and leaves those of live processes and of other hosts.

Real processes and a real (SQLite) MLflow store; the last test (slow) SIGKILLs a real
``gms run distill-ablation`` reporting to a real MLflow server, then runs it again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow import MlflowClient

from flows.common import FlowSetup, fan_out
from gms_cli.stack.launcher import (
    RunningService,
    ServiceSpec,
    free_ports,
    read_state,
    running_services,
    start_services,
)
from gms_cli.stack.services import mlflow_server_spec
from gms_cli.stack.temporary import SERVERS_DIR, sweep_orphaned_servers
from gms_models.owner import owner_token
from tasks.caching import CodeVersion
from tasks.tracking import OWNER_TAG, local_store_uri

SLEEPER = (sys.executable, "-c", "import time; time.sleep(600)")


def dead_pid() -> int:
    """The pid of a process of this host that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def wait_gone(service: RunningService, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while service.is_alive():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_service_started_to_die_with_its_parent_dies_with_it_on_sigkill(tmp_path: Path) -> None:
    state = tmp_path / "state"
    starter = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from gms_cli.stack.launcher import ServiceSpec, start_services
        spec = ServiceSpec(name="sleeper", command={SLEEPER!r}, die_with_parent=True)
        start_services([spec], Path({str(state)!r}))
        print("started", flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "started"
        (child,) = read_state(state)
        assert child.is_alive()
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert wait_gone(child), f"pid {child.pid} outlived the SIGKILLed process that started it"


def test_the_next_run_stops_a_server_whose_owner_is_gone(tmp_path: Path) -> None:
    home = tmp_path / "prefect"
    orphan_record = home / SERVERS_DIR / owner_token(dead_pid())
    live_record = home / SERVERS_DIR / owner_token()
    (orphan,) = start_services([ServiceSpec(name="prefect-server", command=SLEEPER)], orphan_record)
    (live,) = start_services([ServiceSpec(name="prefect-server", command=SLEEPER)], live_record)
    try:
        assert sweep_orphaned_servers(home) == [orphan_record]
        assert wait_gone(orphan, timeout=5.0), f"pid {orphan.pid} still runs after the sweep"
        assert not orphan_record.exists()
        assert live.is_alive() and read_state(live_record) == [live]
    finally:
        for service in (orphan, live):
            if service.is_alive():
                os.killpg(service.pid, signal.SIGKILL)


def test_runs_a_dead_process_left_running_are_ended_as_killed(tmp_path: Path) -> None:
    uri = local_store_uri(tmp_path / "runs")
    client = MlflowClient(uri)
    experiment = client.create_experiment("table2-distill-ablation")
    owners = {
        "killed": owner_token(dead_pid()),
        "live": owner_token(),
        "other-host": f"{os.getpid()}-00000000",
        "untagged": None,
    }
    runs = {
        name: client.create_run(experiment, tags={OWNER_TAG: owner} if owner else {}).info.run_id
        for name, owner in owners.items()
    }
    setup = FlowSetup(
        runs_dir=tmp_path / "runs",
        code=CodeVersion(commit="0" * 40, dirty_hash=None),
        tracking_uri=uri,
    )
    with fan_out(setup, "distill-ablation", "table2-distill-ablation", None, {}, ["a"]) as new:
        status = {name: client.get_run(run_id).info.status for name, run_id in runs.items()}
        assert client.get_run(new.parent.run_id).data.tags[OWNER_TAG] == owner_token()
    assert status == {
        "killed": "KILLED",
        "live": "RUNNING",
        "other-host": "RUNNING",
        "untagged": "RUNNING",
    }


def running_runs(client: MlflowClient, experiment: str) -> dict[str, str]:
    """run id → run name of the RUNNING runs of ``experiment`` (none when it does not exist)."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return {}
    runs = client.search_runs([found.experiment_id], "attributes.status = 'RUNNING'")
    return {run.info.run_id: run.info.run_name for run in runs}


@pytest.mark.slow
@pytest.mark.timeout(3000)
def test_sigkill_of_gms_run_leaves_no_server_and_the_rerun_ends_its_runs(
    tmp_path: Path,
    toy_params: Callable[[Path, list[str]], Path],
    gms_process: Callable[..., subprocess.Popen[str]],
) -> None:
    params = toy_params(tmp_path, ["gmf_2282"])
    experiment = "table2-distill-ablation"
    port = free_ports(1)[0]
    with running_services(
        [mlflow_server_spec(port, tmp_path / "mlflow")], tmp_path / "stack"
    ) as up:
        env = {"MLFLOW_TRACKING_URI": str(up["mlflow"].url)}
        client = MlflowClient(up["mlflow"].url)
        killed = gms_process("run", "distill-ablation", "--params", params, cwd=tmp_path, env=env)
        try:
            deadline = time.monotonic() + 1500
            while "gmf_2282" not in running_runs(client, experiment).values():  # mid-run
                assert killed.poll() is None, killed.communicate()[0][-3000:]
                assert time.monotonic() < deadline, "the arm's run never started"
                time.sleep(1.0)
            servers = tmp_path / "runs" / "prefect" / SERVERS_DIR
            (server,) = read_state(servers / owner_token(killed.pid))
            assert server.is_alive()
        finally:
            killed.send_signal(signal.SIGKILL)
            killed.communicate()
        left_running = running_runs(client, experiment)
        assert wait_gone(server), f"the temporary Prefect server (pid {server.pid}) outlived gms"
        assert len(left_running) == 2 and "gmf_2282" in left_running.values()  # parent, arm

        rerun = gms_process("run", "distill-ablation", "--params", params, cwd=tmp_path, env=env)
        out = rerun.communicate(timeout=1500)[0]
        assert rerun.returncode == 0, out[-3000:]
        assert running_runs(client, experiment) == {}
        assert {client.get_run(r).info.status for r in left_running} == {"KILLED"}
        assert list(servers.iterdir()) == []  # the killed run's record swept, the rerun's removed
