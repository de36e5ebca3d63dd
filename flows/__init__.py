"""Prefect flows, one per job, named as users type them (:mod:`flows.registry`), each taking its
one parameter model (:mod:`flows.params`). Importing this package imports Prefect; the CLI does
so only inside its commands."""
