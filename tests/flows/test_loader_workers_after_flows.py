"""DataLoader workers still work in a process that has run Prefect flows (any test order)."""

from __future__ import annotations

import torch
from prefect import flow
from torch.utils.data import DataLoader, TensorDataset

from gms_models.data.loader import worker_context


@flow
def _tiny_flow() -> int:
    return 1


def test_workers_feed_batches_after_a_flow_ran_in_this_process(prefect_harness: None) -> None:
    assert _tiny_flow() == 1
    data = TensorDataset(torch.arange(8))
    loader = DataLoader(
        data, batch_size=2, num_workers=2, multiprocessing_context=worker_context(2)
    )
    assert [batch[0].tolist() for batch in loader] == [[0, 1], [2, 3], [4, 5], [6, 7]]
