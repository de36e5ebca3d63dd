"""import_coco against a loopback HTTP server serving zips built from coco-mini."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from pycocotools.coco import COCO

from gms_models.errors import ConfigError, DataError, DownloadError
from gms_models.fetch.coco import OFFICIAL_MANIFEST, CocoManifest, import_coco, load_manifest

MakeManifest = Callable[..., CocoManifest]


def _tree_digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_full_import_reproduces_the_release_layout(
    zip_server, coco_zips, make_manifest: MakeManifest, coco_mini: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "data" / "coco"
    result = import_coco(
        dest,
        manifest=make_manifest(coco_zips, zip_server.base_url),
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    train_src = coco_mini / "tiny-coco-train2017"
    assert _tree_digest(dest / "val2017") == _tree_digest(coco_mini / "val2017")
    assert _tree_digest(dest / "train2017") == _tree_digest(train_src / "train2017")
    assert (dest / "annotations" / "instances_val2017.json").read_bytes() == (
        coco_mini / "annotations" / "instances_val2017.json"
    ).read_bytes()
    assert (dest / "annotations" / "instances_train2017.json").read_bytes() == (
        train_src / "annotations" / "instances_train2017_small.json"
    ).read_bytes()
    assert result.images == {"train2017": 16, "val2017": 80}
    assert result.annotations["val2017"] == dest / "annotations" / "instances_val2017.json"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["coco"]  # no staging left over


def test_limits_keep_the_first_images_and_only_their_annotations(
    zip_server, coco_zips, make_manifest: MakeManifest, coco_mini: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "coco"
    result = import_coco(
        dest,
        manifest=make_manifest(coco_zips, zip_server.base_url),
        splits=["val2017"],
        val_limit=7,
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    expected = sorted(p.name for p in (coco_mini / "val2017").iterdir())[:7]
    assert sorted(p.name for p in (dest / "val2017").iterdir()) == expected
    assert not (dest / "train2017").exists()
    assert result.images == {"val2017": 7}

    source = json.loads((coco_mini / "annotations" / "instances_val2017.json").read_text())
    ids = {img["id"] for img in source["images"] if img["file_name"] in expected}
    subset = COCO(str(dest / "annotations" / "instances_val2017.json"))
    assert set(subset.getImgIds()) == ids
    assert len(subset.getAnnIds()) == sum(a["image_id"] in ids for a in source["annotations"])
    assert len(subset.getCatIds()) == len(source["categories"])


def test_interrupted_download_resumes_where_it_stopped(
    zip_server, coco_zips, make_manifest: MakeManifest, tmp_path: Path
) -> None:
    path = "/zips/val2017.zip"
    size = len(coco_zips["val2017"])
    cut = size // 2
    zip_server.cut_once[path] = cut
    import_coco(
        tmp_path / "coco",
        manifest=make_manifest(coco_zips, zip_server.base_url),
        splits=["val2017"],
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    assert [r for p, r in zip_server.requests if p == path] == [None, f"bytes={cut}-"]
    assert zip_server.sent[path] == size  # each byte sent once
    assert len(list((tmp_path / "coco" / "val2017").iterdir())) == 80


@pytest.mark.parametrize("checksum", ["sha256", "md5"])
def test_corrupted_zip_is_rejected_and_nothing_is_left(
    zip_server, coco_zips, make_manifest: MakeManifest, tmp_path: Path, checksum: str
) -> None:
    manifest = make_manifest(coco_zips, zip_server.base_url, checksum)
    good = coco_zips["val2017"]
    middle = len(good) // 2
    zip_server.files["/zips/val2017.zip"] = (
        good[:middle] + bytes([good[middle] ^ 0xFF]) + good[middle + 1 :]
    )
    data = tmp_path / "data"
    with pytest.raises(DownloadError, match=f"mismatch.*val2017.zip|{checksum}"):
        import_coco(
            data / "coco",
            manifest=manifest,
            cache_dir=tmp_path / "cache",
            progress=False,
        )
    assert not data.exists()
    assert not list((tmp_path / "cache").glob("val2017.zip*"))


def test_zip_with_bad_member_crc_leaves_no_partial_folder(
    zip_server, coco_zips, make_manifest: MakeManifest, tmp_path: Path
) -> None:
    good = coco_zips["val2017"]
    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        info = zf.infolist()[3]
    offset = info.header_offset + 30 + len(info.filename) + len(info.extra) + 100
    damaged = good[:offset] + bytes([good[offset] ^ 0xFF]) + good[offset + 1 :]
    zips = {**coco_zips, "val2017": damaged}  # the manifest vouches for the damaged bytes
    zip_server.files["/zips/val2017.zip"] = damaged
    data = tmp_path / "data"
    with pytest.raises(DataError, match="corrupt zip"):
        import_coco(
            data / "coco",
            manifest=make_manifest(zips, zip_server.base_url),
            cache_dir=tmp_path / "cache",
            progress=False,
        )
    assert not data.exists()


def test_unreachable_remote_fails_after_bounded_retries(
    coco_zips, make_manifest: MakeManifest, tmp_path: Path
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = tmp_path / "data"
    began = time.monotonic()
    with pytest.raises(DownloadError, match=r"127\.0\.0\.1.*after 3 attempt"):
        import_coco(
            data / "coco",
            manifest=make_manifest(coco_zips, f"http://127.0.0.1:{port}"),
            cache_dir=tmp_path / "cache",
            retries=2,
            timeout=2.0,
            progress=False,
        )
    assert time.monotonic() - began < 20
    assert not data.exists()


def test_existing_destination_is_refused_before_any_download(
    zip_server, coco_zips, make_manifest: MakeManifest, tmp_path: Path
) -> None:
    dest = tmp_path / "coco"
    dest.mkdir()
    with pytest.raises(DataError, match="already exists"):
        import_coco(
            dest,
            manifest=make_manifest(coco_zips, zip_server.base_url),
            cache_dir=tmp_path / "cache",
            progress=False,
        )
    assert zip_server.requests == []


def test_reimport_uses_cached_zips_and_replaces_the_folder(
    zip_server, coco_zips, make_manifest: MakeManifest, tmp_path: Path
) -> None:
    manifest = make_manifest(coco_zips, zip_server.base_url, "md5")
    dest, cache = tmp_path / "coco", tmp_path / "cache"
    import_coco(dest, manifest=manifest, val_limit=3, cache_dir=cache, progress=False)
    served = len(zip_server.requests)
    result = import_coco(
        dest, manifest=manifest, val_limit=5, cache_dir=cache, overwrite=True, progress=False
    )
    assert len(zip_server.requests) == served
    assert result.images == {"train2017": 16, "val2017": 5}
    assert len(list((dest / "val2017").iterdir())) == 5


def test_base_url_override_and_manifest_file(
    zip_server, coco_zips, make_manifest: MakeManifest, tmp_path: Path
) -> None:
    manifest_file = tmp_path / "coco.yaml"
    manifest = make_manifest(coco_zips, "http://mirror.invalid")
    manifest_file.write_text(json.dumps(manifest.model_dump()))
    loaded = load_manifest(manifest_file)
    assert loaded == manifest
    result = import_coco(
        tmp_path / "coco",
        manifest=loaded,
        base_url=zip_server.base_url,
        splits=["train2017"],
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    assert result.images == {"train2017": 16}


def test_manifest_without_checksum_is_refused(tmp_path: Path) -> None:
    manifest_file = tmp_path / "coco.yaml"
    entry = {"path": "zips/val2017.zip", "size": 10}
    manifest_file.write_text(
        json.dumps({"train2017": entry, "val2017": entry, "annotations": entry})
    )
    with pytest.raises(ConfigError, match=r"coco\.yaml.*md5 or a sha256"):
        load_manifest(manifest_file)


def test_official_manifest_points_at_the_release_files() -> None:
    urls = [
        OFFICIAL_MANIFEST.url(a)
        for a in (
            OFFICIAL_MANIFEST.train2017,
            OFFICIAL_MANIFEST.val2017,
            OFFICIAL_MANIFEST.annotations,
        )
    ]
    assert urls == [
        "http://images.cocodataset.org/zips/train2017.zip",
        "http://images.cocodataset.org/zips/val2017.zip",
        "http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
    ]
