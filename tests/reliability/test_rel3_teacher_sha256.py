"""Issue 17, item 13: ``teacher.sha256`` must be 64 lowercase hex digits for every run (not only
under the paper preset), refused naming the field before any work."""

from __future__ import annotations

import pytest

from flows.params import load_flow_params
from gms_models.errors import ConfigError


@pytest.mark.parametrize("value", ["abc", "AB" * 32, "ab" * 31 + "a"])
def test_a_teacher_sha256_that_is_not_64_lowercase_hex_digits_is_refused(value: str) -> None:
    """Issue 17, item 13: checked for every run, not only the paper preset."""
    with pytest.raises(ConfigError, match=r"teacher\.sha256"):
        load_flow_params("distill-ablation", sets=[f"teacher.sha256={value}"])
    assert load_flow_params("distill-ablation", sets=[f"teacher.sha256={'ab' * 32}"])
