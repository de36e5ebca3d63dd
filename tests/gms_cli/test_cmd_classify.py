"""``gms classify``: a short real run on the built-in demo data writes the table, the chart and
the per-family metrics; bad input ends with a one-line error and exit status 2."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gms_cli.main import app
from gms_models.data.demo import DemoScale, demo_paths, generate_demo
from gms_models.errors import ConfigError

runner = CliRunner()
GMS = str(Path(sys.executable).with_name("gms"))  # the installed console script


@pytest.fixture(scope="module")
def malsd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("classify-cli") / "demo"
    generate_demo(out, scale=DemoScale(1, (64, 64), 4, 2, (96, 72), 1))
    return demo_paths(out)["malsd"]


def _args(malsd: Path, out: Path, *extra: str) -> list[str]:
    return [
        "classify", "--malsd", str(malsd), "--families", "pit,cct", "--epochs", "1",
        "--img-size", "64", "--batch-size", "8", "--out", str(out), *extra,
    ]  # fmt: skip


def test_help_lists_the_options() -> None:
    result = runner.invoke(app, ["classify", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--malsd", "--families", "--epochs", "--img-size", "--out", "--no-paper"):
        assert option in result.output


def test_a_short_run_writes_table_chart_and_metrics(malsd: Path, tmp_path: Path) -> None:
    out = tmp_path / "table1"
    result = runner.invoke(app, _args(malsd, out, "--no-paper"))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "table1.csv").open()))
    assert [r["Encoder"] for r in rows] == ["CCT", "PiT"]
    assert "paper val acc" not in rows[0]
    assert (out / "table1.md").read_text().splitlines()[2].startswith("| CCT | ")
    assert (out / "table1_val_acc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pit = json.loads((out / "metrics" / "pit.json").read_text())
    assert (pit["family"], pit["img_size"], len(pit["history"])) == ("PiT", 64, 1)
    assert pit["final"]["val_acc"] == float(rows[1]["val acc"])
    assert "| PiT |" in result.output  # the table is echoed


def test_config_file_section_with_command_line_overrides(malsd: Path, tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("classify:\n  families: vit,levit\n  epochs: 3\n  seed: 7\n")
    out = tmp_path / "table1"
    result = runner.invoke(app, [*_args(malsd, out), "--config", str(params)])
    assert result.exit_code == 0, result.output
    header = (out / "table1.csv").read_text().splitlines()[0]
    assert "paper val acc" in header
    assert sorted(p.name for p in (out / "metrics").iterdir()) == ["cct.json", "pit.json"]
    assert len(json.loads((out / "metrics" / "cct.json").read_text())["history"]) == 1


def test_an_impossible_size_is_a_config_error(malsd: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, [*_args(malsd, tmp_path), "--families", "all"])
    assert isinstance(result.exception, ConfigError)
    assert "sizes they all take: 112, 224" in str(result.exception)


def test_an_empty_class_ends_with_a_one_line_error(malsd: Path, tmp_path: Path) -> None:
    broken = Path(shutil.copytree(malsd, tmp_path / "malsd"))
    for image in (broken / "test" / "NG").iterdir():
        image.unlink()
    out = tmp_path / "table1"
    env = {**os.environ, "COLUMNS": "400"}  # keep rich from wrapping the long path
    proc = subprocess.run(
        [GMS, *_args(broken, out)], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: MALSD class folder has no images")
    assert "test/NG" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
