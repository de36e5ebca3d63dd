"""The trainer end to end on CPU with a tiny conv teacher and student over real image files."""

from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType

import pytest
import torch
from PIL import Image

from gms_models.checkpoint import read_checkpoint
from gms_models.data.image_folder import ImageFolderDataset
from gms_models.errors import ConfigError, ImageError
from gms_models.teacher import FeatureCache
from gms_models.train import (
    NonFiniteLossError,
    StepEvent,
    TrainerCallback,
    TrainPlan,
    distill,
)


class Recorder(TrainerCallback):
    def __init__(self) -> None:
        self.plans: list[TrainPlan] = []
        self.steps: list[StepEvent] = []
        self.epochs: list[tuple[int, str, dict, dict]] = []
        self.failures: list[tuple[str, NonFiniteLossError]] = []
        self.errors: list[BaseException] = []
        self.ended = 0

    def on_train_start(self, plan):
        self.plans.append(plan)

    def on_step(self, event):
        self.steps.append(event)

    def on_epoch_end(self, event):
        self.epochs.append((event.epoch, event.student, dict(event.metrics), dict(event.artifacts)))

    def on_student_failed(self, student, error):
        self.failures.append((student, error))

    def on_error(self, error):
        self.errors.append(error)

    def on_train_end(self, results):
        self.ended += 1


def _dataset(config) -> ImageFolderDataset:
    return ImageFolderDataset(
        config.images,
        teacher_size=config.teacher_size,
        student_size=config.img_size,
        seed=config.seed,
        fixed_crops=config.fixed_crops,
    )


def _run(standins: ModuleType, config, **kwargs):
    """One student, raising on its failure (as ``gms distill`` runs it)."""
    (result,) = distill(
        [config],
        teacher=kwargs.pop("teacher", None) or standins.tiny_teacher(),
        progress=False,
        raise_if_all_failed=True,
        **kwargs,
    )
    return result


def test_loss_falls_and_each_epoch_leaves_checkpoint_picture_and_metrics(
    standins: ModuleType, tiny_images: Path, tmp_path: Path
) -> None:
    config = standins.tiny_config(tiny_images, tmp_path / "run", epochs=4)
    recorder = Recorder()
    result = _run(standins, config, callbacks=[recorder], log_every=2)

    assert result.epochs_completed == 4
    assert len(result.loss_history) == 4
    assert result.last_loss == result.loss_history[-1]
    assert result.loss_history[-1] < 0.5 * result.loss_history[0]
    assert result.images_seen == 4 * 12
    assert result.failure is None and result.skipped_images == []

    # one picture per epoch, real PNGs with two rows of maps
    assert [p.name for p in result.feature_pictures] == [f"epoch_00{i}.png" for i in (1, 2, 3, 4)]
    with Image.open(result.feature_pictures[-1]) as picture:
        assert picture.format == "PNG" and picture.width > picture.height > 100

    # callbacks: plan, every step, per-epoch metrics and artifacts
    (plan,) = recorder.plans
    assert (plan.first_epoch, plan.epochs, plan.steps_per_epoch, plan.num_images) == (1, 4, 3, 12)
    assert len(recorder.steps) == 12
    assert [e.losses is not None for e in recorder.steps[:3]] == [False, True, True]
    assert [e.global_step for e in recorder.steps] == list(range(1, 13))
    assert [(e, s) for e, s, _, _ in recorder.epochs] == [(i, standins.ARCH) for i in (1, 2, 3, 4)]
    metrics, artifacts = recorder.epochs[-1][2], recorder.epochs[-1][3]
    assert metrics["loss"] == pytest.approx(result.last_loss)
    assert metrics["lr"] == pytest.approx(3e-3) and metrics["images_seen"] == 48
    assert artifacts["features"] == result.feature_pictures[-1]
    assert artifacts["student"] == result.checkpoint and artifacts["checkpoint"].name == "last.pt"
    assert recorder.ended == 1 and not recorder.errors

    # checkpoint contents
    state = read_checkpoint(result.state_checkpoint)
    assert state["format"] == "gms-distill-state/1"
    assert (state["arch"], state["img_size"], state["epoch"], state["step"]) == (
        standins.ARCH,
        32,
        4,
        12,
    )
    assert state["loss_history"] == result.loss_history
    assert set(state["rng"]) == {"global", "loader", "student"}
    assert set(state["rng"]["global"]) >= {"python", "numpy", "torch"}
    assert state["config"]["arch"] == standins.ARCH and state["config"]["lr"] == 3e-3
    assert len(state["optimizer"]["state"]) == len(list(standins.TinyEncoder().parameters()))
    student = read_checkpoint(result.checkpoint)
    assert set(student) == {"format", "arch", "img_size", "state_dict", "config"}
    for key, value in student["state_dict"].items():
        assert torch.equal(value, state["state_dict"][key])
    # no temporary files left behind by the atomic writes
    assert not [p for p in result.out_dir.rglob("*") if p.name.endswith(".tmp")]


def test_same_seed_gives_identical_weights_and_other_seed_does_not(
    standins: ModuleType, tiny_images: Path, tmp_path: Path
) -> None:
    runs = [
        _run(standins, standins.tiny_config(tiny_images, tmp_path / name, epochs=2, seed=seed))
        for name, seed in (("a", 3), ("b", 3), ("c", 4))
    ]
    weights = [read_checkpoint(r.checkpoint)["state_dict"] for r in runs]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert not all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])


def test_worker_processes_feed_the_same_batches_as_the_main_process(
    standins: ModuleType, tiny_images: Path, tmp_path: Path
) -> None:
    runs = [
        _run(
            standins, standins.tiny_config(tiny_images, tmp_path / f"w{n}", epochs=2, num_workers=n)
        )
        for n in (0, 2)
    ]
    assert runs[0].loss_history == runs[1].loss_history
    weights = [read_checkpoint(r.checkpoint)["state_dict"] for r in runs]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_unreadable_image_fails_or_is_skipped_and_reported(
    standins: ModuleType, tiny_images: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for image in sorted(tiny_images.glob("*.png"))[:5]:
        (folder / image.name).symlink_to(image)
    (folder / "img_002b.png").write_bytes(b"\x89PNG but truncated")
    with pytest.raises(ImageError, match=r"img_002b\.png"):
        _run(standins, standins.tiny_config(folder, tmp_path / "fail", epochs=1))
    for workers in (0, 2):
        config = standins.tiny_config(
            folder, tmp_path / f"skip{workers}", epochs=1, on_error="skip", num_workers=workers
        )
        result = _run(standins, config)
        assert [bad.path.name for bad in result.skipped_images] == ["img_002b.png"]
        assert "img_002b.png" in str(result.skipped_images[0].path)
        assert result.epochs_completed == 1


class _Interrupt(Exception):
    pass


class _StopAfterEpoch(TrainerCallback):
    """Raises in the middle of the epoch after ``epoch`` (a crash after its checkpoint)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_step(self, event):
        if event.epoch == self.epoch + 1 and event.step == 2:
            raise _Interrupt


def test_resume_after_a_crash_gives_the_weights_of_an_uninterrupted_run(
    standins: ModuleType, tiny_images: Path, tmp_path: Path
) -> None:
    full = _run(standins, standins.tiny_config(tiny_images, tmp_path / "full", epochs=3))

    config = standins.tiny_config(tiny_images, tmp_path / "crash", epochs=3)
    with pytest.raises(_Interrupt):
        _run(standins, config, callbacks=[_StopAfterEpoch(1)], log_every=1)
    assert read_checkpoint(config.resolved_out_dir / "last.pt")["epoch"] == 1

    with pytest.raises(ConfigError, match="resume"):
        _run(standins, config)
    recorder = Recorder()
    resumed = _run(standins, config.model_copy(update={"resume": True}), callbacks=[recorder])
    assert recorder.plans[0].first_epoch == 2
    assert resumed.loss_history == full.loss_history
    assert resumed.images_seen == full.images_seen
    assert len(resumed.feature_pictures) == 3
    ours, theirs = (read_checkpoint(r.checkpoint)["state_dict"] for r in (resumed, full))
    for key in theirs:
        assert torch.equal(ours[key], theirs[key]), key

    # resuming a finished run trains nothing and reports the same result
    again = _run(standins, config.model_copy(update={"resume": True}))
    assert again.loss_history == full.loss_history and again.epochs_completed == 3


def test_resuming_with_another_lr_continues_the_checkpoint_with_the_new_lr(
    standins: ModuleType, tiny_images: Path, tmp_path: Path
) -> None:
    runs = {}
    for lr in (3e-3, 1e-3):
        config = standins.tiny_config(tiny_images, tmp_path / f"to{lr:g}", epochs=1, lr=3e-3)
        _run(standins, config)
        later = config.model_copy(
            update={"epochs": 2, "lr": lr, "resume": True, "resume_with_changes": True}
        )
        runs[lr] = read_checkpoint(_run(standins, later).state_checkpoint)
    changed, kept = runs[1e-3], runs[3e-3]
    assert changed["optimizer"]["param_groups"][0]["lr"] == 1e-3
    assert changed["scheduler"]["base_lrs"] == [1e-3]
    assert kept["optimizer"]["param_groups"][0]["lr"] == 3e-3
    # epoch 1 is shared; epoch 2 differs by its lr only
    assert changed["loss_history"][0] == kept["loss_history"][0]
    assert changed["loss_history"][1] != kept["loss_history"][1]


class _PoisonedImages(ImageFolderDataset):
    """Item 0 becomes a NaN teacher input from epoch index ``1`` on (a corrupt float input)."""

    def sample(self, index, epoch=None):
        item = super().sample(index, epoch)
        if index == 0 and (self.epoch if epoch is None else epoch) >= 1:
            return item._replace(teacher=torch.full_like(item.teacher, math.nan))
        return item


@pytest.mark.parametrize("log_every", [1, 100])
def test_nan_loss_stops_naming_epoch_and_step_and_keeps_the_last_good_checkpoint(
    standins: ModuleType, tiny_images: Path, tmp_path: Path, log_every: int
) -> None:
    config = standins.tiny_config(tiny_images, tmp_path / "nan", epochs=3)
    dataset = _PoisonedImages(config.images, teacher_size=32, seed=config.seed)
    recorder = Recorder()
    with pytest.raises(NonFiniteLossError) as caught:
        _run(standins, config, dataset=dataset, callbacks=[recorder], log_every=log_every)
    error = caught.value
    # the step of epoch 2 whose batch holds item 0, found from the loader's own order
    order = [b.index.tolist() for b in _batches_of_epoch(standins, config, dataset, 2)]
    expected_step = next(i for i, indices in enumerate(order, 1) if 0 in indices)
    assert (error.epoch, error.step, error.student) == (2, expected_step, standins.ARCH)
    assert error.global_step == 3 + expected_step
    message = str(error)
    assert f"epoch 2, step {expected_step}" in message and "nan" in message
    assert str(config.resolved_out_dir / "last.pt") in message
    assert recorder.failures[0][1] is error and recorder.errors == [error]

    state = read_checkpoint(config.resolved_out_dir / "last.pt")
    assert state["epoch"] == 1 and len(state["loss_history"]) == 1
    assert all(
        torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point()
    )
    assert not (config.resolved_out_dir / "features" / "epoch_002.png").exists()


def _batches_of_epoch(standins, config, dataset, epoch):
    """Replay the loader's shuffling up to 1-based ``epoch`` with the trainer's generator."""
    generator = torch.Generator().manual_seed(config.seed)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=config.batch_size, shuffle=True, generator=generator
    )
    for e in range(1, epoch + 1):
        dataset.set_epoch(e - 1)
        batches = list(loader)
    return batches


def test_two_students_over_one_stream_match_each_trained_alone(
    standins: ModuleType, tiny_images: Path, tmp_path: Path
) -> None:
    configs = [
        standins.tiny_config(tiny_images, tmp_path / f"alone{i}", lr=lr, name=f"lr{lr:g}")
        for i, lr in enumerate((3e-3, 1e-3))
    ]
    alone = [_run(standins, c) for c in configs]

    teacher = standins.tiny_teacher()
    together_configs = [
        c.model_copy(update={"out_dir": tmp_path / f"together{i}"}) for i, c in enumerate(configs)
    ]
    together = distill(
        together_configs, teacher=teacher, dataset=_dataset(together_configs[0]), progress=False
    )
    for one, both in zip(alone, together, strict=True):
        assert one.loss_history == both.loss_history
        ours = read_checkpoint(both.checkpoint)["state_dict"]
        theirs = read_checkpoint(one.checkpoint)["state_dict"]
        assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_feature_cache_with_fixed_crops_skips_the_teacher_after_the_first_epoch(
    standins: ModuleType, tiny_images: Path, tmp_path: Path
) -> None:
    base = standins.tiny_config(tiny_images, tmp_path / "plain", epochs=3, fixed_crops=True)
    plain = _run(standins, base)
    cached_config = base.model_copy(
        update={"out_dir": tmp_path / "cached", "feature_cache": True, "cache_dir": tmp_path}
    )
    teacher = standins.CountingTeacher(standins.tiny_teacher())
    cached = _run(standins, cached_config, teacher=teacher)
    # the probe image, then all 12 images once; epochs 2 and 3 come from disk
    assert teacher.images == 1 + 12
    assert len(list((tmp_path / "features").rglob("*.npy"))) == 12
    # fp16 storage changes the targets only slightly
    for ours, theirs in zip(cached.loss_history, plain.loss_history, strict=True):
        assert ours == pytest.approx(theirs, rel=2e-2)


def test_feature_cache_roundtrip_is_fp16_and_keyed_by_item(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, "teacher-a", "recipe-1")
    features = torch.randn(2, 256, 4, 4)
    assert cache.load_batch([0, 1], ["a.jpg", "b.jpg"], torch.device("cpu")) is None
    cache.store_batch([0, 1], ["a.jpg", "b.jpg"], features)
    loaded = cache.load_batch([0, 1], ["a.jpg", "b.jpg"], torch.device("cpu"))
    assert loaded is not None and loaded.dtype == torch.float32
    assert torch.equal(loaded, features.half().float())
    assert cache.load_batch([0, 1], ["a.jpg", "c.jpg"], torch.device("cpu")) is None
    other_teacher = FeatureCache(tmp_path, "teacher-b", "recipe-1")
    assert other_teacher.load_batch([0], ["a.jpg"], torch.device("cpu")) is None


def test_student_whose_features_do_not_match_the_teacher_is_refused(
    standins: ModuleType, tiny_images: Path, tmp_path: Path
) -> None:
    config = standins.tiny_config(tiny_images, tmp_path / "mismatch", img_size=64)
    with pytest.raises(ConfigError, match=r"img_size 64 gives features \(256, 4, 4\)"):
        distill(
            [config],
            teacher=standins.tiny_teacher(32),
            dataset=ImageFolderDataset(tiny_images, teacher_size=32, student_size=64),
            progress=False,
        )
