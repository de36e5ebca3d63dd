"""Prefect tasks, one step each. They call :mod:`gms_models`, log to MLflow and return small
records (paths, metrics, run ids), never tensors:

- :mod:`tasks.data`: prepare/verify the data folder; :mod:`tasks.teacher`: the teacher;
- :mod:`tasks.distill`, :mod:`tasks.export`, :mod:`tasks.evaluate`: one arm's steps;
- :mod:`tasks.classify`: one Table 1 family; :mod:`tasks.tables`: writing and publishing the tables;
- :mod:`tasks.selection`: ``pick`` and its rule;
- :mod:`tasks.tracking` (MLflow), :mod:`tasks.caching` (what is cached, on which key),
  :mod:`tasks.devices` (one heavy step per device), :mod:`tasks.retrying` (what is retried),
  :mod:`tasks.specs` and :mod:`tasks.results` (the steps' inputs and outputs).
"""
