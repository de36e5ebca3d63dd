"""`gms data demo` and `gms data check` through the real CLI app."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from gms_cli.main import app
from gms_models.data.manifest import read_manifest, verify_manifest
from gms_models.errors import DataError

runner = CliRunner()


def test_demo_then_check(tmp_path: Path) -> None:
    out = tmp_path / "data"
    result = runner.invoke(
        app, ["data", "demo", "--out", str(out), "--seed", "5", "--scale", "tiny"]
    )
    assert result.exit_code == 0, result.output
    assert f"to {out}, listed in {out / 'manifest.json'}" in result.output
    manifest = read_manifest(out)
    assert manifest["seed"] == 5 and manifest["scale"] == "tiny"
    assert verify_manifest(out) == []
    assert f"wrote {len(manifest['files'])} data files" in result.output

    result = runner.invoke(app, ["data", "check", str(out)])
    assert result.exit_code == 0, result.output
    assert "OK: demo layout" in result.output

    bad = out / "malsd" / "train" / "Act0" / "act0_0001.jpg"
    bad.write_bytes(b"broken")
    result = runner.invoke(app, ["data", "check", str(out / "malsd")])
    assert isinstance(result.exception, DataError)  # `gms` prints it as error: ..., exit 2
    assert "failed the malsd check: 1 bad images" in str(result.exception)
    assert str(bad) in result.output
    assert "FAILED: malsd layout" in result.output


def test_demo_refuses_a_busy_folder_and_bad_options(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("x")
    result = runner.invoke(app, ["data", "demo", "--out", str(tmp_path / "busy")])
    assert isinstance(result.exception, DataError)
    assert str(tmp_path / "busy") in str(result.exception)
    result = runner.invoke(app, ["data", "demo", "--out", str(tmp_path / "x"), "--scale", "huge"])
    assert result.exit_code == 2 and "--scale" in result.output
    result = runner.invoke(app, ["data", "check", str(tmp_path), "--layout", "voc"])
    assert result.exit_code == 2 and "--layout" in result.output
