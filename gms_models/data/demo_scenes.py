"""Procedural demo pictures: object scenes (COCO-like) and assembly-line frames (MALSD-like), drawn
with PIL's integer rasteriser and float32 only, so one generator state gives the same pixels."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter

Polygon = np.ndarray  # (K, 2) float64 [x, y] pixels
Disc = tuple[float, float, float]  # centre x, y and radius

SizeBin = Literal["small", "medium", "large"]

#: Object categories of the scenes, in COCO category-id order (ids start at 1).
SCENE_CATEGORIES: tuple[str, ...] = ("box", "disc", "triangle", "blob", "hand", "screws")
_SOLID_CATEGORIES = ("box", "disc", "triangle", "blob", "hand")

_SKIN_TONES = ((224, 172, 140), (198, 134, 100), (141, 85, 54), (236, 196, 164), (170, 110, 80))


@dataclass
class SceneObject:
    category: str
    polygons: list[Polygon]
    mask: np.ndarray
    crowd: bool


def _value_noise(rng: np.random.Generator, width: int, height: int, cells: int) -> np.ndarray:
    grid_w = max(2, cells)
    grid_h = max(2, round(cells * height / width))
    grid = rng.integers(0, 256, size=(grid_h, grid_w), dtype=np.uint8)
    smooth = Image.fromarray(grid).resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(smooth, dtype=np.float32) / np.float32(127.5) - np.float32(1.0)


def _mask(
    polygons: list[Polygon], width: int, height: int, discs: Sequence[Disc] = ()
) -> np.ndarray:
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for poly in polygons:
        draw.polygon([(float(x), float(y)) for x, y in poly], fill=255)
    for cx, cy, r in discs:
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    return np.asarray(canvas) > 0


def _rotate(points: npt.NDArray[np.float64], angle: float) -> npt.NDArray[np.float64]:
    c, s = math.cos(angle), math.sin(angle)
    return points @ np.array([[c, s], [-s, c]], dtype=np.float64)


def _shoelace(poly: Polygon) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _ring(n: int) -> np.ndarray:
    angles = np.arange(n) * (2.0 * math.pi / n)
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _rect(cx: float, cy: float, half_w: float, half_h: float, angle: float) -> Polygon:
    corners = np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]])
    return _rotate(corners, angle) + np.array([cx, cy], dtype=np.float64)


def _bar(start: tuple[float, float], end: tuple[float, float], width: float) -> Polygon:
    (x0, y0), (x1, y1) = start, end
    length = max(math.hypot(x1 - x0, y1 - y0), 1e-6)
    nx, ny = -(y1 - y0) / length * width / 2, (x1 - x0) / length * width / 2
    return np.array(
        [[x0 + nx, y0 + ny], [x1 + nx, y1 + ny], [x1 - nx, y1 - ny], [x0 - nx, y0 - ny]]
    )


def hand_polygons(cx: float, cy: float, radius: float, angle: float) -> list[Polygon]:
    palm = _rotate(_ring(20) * np.array([radius, radius * 0.85]), angle) + np.array([cx, cy])
    parts = [palm]
    direction = np.array([math.cos(angle), math.sin(angle)])
    side = np.array([-direction[1], direction[0]])
    for k, length in zip((-1.5, -0.5, 0.5, 1.5), (0.8, 1.0, 0.95, 0.7), strict=True):
        base = np.array([cx, cy]) + direction * radius * 0.6 + side * k * radius * 0.42
        tip = base + direction * radius * length * 1.1
        parts.append(_bar(tuple(base), tuple(tip), radius * 0.34))
    thumb_base = np.array([cx, cy]) + side * radius * 0.75
    thumb_tip = thumb_base + (direction * 0.6 + side * 0.8) * radius
    parts.append(_bar(tuple(thumb_base), tuple(thumb_tip), radius * 0.38))
    return parts


def _unit_shape(rng: np.random.Generator, category: str) -> list[Polygon]:
    angle = float(rng.uniform(0, math.pi))
    if category == "box":
        aspect = float(rng.uniform(0.55, 1.0))
        return [_rect(0.0, 0.0, 1.0, aspect, angle)]
    if category == "disc":
        return [_rotate(_ring(28) * np.array([1.0, float(rng.uniform(0.6, 1.0))]), angle)]
    if category == "triangle":
        jitter = rng.uniform(-0.25, 0.25, size=(3, 1))
        return [_rotate(_ring(3) * (1.0 + jitter), angle)]
    if category == "blob":
        radii = rng.uniform(0.7, 1.2, size=18)
        radii = (np.roll(radii, 1) + radii + np.roll(radii, -1)) / 3.0
        return [_rotate(_ring(18) * radii[:, None], angle)]
    if category == "hand":
        return hand_polygons(0.0, 0.0, 1.0, float(rng.uniform(0, 2 * math.pi)))
    raise ValueError(f"unknown shape category {category!r}")


def _target_area(rng: np.random.Generator, size: SizeBin, width: int, height: int) -> float:
    if size == "small":
        return float(rng.uniform(150, 800))
    if size == "medium":
        return float(rng.uniform(1400, 7500))
    return float(rng.uniform(12000, max(12500, min(22000, 0.3 * width * height))))


def _paint(
    canvas: np.ndarray,
    mask: np.ndarray,
    colour: tuple[float, float, float],
    rng: np.random.Generator,
    *,
    shadow: bool = True,
    texture: float = 10.0,
    shading: float = 0.5,
) -> None:
    """In place: shadow, ``shading`` (a light from one side), texture, outline."""
    height, width = mask.shape
    mask_img = Image.fromarray(mask.astype(np.uint8) * 255)
    if shadow:
        shifted = Image.new("L", (width, height), 0)
        shifted.paste(mask_img, (3, 3))
        soft = np.asarray(shifted.filter(ImageFilter.GaussianBlur(2)), dtype=np.float32)
        canvas *= (np.float32(1.0) - np.float32(0.35 / 255.0) * soft)[..., None]
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return
    cy, cx = float(ys.mean()), float(xs.mean())
    extent = max(float(np.ptp(xs)), float(np.ptp(ys)), 1.0)
    light = float(rng.uniform(0, 2 * math.pi))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    along = (xx - cx) * math.cos(light) + (yy - cy) * math.sin(light)
    shade = np.float32(1.0) + np.float32(shading / extent) * along
    surface = np.asarray(colour, dtype=np.float32) * shade[..., None]
    surface += _value_noise(rng, width, height, 12)[..., None] * np.float32(texture)
    canvas[mask] = surface[mask]
    eroded = np.asarray(mask_img.filter(ImageFilter.MinFilter(3))) > 0
    canvas[mask & ~eroded] *= np.float32(0.65)


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    base = rng.uniform(60, 190, size=3).astype(np.float32)
    canvas = np.broadcast_to(base, (height, width, 3)).copy()
    canvas += _value_noise(rng, width, height, 5)[..., None] * np.float32(35)
    for channel in range(3):
        canvas[..., channel] += _value_noise(rng, width, height, 4) * np.float32(12)
    pattern = int(rng.integers(0, 3))
    period = int(rng.integers(12, 40))
    yy, xx = np.mgrid[0:height, 0:width]
    if pattern == 1:  # floor tiles
        tiles = ((yy // period + xx // period) % 2).astype(np.float32)
        canvas += (tiles * np.float32(18))[..., None]
    elif pattern == 2:  # diagonal planks
        planks = (((xx + yy) // period) % 2).astype(np.float32)
        canvas -= (planks * np.float32(14))[..., None]
    tilt = np.float32(rng.uniform(-40, 40) / height)
    canvas += ((yy.astype(np.float32) - np.float32(height / 2)) * tilt)[..., None]
    return canvas


def _finish(
    canvas: npt.NDArray[np.float32], rng: np.random.Generator, grain: float
) -> npt.NDArray[np.uint8]:
    height, width = canvas.shape[:2]
    gain = np.float32(rng.uniform(0.85, 1.1))  # drawn before the grain
    levels = rng.integers(-100, 101, size=(height, width, 1)).astype(np.float32)
    canvas = canvas * gain + levels * np.float32(grain / 100.0)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


def _random_colour(rng: np.random.Generator) -> tuple[float, float, float]:
    channels = rng.permutation(3)
    colour = np.empty(3)
    colour[channels[0]] = rng.uniform(170, 245)
    colour[channels[1]] = rng.uniform(15, 80)
    colour[channels[2]] = rng.uniform(15, 245)
    return (float(colour[0]), float(colour[1]), float(colour[2]))


Box = tuple[float, float, float, float]


def _overlaps(box: Box, taken: list[Box], margin: float = 4.0) -> bool:
    x0, y0, x1, y1 = box
    return any(
        x1 + margin >= a0 and a1 + margin >= x0 and y1 + margin >= b0 and b1 + margin >= y0
        for a0, b0, a1, b1 in taken
    )


def _place_solid(
    rng: np.random.Generator, size: SizeBin, width: int, height: int, taken: list[Box]
) -> SceneObject | None:
    for _ in range(30):
        category = _SOLID_CATEGORIES[int(rng.integers(0, len(_SOLID_CATEGORIES)))]
        parts = _unit_shape(rng, category)
        unit_area = sum(_shoelace(p) for p in parts)
        scale = math.sqrt(_target_area(rng, size, width, height) / unit_area)
        parts = [p * scale for p in parts]
        lo = np.min([p.min(axis=0) for p in parts], axis=0)
        hi = np.max([p.max(axis=0) for p in parts], axis=0)
        span = hi - lo
        if span[0] > width - 4 or span[1] > height - 4:
            continue
        cx = float(rng.uniform(2 - lo[0], width - 2 - hi[0]))
        cy = float(rng.uniform(2 - lo[1], height - 2 - hi[1]))
        box = (cx + lo[0], cy + lo[1], cx + hi[0], cy + hi[1])
        if _overlaps(box, taken):
            continue
        taken.append(box)
        placed = [np.round(p + np.array([cx, cy]), 2) for p in parts]
        return SceneObject(category, placed, _mask(placed, width, height), crowd=False)
    return None


def _place_crowd(
    rng: np.random.Generator, width: int, height: int, taken: list[Box]
) -> SceneObject | None:
    """Small touching discs, annotated as one iscrowd RLE."""
    for _ in range(30):
        region_w, region_h = float(rng.uniform(36, 60)), float(rng.uniform(26, 40))
        x0 = float(rng.uniform(2, width - region_w - 2))
        y0 = float(rng.uniform(2, height - region_h - 2))
        box = (x0, y0, x0 + region_w, y0 + region_h)
        if _overlaps(box, taken):
            continue
        taken.append(box)
        count = int(rng.integers(6, 13))
        discs = []
        for _disc in range(count):
            r = float(rng.uniform(2.5, 4.5))
            cx = float(rng.uniform(x0 + r, x0 + region_w - r))
            cy = float(rng.uniform(y0 + r, y0 + region_h - r))
            discs.append((cx, cy, r))
        return SceneObject("screws", [], _mask([], width, height, discs), crowd=True)
    return None


def object_scene(
    rng: np.random.Generator, width: int, height: int, *, with_large: bool, with_crowd: bool
) -> tuple[np.ndarray, list[SceneObject]]:
    """Non-overlapping objects of all three COCO size bins on a textured background."""
    canvas = _background(rng, width, height)
    sizes: list[SizeBin] = ["large"] if with_large else []
    sizes += ["medium"] * int(rng.integers(1, 3))
    sizes += ["small"] * int(rng.integers(2, 5))
    taken: list[Box] = []
    objects: list[SceneObject] = []
    for size in sizes:
        placed = _place_solid(rng, size, width, height, taken)
        if placed is not None:
            objects.append(placed)
    if with_crowd and (crowd := _place_crowd(rng, width, height, taken)) is not None:
        objects.append(crowd)
    for obj in objects:
        if obj.category == "hand":
            tone = _SKIN_TONES[int(rng.integers(0, len(_SKIN_TONES)))]
            colour = (float(tone[0]), float(tone[1]), float(tone[2]))
        elif obj.category == "screws":
            colour = (150.0, 150.0, 160.0)
        else:
            colour = _random_colour(rng)
        _paint(canvas, obj.mask, colour, rng, shadow=not obj.crowd)
    return _finish(canvas, rng, grain=6.0), objects


def assembly_frame(
    rng: np.random.Generator, width: int, height: int, *, holds_instructions: bool
) -> tuple[np.ndarray, tuple[float, float]]:
    """A frame and its palm centre ``(x, y)``; the Act0 hand holds a pale-yellow sheet, the NG one
    rests on the product, holds a tool or is empty."""
    canvas = np.empty((height, width, 3), dtype=np.float32)
    belt_y = int(height * rng.uniform(0.5, 0.62))
    wall = rng.uniform(150, 190, size=3).astype(np.float32)
    canvas[:belt_y] = wall
    canvas[:belt_y] += (_value_noise(rng, width, height, 6)[:belt_y] * np.float32(15))[..., None]
    belt = np.float32(rng.uniform(55, 80))
    canvas[belt_y:] = belt
    period = max(4, int(rng.integers(9, 14) * width / 160))
    offset = int(rng.integers(0, period))
    slats = ((np.arange(width) + offset) % period) < max(1, period // 5)
    canvas[belt_y:, slats] += np.float32(22)
    canvas[belt_y : belt_y + 2] = np.float32(185)

    product_w = width * rng.uniform(0.3, 0.45)
    product_h = height * rng.uniform(0.25, 0.35)
    product_x = float(rng.uniform(2, width - product_w - 2))
    product_bottom = belt_y + height * rng.uniform(0.12, 0.3)
    half_w, half_h = product_w / 2, product_h / 2
    product = _rect(product_x + half_w, product_bottom - half_h, half_w, half_h, 0.0)
    grey = float(rng.uniform(205, 235))
    _paint(canvas, _mask([product], width, height), (grey, grey, grey + 5), rng, texture=4)
    label = _rect(
        product_x + product_w * 0.3,
        product_bottom - product_h * 0.55,
        product_w * 0.15,
        product_h * 0.18,
        0.0,
    )
    _paint(canvas, _mask([label], width, height), (30.0, 80.0, 170.0), rng, shadow=False)

    radius = height * float(rng.uniform(0.08, 0.1))
    if holds_instructions:
        palm = (float(rng.uniform(0.25, 0.75) * width), float(rng.uniform(0.4, 0.75) * height))
    else:
        pose = int(rng.integers(0, 3))
        if pose == 0:  # resting on the product
            palm = (
                product_x + product_w * float(rng.uniform(0.3, 0.7)),
                product_bottom - product_h * float(rng.uniform(0.4, 0.8)),
            )
        else:
            palm = (float(rng.uniform(0.2, 0.8) * width), float(rng.uniform(0.3, 0.8) * height))
    from_right = bool(rng.integers(0, 2))
    entry = (
        (width + radius, palm[1] + height * 0.2)
        if from_right
        else (palm[0] + width * 0.1, height + radius)
    )
    angle = math.atan2(palm[1] - entry[1], palm[0] - entry[0]) + float(rng.uniform(-0.3, 0.3))
    sleeve = (35.0, 55.0, 110.0) if rng.integers(0, 2) else (90.0, 95.0, 100.0)
    arm = _bar(entry, palm, radius * 1.7)
    _paint(canvas, _mask([arm], width, height), sleeve, rng)

    tone = _SKIN_TONES[int(rng.integers(0, len(_SKIN_TONES)))]
    skin = (float(tone[0]), float(tone[1]), float(tone[2]))
    direction = (math.cos(angle), math.sin(angle))
    if holds_instructions:
        sheet_w, sheet_h = width * rng.uniform(0.28, 0.36), height * rng.uniform(0.26, 0.32)
        distance = radius * 1.2 + sheet_w * 0.35
        reach = (palm[0] + direction[0] * distance, palm[1] + direction[1] * distance)
        margin_x, margin_y = sheet_w * 0.62, sheet_h * 0.62  # keeps the tilted sheet in frame
        centre = (
            min(max(reach[0], margin_x), width - margin_x),
            min(max(reach[1], margin_y), height - margin_y),
        )
        tilt = float(rng.uniform(-0.3, 0.3))
        sheet = _rect(centre[0], centre[1], sheet_w / 2, sheet_h / 2, tilt)
        paper = (
            float(rng.uniform(242, 252)),
            float(rng.uniform(232, 244)),
            float(rng.uniform(120, 160)),
        )
        _paint(canvas, _mask([sheet], width, height), paper, rng, texture=3, shading=0.15)
        lines = []
        for row in range(int(rng.integers(4, 7))):
            dy = -sheet_h * 0.35 + row * sheet_h * 0.13
            length = sheet_w * float(rng.uniform(0.5, 0.8))
            local = np.array([[-sheet_w * 0.38, dy], [-sheet_w * 0.38 + length, dy]])
            (x0, y0), (x1, y1) = _rotate(local, tilt) + np.array(centre)
            lines.append(_bar((x0, y0), (x1, y1), max(1.0, height / 90)))
        canvas[_mask(lines, width, height)] = np.float32(55)
    elif int(rng.integers(0, 2)):
        tool_end = (palm[0] + direction[0] * radius * 3.2, palm[1] + direction[1] * radius * 3.2)
        shaft = _bar(palm, tool_end, radius * 0.3)
        _paint(canvas, _mask([shaft], width, height), (120.0, 120.0, 125.0), rng)
        handle_end = (palm[0] + direction[0] * radius * 1.4, palm[1] + direction[1] * radius * 1.4)
        handle = _bar(palm, handle_end, radius * 0.7)
        _paint(canvas, _mask([handle], width, height), (200.0, 50.0, 30.0), rng)
    hand = hand_polygons(palm[0], palm[1], radius, angle)
    _paint(canvas, _mask(hand, width, height), skin, rng)
    return _finish(canvas, rng, grain=4.0), palm
