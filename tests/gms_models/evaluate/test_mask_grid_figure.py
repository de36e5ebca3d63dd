"""The qualitative mask grid (images × models), with box and point prompts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gms_models.data.coco import CocoInstances
from gms_models.data.malsd import read_points
from gms_models.errors import ConfigError, PromptError
from gms_models.evaluate.figures import (
    GridPrompt,
    coco_grid_prompts,
    hand_point_prompt,
    render_mask_grid,
)
from gms_models.sam import Sam


def test_grid_of_boxes_and_points(
    tmp_path: Path,
    coco_two: CocoInstances,
    demo_malsd: Path,
    teacher_fast: Sam,
    perturbed_fast: Sam,
) -> None:
    image = coco_two[0]
    boxes = coco_grid_prompts(image, per_image=2)
    largest = sorted((a for a in image.annotations if not a.iscrowd), key=lambda a: -a.area)
    assert [p.box for p in boxes] == [largest[0].box_xyxy, largest[1].box_xyxy]
    hand = read_points(demo_malsd)[0]
    point = hand_point_prompt(hand)
    assert point.labels == (1,) and point.box is None

    out = tmp_path / "figs" / "grid.png"
    models = {"teacher": teacher_fast, "perturbed": perturbed_fast}
    written = render_mask_grid(
        [image.path, hand.path], [boxes, [point]], models, out, cell_inches=2.0, dpi=50
    )
    assert written == out and sorted(p.name for p in out.parent.iterdir()) == ["grid.png"]
    with Image.open(out) as picture:
        assert picture.size == (2 * 2 * 50, round(2 * 2 * 0.8 * 50))
        pixels = np.asarray(picture.convert("RGB"))
    assert pixels.std() > 20  # images were drawn, not an empty canvas


def test_grid_refuses_bad_arguments(tmp_path: Path, teacher_fast: Sam) -> None:
    with pytest.raises(PromptError, match="needs a box or at least one point"):
        GridPrompt()
    with pytest.raises(PromptError, match="2 points but 1 labels"):
        GridPrompt(points=((1.0, 2.0), (3.0, 4.0)), labels=(1,))
    with pytest.raises(ConfigError, match="2 images but 1 prompt lists"):
        render_mask_grid(["a.jpg", "b.jpg"], [[]], {"teacher": teacher_fast}, tmp_path / "grid.png")
    with pytest.raises(ConfigError, match="at least one model"):
        render_mask_grid(["a.jpg"], [[]], {}, tmp_path / "grid.png")
