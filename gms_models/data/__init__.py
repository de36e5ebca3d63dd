"""Datasets of the study; import each module (reading COCO or demo data needs no torch)."""
