"""What dvc.yaml's stages run (``gms run ... --no-temporary-server`` without PREFECT_API_URL):
the flow's function outside Prefect, with no Prefect server. The one-arm ``distill`` flow with
``share_teacher_pass`` trains the other arms of its data recipe in the same teacher pass, so the
next arm's run finds its arm done and trains nothing."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from flows.dispatch import GROUP_FIELDS
from flows.params import DistillParams
from gms_models.train.config import Arm
from tests.flows.test_distill_ablation_grouping import BATCH, IMAGES, grouped_params

pytestmark = [pytest.mark.timeout(900), pytest.mark.usefixtures("no_prefect_server")]


def one_arm(arm: str, data: Path, runs_dir: Path) -> DistillParams:
    """One arm of gmf_2282, resnet18 (one recipe) and gmf_3344 at 2 epochs (another recipe),
    at the grouping test's tiny settings."""
    shared = grouped_params(data, runs_dir).model_dump(include=GROUP_FIELDS)
    arms = {"gmf_2282": Arm(), "resnet18": Arm(), "gmf_3344": Arm(epochs=2)}
    return DistillParams(arm=arm, arms=arms, share_teacher_pass=True, **shared)


def test_one_arm_runs_share_a_teacher_pass_without_a_prefect_server(
    tiny_data: Path, tmp_path: Path
) -> None:
    from flows.distill_ablation import distill

    first = distill.fn(one_arm("gmf_2282", tiny_data, tmp_path))
    (group,) = first.groups
    # resnet18 shares gmf_2282's recipe; gmf_3344 (2 epochs) does not and is left to its own run
    assert group.trained == ["gmf_2282", "resnet18"]
    assert group.teacher_passes == math.ceil(IMAGES / BATCH)  # once per batch, not per arm
    assert [row.model for row in first.rows if row.role == "S"] == ["gmf_2282"]
    assert first.rows[-1].group == "g1: gmf_2282"  # the table does not depend on the others
    assert first.tables.markdown == tmp_path / "tables" / "arms" / "distill_gmf_2282.md"

    second = distill.fn(one_arm("resnet18", tiny_data, tmp_path))
    (group,) = second.groups
    assert group.trained == [] and group.teacher_passes == 0  # found done
    (row,) = [row for row in second.rows if row.role == "S"]
    assert row.model == "resnet18" and row.ok and math.isfinite(row.last_loss)
    assert row.miou is not None
