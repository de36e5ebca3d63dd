"""``distill-ablation`` end to end, in-process: one arm fails (invalid arch), the other
completes; MLflow holds the parent, the children, the table and the champion; a second run with
the same parameters reuses every step; ``pick`` and ``segment-eval`` read the ablation back."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from flows.params import DistillAblationParams, PickParams, SegmentEvalParams
from gms_models.train.config import Arm, DistillSettings
from tasks.caching import code_version
from tasks.specs import DataSpec, EvalSpec, ExportSpec, TeacherSource, TrackingSpec

pytestmark = [pytest.mark.timeout(900), pytest.mark.usefixtures("prefect_harness")]

BAD_ARCH = "not_an_encoder"


def tiny_params(data: Path, runs_dir: Path) -> DistillAblationParams:
    return DistillAblationParams(
        arms={"gmf_2282": Arm(), BAD_ARCH: Arm()},
        train=DistillSettings(img_size=64, batch_size=2, epochs=1, num_workers=0, device="cpu"),
        export=ExportSpec(decoder=False),
        evaluate=EvalSpec(
            max_images=2,
            mask_grid_images=1,
            profile_img_size=64,
            latency_runs=1,
            latency_runtimes=["onnxruntime"],
        ),
        data=DataSpec(root=data),
        teacher=TeacherSource(backend="torch"),
        tracking=TrackingSpec(runs_dir=runs_dir),
        torch_threads=1,
    )


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def first_run(tiny_data: Path, runs_dir: Path, prefect_harness: None):
    from flows.distill_ablation import distill_ablation

    code = code_version()
    return code, distill_ablation(tiny_params(tiny_data, runs_dir))


def test_failed_arm_is_reported_and_the_other_completes(first_run) -> None:
    _, summary = first_run
    rows = {row.model: row for row in summary.rows}
    assert rows["gmf_2282"].status == "ok"
    assert rows["gmf_2282"].miou is not None and 0.0 <= rows["gmf_2282"].miou <= 1.0
    assert rows["gmf_2282"].latency_ms["onnxruntime"] > 0
    assert rows[BAD_ARCH].status.startswith(f"failed at distill: unknown encoder '{BAD_ARCH}'")
    assert summary.failures == {BAD_ARCH: rows[BAD_ARCH].status}  # what `gms run` lists
    # an arch the registry does not know cannot be packed: it gets a group of its own
    assert (rows["gmf_2282"].group, rows[BAD_ARCH].group) == ("g1: gmf_2282", f"g2: {BAD_ARCH}")
    table = summary.tables.markdown.read_text()
    assert f"| {BAD_ARCH} | S |" in table and "failed at distill" in table
    assert "| gmf_2282 | S | [2,2,8,2] | 3e-4 | 1 |" in table
    assert summary.tables.csv.is_file() and summary.tables.plot is not None


def test_mlflow_records_parent_children_table_and_champion(first_run) -> None:
    _, summary = first_run
    client = MlflowClient(summary.tracking_uri)
    experiment = client.get_experiment_by_name("table2-distill-ablation")
    runs = client.search_runs([experiment.experiment_id])
    parent = client.get_run(summary.parent_run_id)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.info.run_name for r in children) == sorted(["gmf_2282", BAD_ARCH])
    good = next(r for r in children if r.info.run_name == "gmf_2282")
    bad = next(r for r in children if r.info.run_name == BAD_ARCH)
    assert (good.info.status, bad.info.status) == ("FINISHED", "FAILED")
    assert {"arch", "lr", "epochs", "batch_size", "img_size", "teacher_backend", "depths"} <= set(
        good.data.params
    )
    assert bad.data.params["arch"] == BAD_ARCH  # a failed arm still shows what it was
    for metric in ("last_loss", "miou", "params_m", "macs_g", "latency_ms_onnxruntime", "loss"):
        assert metric in good.data.metrics
    artifacts = {a.path for a in client.list_artifacts(good.info.run_id)}
    assert {"checkpoint", "onnx", "features", "eval"} <= artifacts
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "tables")} >= {
        "tables/table2_distill_ablation.md",
        "tables/table2_distill_ablation.csv",
    }
    for tag in (
        "git.commit",
        "data.hash",
        "data.dvc_md5",
        "prefect.flow_run_id",
        "gms.code_version",
    ):
        assert tag in parent.data.tags
    champion = client.get_model_version_by_alias("gms-encoder", "champion")
    assert champion.run_id == good.info.run_id
    assert summary.champion is not None and summary.champion.arm == "gmf_2282"
    assert parent.data.tags["gms.champion"] == "gmf_2282"


@pytest.fixture(scope="module")
def second_run(first_run, tiny_data: Path, runs_dir: Path):
    from flows.distill_ablation import distill_ablation

    code, _ = first_run
    if code_version() != code:
        pytest.skip("the library changed on disk between the two runs (shared checkout)")
    return distill_ablation(tiny_params(tiny_data, runs_dir))


def test_second_run_reuses_every_step(first_run, second_run) -> None:
    _, first = first_run
    client = MlflowClient(second_run.tracking_uri)
    good = next(r for r in second_run.rows if r.model == "gmf_2282")
    run = client.get_run(good.run_id)
    reused_from = run.data.tags["gms.reused_from"]
    assert Path(reused_from).parent.name == "distill" and Path(reused_from).is_dir()
    assert [m.value for m in client.get_metric_history(good.run_id, "loss")] == [
        next(r for r in first.rows if r.model == "gmf_2282").last_loss
    ]
    assert good.miou == next(r for r in first.rows if r.model == "gmf_2282").miou
    assert sorted(p.name for p in Path(reused_from).iterdir() if p.suffix == ".pt") == [
        "last.pt",
        "student.pt",
    ]


def test_pick_flow_reads_the_newest_ablation_and_answers_the_same_twice(second_run) -> None:
    from flows.pick import pick

    tracking = TrackingSpec(runs_dir=Path(second_run.tables.markdown).parents[1])
    first = pick(PickParams(tracking=tracking))
    again = pick(PickParams(tracking=tracking))
    assert first.parent_run_id == second_run.parent_run_id
    assert (first.arm, first.version) == (again.arm, again.version) == ("gmf_2282", first.version)
    client = MlflowClient(second_run.tracking_uri)
    assert (
        str(client.get_model_version_by_alias("gms-encoder", "champion").version) == first.version
    )
    assert "Within margin" in first.decision_md.read_text()


def test_segment_eval_scores_the_ablation_students(second_run, tiny_data: Path) -> None:
    from flows.segment_eval import segment_eval

    runs_dir = Path(second_run.tables.markdown).parents[1]
    params = SegmentEvalParams(
        data=DataSpec(root=tiny_data),
        tracking=TrackingSpec(runs_dir=runs_dir),
        grid_images=1,
        device="cpu",
        torch_threads=1,
    )
    summary = segment_eval(params.model_copy(update={"ablation_run_id": second_run.parent_run_id}))
    assert [(r.model, r.encoder, r.status) for r in summary.rows] == [
        ("gmf_2282", "gmf_2282", "ok")
    ]
    assert 0.0 <= summary.rows[0].miou <= 1.0 and summary.rows[0].images == 4
    assert "| gmf_2282 | gmf_2282 | MALSD | Point |" in summary.tables.markdown.read_text()
