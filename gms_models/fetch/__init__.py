"""Bring COCO 2017 into the project's data layout from its zips (MALSD: ``data.malsd``)."""
