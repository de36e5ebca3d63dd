"""Datasets of the study, one module each; import from the module, not from here, so that reading
COCO or generating demo data does not import torch."""
