"""``error:`` lines print the user's text as it is: brackets survive, NaN names its annotation.

Rich reads ``[left]`` or ``[nan, 1.0]`` as markup tags and drops them unless the text is escaped;
a file called ``cam[left].jpg`` must be reported by that name, on one unwrapped line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_bracketed_file_name_survives_the_error_line(
    gms, tmp_path: Path, teacher_ckpt: Path
) -> None:
    corrupt = tmp_path / "a folder with a long name to pass eighty columns" / "cam[left].jpg"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"not a jpeg")
    code, output = gms(
        "embed", "--checkpoint", teacher_ckpt, "--image", corrupt, "--out", tmp_path / "f.npy"
    )
    assert code == 2, output
    assert f"error: cannot decode image {corrupt}:" in output


@pytest.mark.slow
def test_bracketed_file_name_survives_the_skip_report(
    gms, distill_args, demo: Path, tmp_path: Path
) -> None:
    corrupt = demo / "unlabeled" / "line" / "cam[left].jpg"
    corrupt.write_bytes(b"not a jpeg")
    code, output = gms(*distill_args(demo / "unlabeled", tmp_path / "run", "--on-error", "skip"))
    assert code == 0, output
    assert f"  {corrupt}: cannot decode image" in output


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("bbox", [float("nan"), 6.0, 186.0, 123.0]),
        ("bbox", [1.0, 2.0, -3.0, 4.0]),
        ("area", float("inf")),
    ],
)
def test_non_finite_annotation_names_the_file_and_annotation(
    gms, demo: Path, teacher_ckpt: Path, field: str, value: object
) -> None:
    annotations = demo / "coco" / "annotations" / "instances.json"
    document = json.loads(annotations.read_text())
    target = document["annotations"][1]
    target[field] = value
    annotations.write_text(json.dumps(document))
    code, output = gms(
        "evaluate",
        "--teacher",
        teacher_ckpt,
        "--teacher-only",
        "--coco",
        annotations,
        "--images",
        demo / "coco" / "images",
        "--out",
        demo / "eval",
        "--no-progress",
    )
    assert code == 2, output
    assert f"error: {annotations}: annotation {target['id']} has {field} {value}" in output
