"""prefect.yaml: every deployment points at a flow of the registry, on the `gpu` pool, with
parameters its flow accepts; the toy deployments are the toy study of `gms study` (params.yaml)."""

from __future__ import annotations

from pathlib import Path

import yaml

from flows.params import FLOW_PARAMS, load_flow_params

REPO = Path(__file__).resolve().parents[2]


def deployments() -> list[dict]:
    return yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]


def flow_of(entrypoint: str) -> str:
    """The registry name of the flow at ``entrypoint``."""
    from flows.registry import all_flows

    path, function = entrypoint.split(":")
    module = path.removesuffix(".py").replace("/", ".")
    matches = [
        name
        for name, flow in all_flows().items()
        if flow.fn.__module__ == module and flow.fn.__name__ == function
    ]
    assert len(matches) == 1, entrypoint
    return matches[0]


def test_every_deployment_is_a_known_flow_on_the_gpu_pool_with_valid_parameters() -> None:
    seen = set()
    for deployment in deployments():
        flow = flow_of(deployment["entrypoint"])
        assert deployment["work_pool"]["name"] == "gpu"
        from flows.registry import all_flows

        all_flows()[flow].validate_parameters(deployment["parameters"])
        seen.add(f"{flow}/{deployment['name']}")
    assert {"distill-ablation/paper", "distill-ablation/toy", "study/toy"} <= seen
    assert {name.split("/")[0] for name in seen} == set(FLOW_PARAMS)


def test_toy_deployments_match_the_toy_study() -> None:
    by_name = {
        (flow_of(d["entrypoint"]), d["name"]): d["parameters"]["params"]
        for d in deployments()
        if "params" in d["parameters"]
    }
    toy = load_flow_params("study", REPO / "params.yaml")
    assert FLOW_PARAMS["study"].model_validate(by_name[("study", "toy")]) == toy
    ablation = FLOW_PARAMS["distill-ablation"].model_validate(by_name[("distill-ablation", "toy")])
    assert ablation.model_copy(update={"pick": None}) == toy.distill_ablation
    assert ablation.pick is not None  # the deployment picks its champion itself
