"""The twelve Table 1 families: names and order as in the paper, lookups, input-size rules and
the GroupMixFormer-M classifier against the reference parameter counts."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from gms_models.classify import (
    TABLE1_FAMILIES,
    build_classifier,
    common_img_sizes,
    family_slugs,
    get_family,
    resolve_families,
)
from gms_models.classify.families import SizeRule
from gms_models.errors import ConfigError
from gms_models.tables import PAPER_TABLE1


def _paper_table1(shared_dir: Path) -> list[list[str]]:
    """The rows of Table 1 in ../shared/PAPER.md, as cell strings."""
    text = (shared_dir / "PAPER.md").read_text(encoding="utf-8")
    section = text.split("## Table 1", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[1:]]


def test_families_are_the_paper_rows_in_order(shared_dir: Path) -> None:
    rows = _paper_table1(shared_dir)
    assert [f.name for f in TABLE1_FAMILIES] == [row[0] for row in rows]
    assert len(TABLE1_FAMILIES) == 12


def test_paper_figures_match_paper_md(shared_dir: Path) -> None:
    for name, *cells in _paper_table1(shared_dir):
        assert tuple(PAPER_TABLE1[name]) == tuple(float(c) for c in cells)


def test_slugs_are_unique_identifiers() -> None:
    slugs = family_slugs()
    assert len(set(slugs)) == 12
    assert all(s.isidentifier() and s == s.lower() for s in slugs)
    assert slugs[0] == "deepvit" and slugs[-1] == "gmf_m"


def test_lookup_by_slug_or_name_in_any_case() -> None:
    assert get_family("Token-to-Token ViT").slug == "t2t"
    assert get_family(" groupmixformer ").slug == "gmf_m"
    assert get_family("LEVIT").name == "LeViT"
    with pytest.raises(ConfigError, match=r"unknown encoder family 'swin'.*deepvit"):
        get_family("swin")


def test_selection_keeps_table_order_and_drops_repeats() -> None:
    assert [f.slug for f in resolve_families("levit, ViT,vit")] == ["vit", "levit"]
    assert len(resolve_families("all")) == 12
    assert len(resolve_families(["cct", "ALL"])) == 12
    with pytest.raises(ConfigError, match="no encoder family selected"):
        resolve_families(" , ")


def test_sizes_every_family_takes() -> None:
    assert common_img_sizes(TABLE1_FAMILIES) == [112, 224, 448, 896]
    assert common_img_sizes([get_family("vit"), get_family("cct")], up_to=64) == [32, 48, 64]
    with pytest.raises(ConfigError, match=r"RegionViT \(regionvit\) cannot take img_size=64"):
        build_classifier("regionvit", img_size=64)


def test_regionvit_size_rule_matches_the_model() -> None:
    """56 = 28·2 is accepted and runs; 84 = 28·3 is refused, and the model indeed fails there."""
    family = get_family("regionvit")
    torch.manual_seed(0)
    assert family.build(56)(torch.randn(2, 3, 56, 56)).shape == (2, 2)
    assert not family.size_rule.accepts(84)
    unchecked = dataclasses.replace(family, size_rule=SizeRule())
    with pytest.raises(Exception, match="rearrange"):
        unchecked.build(84)(torch.randn(2, 3, 84, 84))


def test_gmf_m_classifier_is_the_reference_backbone_with_a_two_class_head(gmf_ref: Path) -> None:
    counts = json.loads((gmf_ref / "param_counts.json").read_text())["configs"]
    m_config = next(c for c in counts if c["serial_depths"] == [3, 3, 12, 4])
    head = 2 * 160 + (160 * 2 + 2)  # norm4 (BatchNorm 160) + Linear(160, 2)
    model = build_classifier("gmf_m", img_size=64)
    expected = m_config["params_backbone_without_head"] + head
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 2)
