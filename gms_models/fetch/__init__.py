"""Bring datasets into the project's data layout: COCO 2017 from its zips, MALSD from a folder."""

from gms_models.fetch.coco import (
    OFFICIAL_MANIFEST,
    CocoArchive,
    CocoManifest,
    import_coco,
    load_manifest,
)
from gms_models.fetch.malsd import check_malsd_layout, import_malsd

__all__ = [
    "OFFICIAL_MANIFEST",
    "CocoArchive",
    "CocoManifest",
    "check_malsd_layout",
    "import_coco",
    "import_malsd",
    "load_manifest",
]
