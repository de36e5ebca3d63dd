"""``dvc repro`` of the toy study against the same study as one ``gms study``, in one run.

Each from scratch in its own copy of HEAD, without ``PREFECT_API_URL``: wall times, their ratio,
and whether both wrote the same Table 2 (latencies aside)."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import load_average
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: The target of issue 14: dvc repro within 1.3x of one gms study.
TARGET = 1.3


def copy_checkout(dest: Path) -> Path:
    """The files of this checkout's HEAD commit in ``dest``, committed in a new git repository."""
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=REPO, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "copy"]):
        subprocess.run([*git, *args], cwd=dest, check=True)
    return dest


def environment(copy: Path) -> dict[str, str]:
    """This environment without a Prefect server or an MLflow/AWS store, with the copy's cache."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "MLFLOW_", "PREFECT_API_", "GMS_STORE"))
    }
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        GMS_CACHE=str(copy / "cache"),
        DVC_NO_ANALYTICS="1",
        DO_NOT_TRACK="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        # under load the temporary server of gms study takes minutes to start (its database
        # migrations); Prefect's default wait would fail the baseline
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="900",
    )
    return env


def timed(command: list[str], copy: Path) -> tuple[float, str]:
    """Wall seconds of ``command`` in ``copy`` and its output; its failure stops the benchmark."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=copy, env=environment(copy), capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        output = done.stdout[-3000:] + done.stderr[-3000:]
        sys.exit(f"{' '.join(command)} failed in {copy}:\n{output}")
    return elapsed, done.stdout + done.stderr


def table2_numbers(copy: Path) -> dict[str, dict[str, float]]:
    """Table 2's numbers by arm (and teacher) as the copy's run wrote them, latencies left out."""
    metrics = json.loads((copy / "runs/tables/table2_distill_ablation_metrics.json").read_text())
    return {
        row: {key: value for key, value in numbers.items() if not key.startswith("latency_ms")}
        for row, numbers in metrics.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="leave the two copies in this folder")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="gms-bench-dvc-"))
    console = Console()
    copies = {name: copy_checkout(root / name) for name in ("study", "dvc")}
    for copy in copies.values():
        timed(["gms", "data", "fetch", "--source", "demo"], copy)

    rows = []
    load = load_average()
    study_s, _ = timed(["gms", "study", "--params", "params.yaml"], copies["study"])
    rows.append(("gms study", study_s, load, load_average(), "1 process"))
    load = load_average()
    # started without a lock, dvc repro writes one of exactly dvc.yaml's stages (for --keep)
    (copies["dvc"] / "dvc.lock").unlink(missing_ok=True)
    dvc_s, output = timed(["dvc", "repro"], copies["dvc"])
    stages = re.findall(r"Running stage '([^']+)'", output)
    rows.append(("dvc repro", dvc_s, load, load_average(), f"{len(stages)} stages"))

    table = Table(title=f"Toy study, {os.cpu_count()} CPU cores")
    for column in ("run", "wall", "load before", "load after", "processes"):
        table.add_column(column)
    for name, seconds, before, after, what in rows:
        table.add_row(name, f"{seconds / 60:.1f} min ({seconds:.0f} s)", before, after, what)
    console.print(table)
    ratio = dvc_s / study_s
    verdict = "met" if ratio <= TARGET else "NOT met"
    console.print(f"dvc repro / gms study = [bold]{ratio:.2f}[/] (target <= {TARGET}: {verdict})")
    console.print(f"stages: {', '.join(stages)}")
    study_table, dvc_table = (table2_numbers(copies[name]) for name in ("study", "dvc"))
    same = "identical" if study_table == dvc_table else f"DIFFERENT: {study_table} vs {dvc_table}"
    console.print(f"Table 2 (loss, mIoU, params, MACs by arm): {same}")
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)
    else:
        console.print(f"copies kept in {root}")


if __name__ == "__main__":
    main()
