"""Steps of Table 1: train one family's Act0/NG classifier, write the table and its chart."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from gms_models.classify import (
    ClassifierFamily,
    ClassifyCallback,
    ClassifyConfig,
    EpochMetrics,
    FamilyResult,
    run_family,
    write_family_metrics,
    write_table_files,
)
from tasks.caching import CodeVersion, cached_step
from tasks.data import require_part
from tasks.execution import run_logger
from tasks.results import ClassifyOutputs, DataInfo, RunRef, TableFiles
from tasks.tables import publish
from tasks.tracking import log_artifact, log_history, log_metrics, log_params, set_tags


class ClassifyLog(ClassifyCallback):
    def __init__(self, run: RunRef | None) -> None:
        self.run = run

    def on_epoch_end(self, family: ClassifierFamily, metrics: EpochMetrics) -> None:
        m = metrics
        run_logger().info(
            f"{family.slug} epoch {m.epoch}: train loss {m.train_loss:.4f} acc {m.train_acc:.4f}, "
            f"val loss {m.val_loss:.4f} acc {m.val_acc:.4f}"
        )
        if self.run is not None:
            values = {k: float(v) for k, v in asdict(metrics).items() if k != "epoch"}
            log_metrics(self.run, values, step=metrics.epoch)


@task(name="classify-family", task_run_name="classify-{slug}", cache_policy=NO_CACHE)
def classify_family(
    slug: str,
    config: ClassifyConfig,
    data: DataInfo,
    runs_dir: Path,
    code: CodeVersion,
    run: RunRef | None = None,
) -> ClassifyOutputs:
    require_part(data, "malsd")
    family_config = config.model_copy(update={"families": [slug]})
    payload = {
        "config": family_config.model_dump(mode="json", exclude={"num_workers"}),
        "malsd": data.fingerprints.get("malsd"),
    }

    def compute(work_dir: Path, slot: str) -> ClassifyOutputs:
        result = run_family(
            data.malsd,
            slug,
            family_config.model_copy(update={"device": slot}),
            callbacks=[ClassifyLog(run)],
        )
        return ClassifyOutputs(
            slug=slug,
            work_dir=work_dir,
            result=result.as_dict(),
            metrics_json=write_family_metrics(result, work_dir),
            logged_run_id=run.run_id if run is not None else None,
        )

    outputs = cached_step(
        runs_dir, "classify", slug, payload, code, ClassifyOutputs, compute, device=config.device
    )
    result = FamilyResult.from_dict(outputs.result)
    if run is not None:
        settings = family_config.model_dump(mode="json", exclude={"families"})
        log_params(run, {**settings, "family": result.family, "slug": slug})
        curves = ("train_loss", "train_acc", "val_loss", "val_acc")
        if outputs.logged_run_id != run.run_id:
            for key in curves:
                log_history(run, key, [getattr(m, key) for m in result.history])
            set_tags(run, {"gms.reused_from": str(outputs.work_dir)})
        log_metrics(
            run,
            {
                **{key: getattr(result.final, key) for key in curves},
                "params_m": result.params / 1e6,
                "params_true_m": result.params_true / 1e6,
                "macs_g": result.macs / 1e9,
                "train_time_s": result.seconds,
            },
        )
        log_artifact(run, outputs.metrics_json, "metrics")
    return outputs


@task(name="write-selection-table", cache_policy=NO_CACHE)
def write_selection_table(
    results: list[dict[str, object]], out_dir: Path, with_paper: bool, run: RunRef | None = None
) -> TableFiles:
    from gms_models.tables import table1_rows

    families = [FamilyResult.from_dict(r) for r in results]
    files = write_table_files(families, out_dir, with_paper=with_paper)
    publish(
        run,
        [files.markdown, files.csv, files.chart],
        "table1-encoder-selection",
        files.markdown.read_text(encoding="utf-8"),
        [dict(row) for row in table1_rows(families, with_paper)],
    )
    return TableFiles(markdown=files.markdown, csv=files.csv, plot=files.chart)
