"""``gms profile``: one encoder or all of them, as a table or JSON, with Table 2's figures."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from gms_cli.main import app
from gms_models.encoders import groupmixformer, resnet18  # noqa: F401  (registers them)
from gms_models.errors import ConfigError
from gms_models.registry import list_encoders

TABLE2 = {
    "gmf_33124": (5.63, 32435.40),
    "gmf_3312": (4.31, 26808.09),
    "gmf_3344": (3.03, 21407.53),
    "gmf_2264": (3.58, 21128.09),
    "gmf_2282": (3.58, 21128.09),
    "resnet18": (14.78, 45623.54),
}

runner = CliRunner()


def test_one_arch_as_json_with_latency() -> None:
    result = runner.invoke(app, ["profile", "--arch", "gmf_2282", "--json", "--latency-runs", "1"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert row["name"] == "gmf_2282"
    assert (row["params_m"], row["macs_m"]) == TABLE2["gmf_2282"]
    assert row["params_true"] == row["params_thop"] == 3_577_968
    assert row["img_size"] == 1024
    assert row["latency_runs"] == 1
    assert row["latency_ms"] > 0


def test_all_as_json_without_latency_reproduces_table2() -> None:
    result = runner.invoke(app, ["profile", "--all", "--json", "--no-latency"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert sorted(rows) == list_encoders()
    for name, (params_m, macs_m) in TABLE2.items():
        assert (rows[name]["params_m"], rows[name]["macs_m"]) == (params_m, macs_m), name
        assert rows[name]["latency_ms"] is None
    assert rows["resnet18"]["params_true_m"] == 15.83


def test_table_output_at_another_size() -> None:
    result = runner.invoke(
        app, ["profile", "--arch", "resnet18", "--img-size", "256", "--no-latency"]
    )
    assert result.exit_code == 0, result.output
    assert "resnet18" in result.stdout
    assert "256×256" in result.stdout
    assert "14.78" in result.stdout  # thop params do not depend on the input size
    true_params = 14_782_528 + 256 * 16 * 16  # the position map is (1,256,16,16) at 256
    assert f"{true_params / 1e6:.2f}" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["profile"], "exactly one of --arch NAME or --all"),
        (["profile", "--all", "--arch", "gmf_2282"], "exactly one of --arch NAME or --all"),
        (["profile", "--arch", "gmf_9999", "--no-latency"], "known encoders: .*gmf_2282"),
        (["profile", "--arch", "gmf_2282", "--img-size", "1000"], "img_size=1000"),
        (["profile", "--arch", "gmf_2282", "--latency-runs", "0"], "--latency-runs must be >= 1"),
    ],
)
def test_bad_invocations_name_the_problem(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert isinstance(result.exception, ConfigError)
    assert re.search(message, str(result.exception))
