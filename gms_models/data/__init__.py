"""Datasets of the study, each in its own module (import from the module, not from here, so that
reading a COCO file or generating demo data does not import torch):

- :mod:`~gms_models.data.image_folder`: unlabeled images + the nanosam transform (distillation);
- :mod:`~gms_models.data.coco`: COCO instances per image (box-prompt evaluation), area bins;
- :mod:`~gms_models.data.malsd`: the MALSD folder layout and hand-point prompts;
- :mod:`~gms_models.data.malsd_dataset`: MALSD Act0/NG classification items;
- :mod:`~gms_models.data.demo`: the built-in generated dataset in both layouts;
- :mod:`~gms_models.data.check`: checking a dataset folder for missing or unreadable files;
- :mod:`~gms_models.data.scan`, :mod:`~gms_models.data.transforms`,
  :mod:`~gms_models.data.manifest`: shared pieces.
"""
