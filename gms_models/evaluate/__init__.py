"""Scoring SAMs by mIoU and drawing mask grids; the entry is ``run.evaluate_checkpoint``."""
