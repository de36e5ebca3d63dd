"""Bring datasets into the project's data layout: COCO 2017 from its zips, MALSD from a folder."""
