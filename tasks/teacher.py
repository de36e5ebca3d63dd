"""Step: get the teacher checkpoint and build its engine once, before the fan-out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun

from gms_models.errors import CheckpointError, is_transient
from gms_models.files import atomic_write, atomic_write_text, sha256_file
from gms_models.train.config import DistillSettings
from tasks.caching import step_dir
from tasks.execution import run_logger
from tasks.results import TeacherInfo
from tasks.specs import TeacherSource

RANDOM_WARNING = (
    "NO TEACHER CHECKPOINT GIVEN: the teacher has RANDOM WEIGHTS (seed {seed}). The students "
    "learn to copy random features and every mask is meaningless; this only exercises the "
    "pipeline. Pass teacher.checkpoint (a mobile_sam.pt path or URL) for real results."
)


def teacher_cache_dir(runs_dir: Path) -> Path:
    return Path(runs_dir).resolve() / "cache" / "teacher"


def random_teacher(runs_dir: Path, seed: int) -> Path:
    """A MobileSAM checkpoint with random weights (``torch.manual_seed(seed)``), made once."""
    import torch

    from gms_models.sam import build_sam_vit_t

    folder = step_dir(runs_dir, "teacher", f"random-seed{seed}", f"{seed:016d}")
    path = folder / "mobile_sam_random.pt"
    if not path.is_file():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            sam = build_sam_vit_t(checkpoint=None)
        # through a file object: torch names the archive's records after a path's stem (here a
        # random temporary name), so the sha256 in every cache key would differ between hosts
        atomic_write(path, lambda handle: torch.save(sam.state_dict(), handle))
        atomic_write_text(folder / "README.txt", RANDOM_WARNING.format(seed=seed) + "\n")
    return path


def retry_if_transient(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect's ``retry_condition_fn``: a timeout or an HTTP 503 is worth another try, a 404 or
    a checksum mismatch is not (``gms_models.errors.is_transient``)."""
    try:
        state.result()
    except Exception as exc:
        return is_transient(exc)
    return False


@task(
    name="prepare-teacher",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_if_transient,
)
def prepare_teacher(
    source: TeacherSource, runs_dir: Path, train: DistillSettings | None = None
) -> TeacherInfo:
    """Resolve the checkpoint; with ``train``, also build the distillation backend once (warming
    the ONNX/engine cache that every arm's trainer then reuses)."""
    from gms_models.checkpoint import resolve_checkpoint
    from gms_models.teacher import TeacherSpec, select_teacher

    logger = run_logger()
    if source.checkpoint is None:
        logger.warning(RANDOM_WARNING.format(seed=source.random_seed))
        checkpoint = random_teacher(runs_dir, source.random_seed)
        origin = f"random(seed={source.random_seed})"
    else:
        try:  # a URL lands in the library's checkpoint cache, a path is checked
            checkpoint = resolve_checkpoint(source.checkpoint, sha256=source.sha256, progress=False)
        except CheckpointError as exc:
            raise CheckpointError(f"teacher.checkpoint / teacher.sha256: {exc}") from exc
        checkpoint = checkpoint.resolve()
        origin = source.checkpoint
    if train is not None:
        backend = select_teacher(
            source.backend,
            spec=TeacherSpec.from_checkpoint(checkpoint, train.teacher_size),
            device=train.device,
            precision=source.precision,
            cache_dir=teacher_cache_dir(runs_dir),
            max_batch=train.batch_size,
        )
        logger.info("teacher %s ready: %s", origin, backend)
        backend.close()
    return TeacherInfo(
        checkpoint=checkpoint,
        sha256=sha256_file(checkpoint),
        random=source.checkpoint is None,
        source=origin,
        backend=source.backend,
        precision=source.precision,
    )
