"""Scoring SAMs by mIoU and drawing mask grids; import from the modules (``run.evaluate_checkpoint``
is the entry of ``gms evaluate`` and of the pipeline)."""
