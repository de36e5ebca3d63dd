"""``bundle.json``, the export folder's table of contents (the exporter's and the runtime's): one
entry per artifact, its metadata in ``<file>.json``; files older than profiles read as nanosam."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from gms_models.files import sha256_file
from gms_models.runtime.errors import BundleError
from gms_models.runtime.sessions import OrtSettings

BUNDLE_FORMAT = "gms-export/1"
MANIFEST_FILE = "bundle.json"

# The graphs' I/O names for every exporter and runtime.
ENCODER_INPUT = "image"
ENCODER_OUTPUT = "image_embeddings"
DECODER_INPUTS = (ENCODER_OUTPUT, "point_coords", "point_labels", "mask_input", "has_mask_input")
DECODER_OUTPUTS = ("iou_predictions", "low_res_masks")

Role = Literal["encoder", "decoder"]
RuntimeName = Literal["onnxruntime", "tensorrt"]
Precision = Literal["fp32", "fp16", "int8"]
OnnxProfile = Literal["nanosam", "sam"]
PROFILES: tuple[OnnxProfile, ...] = ("nanosam", "sam")


def metadata_path(artifact: Path) -> Path:
    return artifact.with_name(artifact.name + ".json")


@dataclass(frozen=True)
class Artifact:
    file: str
    role: Role
    runtime: RuntimeName
    precision: Precision
    multimask_output: bool | None = None


@dataclass(frozen=True)
class BundleManifest:
    """``ort_settings``: what the bundle was exported to run with (older ones: the defaults)."""

    arch: str
    img_size: int
    pixel_mean: tuple[float, float, float]
    pixel_std: tuple[float, float, float]
    artifacts: tuple[Artifact, ...] = field(default_factory=tuple)
    ort_settings: OrtSettings = field(default_factory=OrtSettings)
    format: str = BUNDLE_FORMAT
    profile: OnnxProfile = "nanosam"

    def find(
        self,
        role: Role,
        runtime: RuntimeName,
        precision: Precision | None = None,
        multimask_output: bool | None = None,
    ) -> Artifact | None:
        for art in self.artifacts:
            if (art.role, art.runtime) != (role, runtime) or precision not in (None, art.precision):
                continue
            if role != "decoder" or art.multimask_output == multimask_output:
                return art
        return None

    def decoders(
        self, runtime: RuntimeName, precision: Precision | None = None
    ) -> dict[bool, Artifact]:
        found = {m: self.find("decoder", runtime, precision, m) for m in (False, True)}
        return {m: art for m, art in found.items() if art is not None}

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def read(cls, folder: str | Path) -> BundleManifest:
        path = Path(folder) / MANIFEST_FILE
        if not Path(folder).is_dir():
            raise BundleError(f"export folder not found: {folder}")
        if not path.is_file():
            raise BundleError(f"{folder} is not a gms export folder: {MANIFEST_FILE} is missing")
        try:
            raw = json.loads(path.read_text())
            if raw.get("format") != BUNDLE_FORMAT:
                raise BundleError(
                    f"{path} has format {raw.get('format')!r}; this runtime reads {BUNDLE_FORMAT!r}"
                )
            try:
                ort_settings = OrtSettings(**raw.get("ort_settings", {}))
            except BundleError as exc:
                raise BundleError(f"{path} has bad ort_settings: {exc}") from exc
            manifest = cls(
                arch=str(raw["arch"]),
                img_size=int(raw["img_size"]),
                pixel_mean=tuple(float(v) for v in raw["pixel_mean"]),  # type: ignore[arg-type]
                pixel_std=tuple(float(v) for v in raw["pixel_std"]),  # type: ignore[arg-type]
                artifacts=tuple(Artifact(**a) for a in raw["artifacts"]),
                profile=raw.get("profile", "nanosam"),
                ort_settings=ort_settings,
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BundleError(f"{path} is malformed: {exc}") from exc
        if manifest.profile not in PROFILES:
            raise BundleError(
                f"{path} has profile {manifest.profile!r}; this runtime reads {', '.join(PROFILES)}"
            )
        for art in manifest.artifacts:
            if not (Path(folder) / art.file).is_file():
                raise BundleError(f"{path} lists {art.file}, which is missing from {folder}")
            manifest.verify(Path(folder) / art.file, art)
        return manifest

    def verify(self, file: Path, art: Artifact) -> None:
        """Check sha256, role and input size: a changed or swapped file would give other masks."""
        meta_file = metadata_path(file)
        try:
            meta = json.loads(meta_file.read_text())
            expected, role = str(meta["sha256"]), meta["role"]
        except FileNotFoundError:
            raise BundleError(f"{meta_file} is missing: {file} cannot be verified") from None
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise BundleError(f"{meta_file} is malformed: {exc}") from exc
        actual = sha256_file(file)
        if actual != expected:
            raise BundleError(
                f"{file} does not match {meta_file.name} (sha256 {actual[:12]}… instead of "
                f"{expected[:12]}…): the file was changed or damaged since export; export again"
            )
        if role != art.role:
            raise BundleError(f"{file} is a {role} but {MANIFEST_FILE} lists it as the {art.role}")
        if art.role == "encoder" and meta.get("img_size") != self.img_size:
            raise BundleError(
                f"{MANIFEST_FILE} in {file.parent} says img_size {self.img_size}, but {file.name} "
                f"was exported for {meta.get('img_size')}"
            )
