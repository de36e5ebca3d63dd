"""Three real ablation arms trained together over one teacher pass end with exactly the weights
of the same arms trained one by one (MobileSAM teacher, COCO images, CPU, fixed seed)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import torch

from gms_models.checkpoint import read_checkpoint
from gms_models.train import DistillConfig, build_teacher, distill

ARMS = (  # name, arch, lr
    ("gmf_2282-lr3e-4", "gmf_2282", 3e-4),
    ("gmf_2282-lr1e-3", "gmf_2282", 1e-3),
    ("resnet18", "resnet18", 3e-4),
)


def test_three_arms_together_end_with_the_weights_of_each_trained_alone(
    standins: ModuleType, coco_mini: Path, teacher_ckpt: Path, tmp_path: Path
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for image in sorted((coco_mini / "val2017").glob("*.jpg"))[:4]:
        (images / image.name).symlink_to(image)
    configs = [
        DistillConfig(
            name=name,
            arch=arch,
            lr=lr,
            images=images,
            teacher=teacher_ckpt,
            teacher_backend="torch",
            img_size=64,
            epochs=2,
            batch_size=2,
            num_workers=0,
            seed=3,
            out_dir=tmp_path / "together" / name,
        )
        for name, arch, lr in ARMS
    ]
    teacher = standins.CountingTeacher(build_teacher(configs[0], torch.device("cpu")))
    together = distill(configs, teacher=teacher, progress=False)
    # one teacher pass per image and epoch for all three (plus the feature pictures' probe)
    assert teacher.images == 1 + 2 * 4

    alone = [
        distill(
            [c.model_copy(update={"out_dir": tmp_path / "alone" / c.run_name})], progress=False
        )[0]
        for c in configs
    ]
    weights = {}
    for one, both in zip(alone, together, strict=True):
        assert both.name == one.name and both.out_dir != one.out_dir
        assert both.failure is None and both.epochs_completed == 2 and both.images_seen == 8
        assert both.loss_history == one.loss_history
        ours = read_checkpoint(both.checkpoint)["state_dict"]
        theirs = read_checkpoint(one.checkpoint)["state_dict"]
        assert ours.keys() == theirs.keys()
        for key in theirs:
            assert torch.equal(ours[key], theirs[key]), (both.name, key)
        weights[both.name] = ours
    # the two gmf_2282 arms differ only by their lr, and it shows
    first, second = weights["gmf_2282-lr3e-4"], weights["gmf_2282-lr1e-3"]
    assert not all(torch.equal(first[k], second[k]) for k in first)
