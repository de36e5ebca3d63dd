"""The Table 1 training loop: every family for one short epoch on the built-in demo data, a quick
subset with its callbacks, seed reproducibility, and one family that learns a separable set."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest

from gms_models.classify import (
    TABLE1_FAMILIES,
    EpochMetrics,
    FamilyResult,
    parse_config,
    run_encoder_selection,
    run_family,
)
from gms_models.tables import table1_rows


def _assert_finite_rows(results: list[FamilyResult]) -> None:
    for row in table1_rows(results, with_paper=True):
        numbers = [v for k, v in row.items() if k != "Encoder"]
        assert all(isinstance(v, float) and math.isfinite(v) for v in numbers), row
        assert 0.0 <= row["train acc"] <= 1.0 and 0.0 <= row["val acc"] <= 1.0
        assert row["params (M)"] > 0 and row["MACs (M)"] > 0


@pytest.mark.slow
def test_every_table1_family_trains_one_epoch(malsd_tiny: Path) -> None:
    """All twelve at 112 px (the smallest size they all take), one batch of 8 per epoch. About
    two minutes of CPU time, hence slow; the quick subset below runs by default."""
    config = parse_config(img_size=112, epochs=1, batch_size=8, warmup_epochs=0)
    results = run_encoder_selection(malsd_tiny, config)
    assert [r.family for r in results] == [f.name for f in TABLE1_FAMILIES]
    assert all((r.img_size, r.train_images, r.val_images) == (112, 8, 4) for r in results)
    assert all(len(r.history) == 1 for r in results)
    _assert_finite_rows(results)


def test_quick_subset_runs_the_recipe_and_reports_to_callbacks(
    malsd_tiny: Path, recorder: Any
) -> None:
    config = parse_config(
        families="cct,vit,gmf_m", img_size=64, epochs=2, batch_size=4, warmup_epochs=1
    )
    results = run_encoder_selection(malsd_tiny, config, [recorder])
    assert [r.slug for r in results] == ["vit", "cct", "gmf_m"]
    _assert_finite_rows(results)
    vit_calls = [c for c in recorder.calls if c[1] == "vit"]
    assert vit_calls == [
        ("start", "vit", (1, 3, 64, 64), 2, 2),
        ("step", "vit", 1, 1, True),
        ("step", "vit", 1, 2, True),
        ("epoch", "vit", 1),
        ("step", "vit", 2, 1, True),
        ("step", "vit", 2, 2, True),
        ("epoch", "vit", 2),
        ("end", "vit", 2),
    ]
    for result in results:
        warm, last = result.history
        assert warm.lr == pytest.approx(config.lr)  # warm-up over: the peak
        assert last.lr == pytest.approx(0.0)  # end of the cosine


def _without_timing(result: FamilyResult) -> list[EpochMetrics]:
    return [dataclasses.replace(m, seconds=0.0) for m in result.history]


def test_a_family_gives_the_same_numbers_alone_or_after_another(malsd_tiny: Path) -> None:
    config = parse_config(families="pit,levit", img_size=64, epochs=1, batch_size=4)
    after_pit = run_encoder_selection(malsd_tiny, config)[1]
    alone = run_family(malsd_tiny, "levit", config)
    assert _without_timing(alone) == _without_timing(after_pit)
    other_seed = run_family(malsd_tiny, "levit", config.model_copy(update={"seed": 1}))
    assert _without_timing(other_seed) != _without_timing(alone)


def test_cct_learns_separable_classes(malsd_squares: Path) -> None:
    """White square present (Act0) or absent (NG): after 5 short epochs CCT's val accuracy is
    far above chance (0.5) and its training loss has dropped several-fold."""
    config = parse_config(
        families="cct", img_size=64, epochs=5, batch_size=16, lr=1e-3, warmup_epochs=1
    )
    (result,) = run_encoder_selection(malsd_squares, config)
    assert result.final.val_acc >= 0.8
    assert result.final.train_loss < 0.25 * result.history[0].train_loss
