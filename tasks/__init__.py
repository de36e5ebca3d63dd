"""Prefect tasks, one step each; they return small records, never tensors."""
