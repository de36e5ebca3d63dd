"""gms_models: the Group-Mix SAM library; it never imports prefect, mlflow or dvc."""

__version__ = "0.1.0"
