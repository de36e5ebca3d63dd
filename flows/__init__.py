"""Prefect flows, one per job, named as users type them (:mod:`flows.registry`):

- ``data``, ``teacher``: the first stages on their own (:mod:`flows.prepare`);
- ``distill``, ``distill-ablation`` (Table 2) (:mod:`flows.distill_ablation`);
- ``segment-eval`` (Table 3), ``encoder-selection`` (Table 1), ``pick``;
- ``study``: all of them in order.

Parameters: one model per flow in :mod:`flows.params`. Importing this package imports Prefect;
the CLI does so only inside its commands.
"""
