"""``dvc.yaml`` for an export plan: one DVC stage per notebook stage."""

from __future__ import annotations

from .scripts import ExportPlan


def _params(spec) -> list:
    default, others = [], {}
    for ref in spec.params:
        if ref.file == "params.yaml":
            default.append(ref.key)
        else:
            others.setdefault(ref.file, []).append(ref.key)
    return default + [{file: keys} for file, keys in others.items()]


def dvc_yaml(plan: ExportPlan, python: str) -> str:
    import yaml

    stages = {}
    for name in plan.pipeline.order:
        spec = plan.pipeline.stage(name).spec
        entry: dict = {"cmd": f"{python} stages/{name}.py"}
        if spec.desc:
            entry["desc"] = spec.desc
        deps = [f"stages/{name}.py", "stages/common.py", *spec.deps]
        deps += [f"vars/{producer}/{variable}" for producer, variable in sorted(plan.loads[name])]
        entry["deps"] = list(dict.fromkeys(deps))
        if spec.params:
            entry["params"] = _params(spec)
        outs = [*spec.outs, *({path: {"cache": False}} for path in spec.outs_no_cache)]
        outs += [f"vars/{name}/{variable}" for variable in sorted(plan.saves[name])]
        if outs:
            entry["outs"] = outs
        metrics = [*spec.metrics, *({path: {"cache": False}} for path in spec.metrics_no_cache)]
        if metrics:
            entry["metrics"] = metrics
        if spec.plots:
            entry["plots"] = list(spec.plots)
        stages[name] = entry
    header = f"# The pipeline of {plan.notebook}, written by mlops-jupyter: export again instead of editing.\n"
    return header + yaml.safe_dump({"stages": stages}, sort_keys=False, default_flow_style=False, width=1000)
