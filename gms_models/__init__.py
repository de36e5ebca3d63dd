"""gms_models: the Group-Mix SAM library (SAM, student encoders, distillation, evaluation, export).

Never imports prefect, mlflow or dvc: orchestration lives in ``tasks/`` and ``flows/``.
"""

__version__ = "0.1.0"
