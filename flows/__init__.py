"""Prefect flows, one per job, each taking its one parameter model (:mod:`flows.params`)."""
