"""Mask grids (the paper's Figures 3 and 4): rows are images, columns models, each cell the image
with every prompt's mask chosen as in the evaluation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gms_models.data.coco import CocoImage
from gms_models.data.malsd import HandPoints
from gms_models.errors import ConfigError, PromptError
from gms_models.evaluate.coco_boxes import clip_box
from gms_models.evaluate.loop import eval_mode
from gms_models.evaluate.masks import Candidates, check_candidates, predict_best
from gms_models.image_io import load_rgb
from gms_models.sam.overlay import draw_overlay
from gms_models.sam.predictor import SamPredictor
from gms_models.sam.sam import Sam
from gms_models.tables import grid_cell, new_figure, save_figure


@dataclass(frozen=True)
class GridPrompt:
    box: tuple[float, float, float, float] | None = None
    points: tuple[tuple[float, float], ...] = ()
    labels: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.box is None and not self.points:
            raise PromptError("a grid prompt needs a box or at least one point")
        if len(self.points) != len(self.labels):
            raise PromptError(
                f"a grid prompt has {len(self.points)} points but {len(self.labels)} labels"
            )

    def arrays(self) -> dict[str, np.ndarray | None]:
        return {
            "boxes": None if self.box is None else np.array([self.box], dtype=np.float32),
            "points": np.array([self.points], dtype=np.float32) if self.points else None,
            "labels": np.array([self.labels], dtype=np.int32) if self.points else None,
        }


def coco_grid_prompts(image: CocoImage, per_image: int = 3) -> list[GridPrompt]:
    anns = sorted((a for a in image.annotations if not a.iscrowd), key=lambda a: (-a.area, a.id))
    anns = anns[:per_image]
    return [GridPrompt(box=clip_box(a.box_xyxy, image.width, image.height)) for a in anns]


def hand_point_prompt(entry: HandPoints) -> GridPrompt:
    return GridPrompt(
        points=tuple((float(x), float(y)) for x, y in np.asarray(entry.points).reshape(-1, 2)),
        labels=tuple(int(v) for v in np.asarray(entry.labels).reshape(-1)),
    )


def _cell(
    predictor: SamPredictor, rgb: np.ndarray, prompts: Sequence[GridPrompt], candidates: Candidates
) -> np.ndarray:
    predictor.set_image(rgb)
    masks = [predict_best(predictor, **p.arrays(), candidates=candidates).masks[0] for p in prompts]
    boxes = [p.box for p in prompts if p.box is not None]
    points = [xy for p in prompts for xy in p.points]
    labels = [v for p in prompts for v in p.labels]
    picture = draw_overlay(
        rgb,
        np.stack(masks) if masks else np.zeros((0, *rgb.shape[:2]), dtype=bool),
        boxes=np.array(boxes, dtype=np.float32) if boxes else None,
        points=np.array(points, dtype=np.float32) if points else None,
        labels=np.array(labels, dtype=np.int32) if points else None,
    )
    return np.asarray(picture)


def render_mask_grid(
    image_paths: Sequence[str | Path],
    prompts_per_image: Sequence[Sequence[GridPrompt]],
    models: Mapping[str, Sam],
    out_png: str | Path,
    *,
    candidates: Candidates = "multimask",
    cell_inches: float = 3.2,
    dpi: int = 110,
    title: str | None = None,
) -> Path:
    """Rows: images, columns: ``models``."""
    check_candidates(candidates)
    if not models:
        raise ConfigError("render_mask_grid needs at least one model")
    if not image_paths:
        raise ConfigError("render_mask_grid needs at least one image")
    if len(image_paths) != len(prompts_per_image):
        raise ConfigError(
            f"{len(image_paths)} images but {len(prompts_per_image)} prompt lists were given"
        )
    rows, cols = len(image_paths), len(models)
    figure = new_figure(cols * cell_inches, rows * cell_inches * 0.8, dpi)
    axes = figure.subplots(rows, cols, squeeze=False)
    predictors = {name: SamPredictor(sam) for name, sam in models.items()}
    with eval_mode(*models.values()):
        for r, (path, prompts) in enumerate(zip(image_paths, prompts_per_image, strict=True)):
            rgb = load_rgb(path)
            for c, (name, predictor) in enumerate(predictors.items()):
                grid_cell(
                    axes[r][c],
                    _cell(predictor, rgb, prompts, candidates),
                    name if r == 0 else None,
                    Path(path).name if c == 0 else None,
                )
    if title:
        figure.suptitle(title, fontsize=11)
    return save_figure(figure, out_png)
