"""gms_models: the Group-Mix SAM library; it never imports prefect, mlflow or dvc."""

from gms_models.malloc import keep_freed_memory

keep_freed_memory()  # see gms_models/malloc.py; GMS_KEEP_FREED_MEMORY=0 turns it off

__version__ = "0.1.0"
