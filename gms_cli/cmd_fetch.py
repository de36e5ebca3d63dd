"""``gms data fetch``: ``data/`` from the DVC remote, COCO 2017 (+ a MALSD folder) or the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from gms_cli.cmd_data import data_app, progress_bar
from gms_models.errors import ConfigError

DEMO_SEED = 0
DEMO_SCALE = "small"
DATA_DVC_FILE = "data.dvc"


def _fetch_remote(
    out: Path, remote_name: str | None, force: bool, attempts: int, console: Console
) -> None:
    from gms_cli.tracked_data import configured_remote, pull_tracked

    root = _data_repo(Path.cwd())
    if root is None:
        raise ConfigError(
            f"--source remote needs a DVC repository with {DATA_DVC_FILE}; none at or above "
            f"{Path.cwd()}"
        )
    if out.resolve() != (root / "data").resolve():
        raise ConfigError(f"--source remote writes where {DATA_DVC_FILE} says: {root / 'data'}")
    remote = configured_remote(root, remote_name)
    if remote is None:
        raise ConfigError(
            f"no DVC remote is configured in {root}; add one with `dvc remote add -d NAME "
            "s3://BUCKET/PREFIX` (and `dvc remote modify NAME endpointurl URL` for a non-AWS "
            "server), or use --source demo or --source coco"
        )
    with console.status(f"pulling {DATA_DVC_FILE} from {remote.describe()}"):
        pulled = pull_tracked(root, DATA_DVC_FILE, remote, force=force, attempts=attempts)
    verb = "pulled" if pulled else "already up to date:"
    console.print(f"{verb} {root / 'data'} from {remote.describe()}", highlight=False)


def _fetch_demo(out: Path, force: bool, console: Console) -> None:
    from gms_models.data.demo import generate_demo

    with progress_bar(f"demo data (seed {DEMO_SEED}, {DEMO_SCALE})", console) as update:
        manifest = generate_demo(
            out, seed=DEMO_SEED, scale=DEMO_SCALE, overwrite=force, progress=update
        )
    console.print(f"demo data in {manifest.parent}", highlight=False)
    root = _data_repo(out.resolve().parent)
    if root is not None and out.resolve() == (root / "data").resolve():  # data.dvc tracks out
        from gms_cli.tracked_data import commit_tracked

        commit_tracked(root, DATA_DVC_FILE)
        console.print(f"matches {root / DATA_DVC_FILE}; added to the DVC cache", highlight=False)


def _data_repo(start: Path) -> Path | None:
    """The DVC repository at or above ``start`` when it has a ``data.dvc``."""
    from gms_cli.tracked_data import find_repo_root

    root = find_repo_root(start)
    return root if root is not None and (root / DATA_DVC_FILE).is_file() else None


def fetch_command(
    source: Annotated[
        Literal["auto", "remote", "coco", "demo"],
        typer.Option(help="Where the data comes from; auto = remote if configured, else demo."),
    ] = "auto",
    out: Annotated[Path, typer.Option(help="Data folder to create.")] = Path("data"),
    remote: Annotated[
        str | None, typer.Option(help="DVC remote name. (default: the repository's default)")
    ] = None,
    coco_base_url: Annotated[
        str | None,
        typer.Option(help="Mirror of images.cocodataset.org with the same paths (coco source)."),
    ] = None,
    coco_manifest: Annotated[
        Path | None,
        typer.Option(
            help="YAML/JSON of the zips' paths, sizes and checksums (coco source). "
            "(default: the official release)"
        ),
    ] = None,
    malsd: Annotated[
        Path | None, typer.Option(help="MALSD folder (train|test/Act0|NG/...) (coco source).")
    ] = None,
    train_limit: Annotated[
        int | None, typer.Option(min=1, help="Keep the first N train2017 images (coco source).")
    ] = None,
    val_limit: Annotated[
        int | None, typer.Option(min=1, help="Keep the first N val2017 images (coco source).")
    ] = None,
    retries: Annotated[
        int, typer.Option(min=1, help="Attempts per download or remote check before giving up.")
    ] = 3,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing data folder.")
    ] = False,
) -> None:
    """Fetch the study's data: DVC remote, COCO 2017 zips + a MALSD folder, or the demo data."""
    console = Console(stderr=True)
    coco_only = {
        "--coco-base-url": coco_base_url,
        "--coco-manifest": coco_manifest,
        "--malsd": malsd,
        "--train-limit": train_limit,
        "--val-limit": val_limit,
    }
    if source == "auto":
        from gms_cli.tracked_data import configured_remote

        root = _data_repo(Path.cwd())
        source = "remote" if root is not None and configured_remote(root) is not None else "demo"
        console.print(f"source: {source}")
    given = [name for name, value in coco_only.items() if value is not None]
    if given and source != "coco":
        raise typer.BadParameter(
            f"{', '.join(given)} only apply to --source coco", param_hint="--source"
        )
    if remote is not None and source != "remote":
        raise typer.BadParameter("--remote only applies to --source remote", param_hint="--remote")
    if source == "remote":
        _fetch_remote(out, remote, force, retries, console)
        return
    if source == "demo":
        _fetch_demo(out, force, console)
        return
    # --source coco: the COCO 2017 zips, and the MALSD folder when given
    from gms_models.data.malsd import check_malsd_layout, import_malsd
    from gms_models.fetch.coco import OFFICIAL_MANIFEST, import_coco, load_manifest
    from gms_models.files import ensure_replaceable, staged_folder

    manifest = load_manifest(coco_manifest) if coco_manifest is not None else OFFICIAL_MANIFEST
    ensure_replaceable(out, force)
    if malsd is not None:
        check_malsd_layout(malsd)  # fail before a long download, not after
    with staged_folder(out) as staging:
        result = import_coco(
            staging / "coco",
            manifest=manifest,
            base_url=coco_base_url,
            train_limit=train_limit,
            val_limit=val_limit,
            retries=retries,
        )
        if malsd is not None:
            import_malsd(malsd, staging / "malsd")
    images = ", ".join(f"{split} {n}" for split, n in result.images.items())
    console.print(f"COCO 2017 in {out / 'coco'} ({images} images)", highlight=False)
    if malsd is None:
        console.print("[yellow]no --malsd given: Table 1 and Table 3 need data/malsd[/]")
    else:
        console.print(f"MALSD in {out / 'malsd'}", highlight=False)


data_app.command("fetch")(fetch_command)  # typer resolves the group's commands lazily
