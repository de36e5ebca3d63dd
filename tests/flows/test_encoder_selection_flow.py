"""``encoder-selection`` in-process on the tiny MALSD stand-in: one child run per family with its
metrics, and Table 1 (markdown, CSV, chart) written and logged on the parent run."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from flows.params import EncoderSelectionParams
from gms_models.classify import ClassifyConfig
from tasks.specs import DataSpec, TrackingSpec

pytestmark = [pytest.mark.timeout(600), pytest.mark.usefixtures("prefect_harness")]


def test_families_become_child_runs_and_table_1(tiny_data: Path, tmp_path: Path) -> None:
    from flows.encoder_selection import encoder_selection

    params = EncoderSelectionParams(
        classify=ClassifyConfig(
            families=["pit", "gmf_m"],
            img_size=112,
            epochs=1,
            batch_size=4,
            warmup_epochs=0,
            compare_with_paper=False,
            device="cpu",
        ),
        data=DataSpec(root=tiny_data),
        tracking=TrackingSpec(runs_dir=tmp_path / "runs"),
        torch_threads=1,
    )
    summary = encoder_selection(params)
    assert summary.families == ["pit", "gmf_m"] and summary.failed == {}
    table = summary.tables.markdown.read_text()
    assert "| PiT |" in table and "| GroupMixFormer |" in table
    client = MlflowClient(summary.tracking_uri)
    children = client.search_runs(
        [client.get_experiment_by_name("table1-encoder-selection").experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{summary.parent_run_id}'",
    )
    assert sorted(r.info.run_name for r in children) == ["gmf_m", "pit"]
    for run in children:
        assert {"train_loss", "train_acc", "val_loss", "val_acc", "params_m", "macs_g"} <= set(
            run.data.metrics
        )
        assert run.data.params["img_size"] == "112"
    tables = {a.path for a in client.list_artifacts(summary.parent_run_id, "tables")}
    assert {"tables/table1.md", "tables/table1.csv", "tables/table1_val_acc.png"} <= tables
