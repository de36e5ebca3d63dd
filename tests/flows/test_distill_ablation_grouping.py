"""``distill-ablation`` trains the arms that share a data recipe together: one task, one teacher
pass per batch for all of them; a diverging arm of the group fails alone; the table names the
groups; a second run finds every arm in the per-arm cache and trains nothing."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from flows.params import DistillAblationParams
from gms_models.train.config import Arm, DistillSettings
from tasks.caching import code_version
from tasks.specs import DataSpec, EvalSpec, ExportSpec, TeacherSource, TrackingSpec

pytestmark = [pytest.mark.timeout(900), pytest.mark.usefixtures("prefect_harness")]

IMAGES = 4  # the tiny demo data's distillation images
BATCH = 2
DIVERGING = "gmf_3344"  # at lr 1e30 its loss is non-finite by the second step


def grouped_params(data: Path, runs_dir: Path) -> DistillAblationParams:
    return DistillAblationParams(
        arms={"gmf_2282": Arm(), "resnet18": Arm(), DIVERGING: Arm(lr=1e30)},
        train=DistillSettings(img_size=64, batch_size=BATCH, epochs=1, num_workers=0, device="cpu"),
        export=ExportSpec(enabled=False, register_model=None),
        evaluate=EvalSpec(
            max_images=1,
            mask_grid_images=0,
            profile_img_size=64,
            latency_runs=1,
            latency_runtimes=["torch"],
            evaluate_teacher=False,
        ),
        pick=None,
        data=DataSpec(root=data),
        teacher=TeacherSource(backend="torch"),
        tracking=TrackingSpec(runs_dir=runs_dir),
        torch_threads=1,
    )


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("grouped-runs")


@pytest.fixture(scope="module")
def grouped_run(tiny_data: Path, runs_dir: Path, prefect_harness: None):
    from flows.distill_ablation import distill_ablation

    code = code_version()
    return code, distill_ablation(grouped_params(tiny_data, runs_dir))


def test_arms_sharing_a_recipe_train_in_one_group_with_one_teacher_pass_per_batch(
    grouped_run,
) -> None:
    _, summary = grouped_run
    (group,) = summary.groups
    assert group.label == "g1" and group.device == "cpu"
    assert group.trained == ["gmf_2282", "resnet18", DIVERGING]
    assert group.teacher_passes == math.ceil(IMAGES / BATCH)  # once per batch, not per arm
    rows = {row.model: row for row in summary.rows}
    label = f"g1: gmf_2282, resnet18, {DIVERGING}"
    assert [rows[n].group for n in ("gmf_2282", "resnet18", DIVERGING)] == [label] * 3
    with summary.tables.csv.open() as handle:
        assert {r["model"]: r["group"] for r in csv.DictReader(handle)}["resnet18"] == label
    assert f"| {label} | ok |" in summary.tables.markdown.read_text()


def test_a_diverging_arm_fails_alone_while_its_group_finishes(grouped_run) -> None:
    _, summary = grouped_run
    rows = {row.model: row for row in summary.rows}
    assert rows[DIVERGING].status.startswith("failed at distill: non-finite loss")
    for name in ("gmf_2282", "resnet18"):
        assert rows[name].status == "ok" and math.isfinite(rows[name].last_loss)
        assert rows[name].miou is not None
    assert set(summary.groups[0].outputs) == {"gmf_2282", "resnet18"}


def test_a_second_run_trains_nothing_but_the_failed_arm(
    grouped_run, tiny_data: Path, runs_dir: Path
) -> None:
    from flows.distill_ablation import distill_ablation

    code, first = grouped_run
    if code_version() != code:
        pytest.skip("the library changed on disk between the two runs (shared checkout)")
    again = distill_ablation(grouped_params(tiny_data, runs_dir))
    (group,) = again.groups
    assert group.trained == [DIVERGING]  # the finished arms come from their own cache entries
    rows = {row.model: row for row in again.rows}
    before = {row.model: row for row in first.rows}
    assert rows["gmf_2282"].last_loss == before["gmf_2282"].last_loss
    assert rows["resnet18"].last_loss == before["resnet18"].last_loss
