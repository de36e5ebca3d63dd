"""gms_models: the Group-Mix SAM library; it never imports prefect, mlflow or dvc."""

import os

# PyTorch backs CPU tensors of 2 MiB and more with transparent huge pages when this is set before
# its first allocation. Without it every large activation is page-faulted in 4 KiB at a time on
# each forward (README, "Huge pages" gives the measured cost). A value the user set (0: off) stays.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

__version__ = "0.1.0"
