"""`gms data fetch --source coco`: zips built from coco-mini, served over loopback HTTP, plus a
MALSD folder, assembled into one data folder; a corrupt zip leaves nothing behind."""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from gms_models.data.demo import generate_demo
from tests.dvc.scratch import clean_env, run

pytestmark = pytest.mark.timeout(300)
VAL_IMAGES = 3
ZIPS = {
    "train2017": "zips/train2017.zip",
    "val2017": "zips/val2017.zip",
    "annotations": "annotations/annotations_trainval2017.zip",
}


def write_zip(path: Path, entries: dict[str, Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, src in entries.items():
            zf.write(src, name)


@pytest.fixture
def mirror(coco_mini: Path, tmp_path: Path) -> Path:
    """A folder laid out like images.cocodataset.org, holding small zips of coco-mini."""
    root = tmp_path / "mirror"
    train = coco_mini / "tiny-coco-train2017"
    val_images = sorted((coco_mini / "val2017").glob("*.jpg"))[:VAL_IMAGES]
    val_annotations = coco_mini / "annotations" / "instances_val2017.json"
    write_zip(
        root / ZIPS["train2017"],
        {f"train2017/{p.name}": p for p in sorted((train / "train2017").glob("*.jpg"))},
    )
    write_zip(root / ZIPS["val2017"], {f"val2017/{p.name}": p for p in val_images})
    write_zip(
        root / ZIPS["annotations"],
        {
            "annotations/instances_train2017.json": train
            / "annotations"
            / "instances_train2017_small.json",
            "annotations/instances_val2017.json": val_annotations,
        },
    )
    return root


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mirror_url(mirror: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(mirror))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def write_manifest(mirror: Path, path: Path, base_url: str) -> Path:
    document: dict[str, object] = {"base_url": base_url}
    for key, rel in ZIPS.items():
        data = (mirror / rel).read_bytes()
        document[key] = {
            "path": rel,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def malsd(tmp_path: Path) -> Path:
    demo = tmp_path / "demo"
    generate_demo(demo, scale="tiny")
    return demo / "malsd"


def test_coco_zips_and_malsd_make_one_data_folder(
    mirror: Path, mirror_url: str, malsd: Path, coco_mini: Path, tmp_path: Path
) -> None:
    manifest = write_manifest(mirror, tmp_path / "coco.yaml", mirror_url)
    env = clean_env({"GMS_CACHE": str(tmp_path / "cache")})
    args = ["--coco-manifest", manifest, "--malsd", malsd, "--val-limit", 2]
    result = run(["gms", "data", "fetch", "--source", "coco", *args], cwd=tmp_path, env=env)

    assert result.returncode == 0, result.stderr
    data = tmp_path / "data"
    val = json.loads((data / "coco" / "annotations" / "instances_val2017.json").read_text())
    kept = {p.name for p in (data / "coco" / "val2017").iterdir()}
    first_two = {p.name for p in sorted((coco_mini / "val2017").glob("*.jpg"))[:2]}
    assert kept == first_two == {img["file_name"] for img in val["images"]}
    assert (data / "coco" / "annotations" / "instances_train2017.json").is_file()
    assert sorted(str(p.relative_to(data / "malsd")) for p in (data / "malsd").rglob("*")) == (
        sorted(str(p.relative_to(malsd)) for p in malsd.rglob("*"))
    )
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_corrupt_zip_is_refused_and_leaves_no_data(
    mirror: Path, mirror_url: str, malsd: Path, tmp_path: Path
) -> None:
    manifest = write_manifest(mirror, tmp_path / "coco.yaml", mirror_url)
    val_zip = mirror / ZIPS["val2017"]
    data = bytearray(val_zip.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    val_zip.write_bytes(bytes(data))
    env = clean_env({"GMS_CACHE": str(tmp_path / "cache")})
    before = sorted(p.name for p in tmp_path.iterdir())

    result = run(
        ["gms", "data", "fetch", "--source", "coco", "--coco-manifest", manifest, "--malsd", malsd],
        cwd=tmp_path,
        env=env,
    )

    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "sha256 mismatch for" in message and "val2017.zip" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "cache"])
