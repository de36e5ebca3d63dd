"""Prefect tasks, one step each: they call :mod:`gms_models`, log to MLflow and return small
records (paths, metrics, run ids), never tensors."""
