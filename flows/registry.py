"""The flows by the names users type; only the asked-for flow's module is imported (fast start)."""

from __future__ import annotations

import importlib
from typing import Any

from prefect import Flow

from flows.params import FLOW_PARAMS, section_name

#: The flows whose module is not named after them (a flow's function always is).
MODULES = {"data": "prepare", "teacher": "prepare", "distill": "distill_ablation"}


def load_flow(name: str) -> Flow[..., Any]:
    function = section_name(name)
    module = importlib.import_module(f"flows.{MODULES.get(name, function)}")
    flow: Flow[..., Any] = getattr(module, function)
    return flow


def all_flows() -> dict[str, Flow[..., Any]]:
    return {name: load_flow(name) for name in FLOW_PARAMS}
