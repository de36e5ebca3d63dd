"""One teacher pass for many students: train every arm that shares a data recipe together.

In the ablation of Table 2 every arm runs the same teacher over the same crops, and the teacher's
forward pass is the largest single cost of an arm. :func:`distill_group` trains several students
over one data stream: each batch is decoded and cropped once, the teacher runs once, and every
student takes its own forward/backward/optimiser step on the same features. Each student keeps its
own optimiser, learning rate, schedule, run folder, checkpoints, loss history, feature pictures and
RNG stream, so its weights are those it would have had alone (bit for bit on CPU).

Students are told apart by their run name (:attr:`DistillConfig.run_name`): callbacks receive it
as ``student``, and results carry it as ``name``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gms_models.errors import ConfigError
from gms_models.teacher import TeacherBackend
from gms_models.train.callbacks import TrainerCallback
from gms_models.train.config import DATA_RECIPE_FIELDS, DistillConfig
from gms_models.train.trainer import DistillDataset, DistillResult, train_students


def recipe_differences(first: DistillConfig, other: DistillConfig) -> list[str]:
    """The data-recipe fields (:data:`DATA_RECIPE_FIELDS`) on which two configs differ."""
    mine, theirs = first.data_recipe(), other.data_recipe()
    return [field for field in DATA_RECIPE_FIELDS if mine[field] != theirs[field]]


def check_group(configs: Sequence[DistillConfig]) -> None:
    """Refuse configs that cannot share one data stream, with a :class:`ConfigError` naming the
    field and the students at fault: differing data recipes, repeated run names, or two students
    writing into one run folder."""
    if not configs:
        raise ConfigError("a distillation group needs at least one config")
    first = configs[0]
    for other in configs[1:]:
        differing = recipe_differences(first, other)
        if differing:
            mine, theirs = first.data_recipe(), other.data_recipe()
            details = "; ".join(
                f"{field}: {mine[field]!r} for {first.run_name!r} but {theirs[field]!r} for "
                f"{other.run_name!r}"
                for field in differing
            )
            raise ConfigError(
                f"students trained together must share the data recipe; {details} "
                "(group_by_recipe splits configs into groups that do)"
            )
    names = [c.run_name for c in configs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(
            f"students trained together need unique run names; {repeated} appear more than "
            "once (give each config a name, e.g. gmf_2282-lr1e-3)"
        )
    folders: dict[Path, str] = {}
    for config in configs:
        folder = config.resolved_out_dir.resolve()
        if folder in folders:
            raise ConfigError(
                f"students {folders[folder]!r} and {config.run_name!r} would both write into "
                f"out_dir {config.resolved_out_dir}"
            )
        folders[folder] = config.run_name


def distill_group(
    configs: Sequence[DistillConfig],
    *,
    callbacks: Sequence[TrainerCallback] = (),
    progress: bool = True,
    log_every: int = 20,
    device: str | None = None,
    teacher: TeacherBackend | None = None,
    dataset: DistillDataset | None = None,
) -> list[DistillResult]:
    """Train the students of ``configs`` together; one :class:`DistillResult` per config, in order.

    The configs must share the data recipe (:func:`check_group`); one dataset and one teacher are
    built from the first. ``device`` (e.g. the device slot a scheduler handed out) replaces every
    config's ``device``. With ``resume``, every student continues from its own ``last.pt``,
    whatever epoch each had reached. A student whose loss goes non-finite is dropped and the
    others go on: ``on_student_failed`` is called, its ``failure.json`` written, and its result's
    ``failure`` says why (this function does not raise for it, even when every student fails).
    ``teacher`` and ``dataset`` replace the ones the configs would build.
    """
    if device is not None:
        configs = [c.model_copy(update={"device": device}) for c in configs]
    check_group(configs)
    return train_students(
        configs,
        callbacks=callbacks,
        progress=progress,
        log_every=log_every,
        teacher=teacher,
        dataset=dataset,
        raise_if_all_failed=False,
    )
