"""Table 1: choosing the encoder family by training Act0/NG classifiers on MALSD. Parts load on
first use (PEP 562), so the settings model loads without torch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gms_models.lazy import lazy_attributes

if TYPE_CHECKING:
    from gms_models.classify.config import ClassifyConfig, load_config, parse_config
    from gms_models.classify.families import (
        TABLE1_FAMILIES,
        ClassifierFamily,
        build_classifier,
        common_img_sizes,
        family_slugs,
        get_family,
        resolve_families,
    )
    from gms_models.classify.results import (
        ClassifyCallback,
        EpochMetrics,
        FamilyResult,
        TableFiles,
        read_family_metrics,
        write_family_metrics,
        write_table_files,
    )
    from gms_models.classify.train import run_encoder_selection, run_family, train_family

_PARTS = (
    "gms_models.classify.config",
    "gms_models.classify.families",
    "gms_models.classify.results",
    "gms_models.classify.train",
)

__all__ = [
    "TABLE1_FAMILIES",
    "ClassifierFamily",
    "ClassifyCallback",
    "ClassifyConfig",
    "EpochMetrics",
    "FamilyResult",
    "TableFiles",
    "build_classifier",
    "common_img_sizes",
    "family_slugs",
    "get_family",
    "load_config",
    "parse_config",
    "read_family_metrics",
    "resolve_families",
    "run_encoder_selection",
    "run_family",
    "train_family",
    "write_family_metrics",
    "write_table_files",
]

__getattr__ = lazy_attributes(__name__, _PARTS, __all__)
