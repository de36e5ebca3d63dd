"""Step: make sure the data folder is there and sound (demo data when asked), and hash its parts."""

from __future__ import annotations

from pathlib import Path

import yaml
from prefect import task
from prefect.cache_policies import NO_CACHE

from gms_models.errors import DataError
from tasks.caching import fingerprint_folder
from tasks.execution import run_logger
from tasks.results import DataInfo
from tasks.specs import DataSpec

PARTS = ("unlabeled", "coco", "malsd")


def dvc_md5(root: Path) -> str | None:
    """The md5 recorded in ``<root>.dvc`` (e.g. ``data.dvc`` beside ``data/``), if any."""
    dvc_file = root.parent / f"{root.name}.dvc"
    if not dvc_file.is_file():
        return None
    try:
        document = yaml.safe_load(dvc_file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DataError(f"{dvc_file} is not valid YAML: {exc}") from None
    for out in document.get("outs", []):
        if (root.parent / str(out.get("path", ""))).resolve() == root.resolve():
            md5 = out.get("md5")
            return str(md5) if md5 else None
    return None


def _ensure_folder(spec: DataSpec, root: Path) -> bool:
    """Generate the demo data when needed; returns True when it did."""
    from gms_models.data.demo import DEMO_FORMAT, generate_demo
    from gms_models.data.manifest import MANIFEST_NAME, read_manifest, verify_manifest

    if not root.exists() or (root.is_dir() and not any(root.iterdir())):
        if not spec.generate_demo:
            raise DataError(
                f"data folder {root} is missing or empty; fetch it first (`gms data fetch`, "
                "`dvc pull`) or set data.generate_demo: true for the built-in demo data"
            )
        generate_demo(root, seed=spec.demo_seed, scale=spec.demo_scale)
        return True
    if (root / MANIFEST_NAME).is_file() and read_manifest(root).get("format") == DEMO_FORMAT:
        problems = verify_manifest(root)
        if problems:
            raise DataError(
                f"data folder {root} differs from its manifest ({len(problems)} problems: "
                f"{'; '.join(problems[:5])}); regenerate it with "
                f"`gms data demo --out {root} --overwrite`"
            )
    return False


@task(name="prepare-data", cache_policy=NO_CACHE)
def prepare_data(spec: DataSpec, runs_dir: Path) -> DataInfo:
    logger = run_logger()
    root = Path(spec.root).resolve()
    generated = _ensure_folder(spec, root)
    if generated:
        logger.info(
            "generated the demo data (%s, seed %d) in %s", spec.demo_scale, spec.demo_seed, root
        )
    paths = {
        "unlabeled": root / spec.unlabeled,
        "coco_images": root / spec.coco_images,
        "coco_annotations": root / spec.coco_annotations,
        "malsd": root / spec.malsd,
    }
    memo = Path(runs_dir).resolve() / "cache"
    fingerprints: dict[str, str] = {}
    if paths["unlabeled"].is_dir():
        fingerprints["unlabeled"] = fingerprint_folder(paths["unlabeled"], memo)
    if paths["coco_images"].is_dir() and paths["coco_annotations"].is_file():
        fingerprints["coco"] = (
            fingerprint_folder(paths["coco_images"], memo)
            + fingerprint_folder(paths["coco_annotations"], memo)
        )[:16]
    if paths["malsd"].is_dir():
        fingerprints["malsd"] = fingerprint_folder(paths["malsd"], memo)
    missing = [part for part in PARTS if part not in fingerprints]
    if missing:
        logger.warning("data folder %s has no %s part", root, ", ".join(missing))
    logger.info("data %s: %s", root, ", ".join(f"{k} {v}" for k, v in sorted(fingerprints.items())))
    return DataInfo(
        root=root, fingerprints=fingerprints, dvc_md5=dvc_md5(root), generated=generated, **paths
    )


def require_part(data: DataInfo, part: str) -> None:
    if part not in data.fingerprints:
        where = {
            "unlabeled": f"{data.unlabeled} (data.unlabeled)",
            "coco": f"{data.coco_images} and {data.coco_annotations} (data.coco_*)",
            "malsd": f"{data.malsd} (data.malsd)",
        }[part]
        raise DataError(f"this step needs the {part} data, which is missing: {where}")
