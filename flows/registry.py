"""The flows by the names users type; only the asked-for flow's module is imported (fast start)."""

from __future__ import annotations

import importlib
from typing import Any

from prefect import Flow

#: Flow name → (module, function) of the flow.
FLOW_FUNCTIONS: dict[str, tuple[str, str]] = {
    "data": ("flows.prepare", "data"),
    "teacher": ("flows.prepare", "teacher"),
    "distill": ("flows.distill_ablation", "distill"),
    "distill-ablation": ("flows.distill_ablation", "distill_ablation"),
    "segment-eval": ("flows.segment_eval", "segment_eval"),
    "encoder-selection": ("flows.encoder_selection", "encoder_selection"),
    "pick": ("flows.pick", "pick"),
    "study": ("flows.study", "study"),
}


def load_flow(name: str) -> Flow[..., Any]:
    module, function = FLOW_FUNCTIONS[name]
    flow: Flow[..., Any] = getattr(importlib.import_module(module), function)
    return flow


def all_flows() -> dict[str, Flow[..., Any]]:
    return {name: load_flow(name) for name in FLOW_FUNCTIONS}
