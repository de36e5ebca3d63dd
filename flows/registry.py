"""The flows by the names users type (``gms run NAME``, ``prefect deployment run 'NAME/...'``)."""

from __future__ import annotations

from typing import Any

from prefect import Flow

from flows.distill_ablation import distill, distill_ablation
from flows.encoder_selection import encoder_selection
from flows.pick import pick
from flows.prepare import data, teacher
from flows.segment_eval import segment_eval
from flows.study import study

FLOWS: dict[str, Flow[..., Any]] = {
    f.name: f
    for f in (
        data,
        teacher,
        distill,
        distill_ablation,
        segment_eval,
        encoder_selection,
        pick,
        study,
    )
}
