"""What each kind of Airflow task of an export looks like: the imports, the configuration block
and the arguments of a ``BashOperator``, a ``KubernetesPodOperator`` or a ``DockerOperator``.

A task runs one command: a stage's script, or the check of its ``--when`` condition
(``python -m mlops_jupyter.export.gate``, which exits with ``SKIP`` when the condition is false,
so Airflow marks it skipped and the stage after it with it). Bash tasks run the export on
Airflow's machine; pod and container tasks run it inside the image, which holds the project at
``PROJECT_DIR``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .layout import STAGES

SKIP = 99  # the exit code of a condition that is false (BashOperator's default skip code)
GATE = "mlops_jupyter.export.gate"


@dataclass(frozen=True)
class Command:
    stage: str
    gate: bool = False  # the check of the stage's --when, not the stage

    def argv(self, script_prefix: str) -> list[str]:
        """The words after the interpreter; ``script_prefix`` is where ``stages/`` is ("" or an f-string part)."""
        script = f"{script_prefix}{STAGES}/{self.stage}.py"
        return ["-m", GATE, script] if self.gate else [script]


def literal(value) -> str:
    """A string, or a dict or list of strings and numbers, as Python source in double quotes."""
    return json.dumps(value, ensure_ascii=False)


def _config(name: str, env: str, value: str, comment: str) -> str:
    return f"{name} = os.environ.get({literal(env)}, {literal(value)})  # {comment}"


def _cpu(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def _docker_memory(quantity: str) -> str | int:
    """A Kubernetes memory quantity as Docker's ``mem_limit``: ``4Gi`` -> ``"4g"``, else bytes."""
    binary = {"Ki": "k", "Mi": "m", "Gi": "g"}
    match = re.match(r"^(\d+)(Ki|Mi|Gi)$", quantity)
    if match:
        return f"{match.group(1)}{binary[match.group(2)]}"
    units = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
             "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
    number, unit = re.match(r"^([\d.]+)([A-Za-z]*)$", quantity).groups()
    return int(float(number) * units.get(unit, 1))


class Bash:
    """The stages run on Airflow's worker, with its interpreter, in the export folder."""

    name, cls = "bash", "BashOperator"
    stdlib = ["from pathlib import Path", "from shlex import quote"]
    summary = "a BashOperator on Airflow's worker"

    def __init__(self, python: str, **_):
        self.python = python

    def imports(self, resources: bool) -> list[str]:
        return ["try:", "    from airflow.providers.standard.operators.bash import BashOperator",
                "except ImportError:  # Airflow 2 without the standard provider",
                "    from airflow.operators.bash import BashOperator"]

    def config(self) -> list[str]:
        return [
            'PIPELINE_DIR = os.environ.get("MLOPS_PIPELINE_DIR", str(Path(__file__).resolve().parent))'
            "  # the folder of stages/",
            _config("PYTHON", "MLOPS_PIPELINE_PYTHON", self.python, "the interpreter of the stages"),
        ]

    def arguments(self, command: Command, resources) -> list[str]:
        words = " ".join(command.argv(""))
        args = [f'bash_command=f"{{quote(PYTHON)}} {words}"', "cwd=PIPELINE_DIR", "env=ENV", "append_env=True"]
        return args if command.gate else [*args, "skip_on_exit_code=None"]  # a stage's exit 99 is a failure


class Kubernetes:
    """Each task is a pod of the image, in the namespace below."""

    name, cls = "kubernetes", "KubernetesPodOperator"
    stdlib: list[str] = []
    summary = "a KubernetesPodOperator (a pod of the image)"

    def __init__(self, image: str, namespace: str, project_dir: str, export: str, dag: str, **_):
        self.image, self.namespace, self.project_dir, self.dag = image, namespace, project_dir, dag
        self.export = export  # the export folder, from the project's root

    def imports(self, resources: bool) -> list[str]:
        return ["from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator",
                "from kubernetes.client import models as k8s"]

    def config(self) -> list[str]:
        return [
            _config("IMAGE", "MLOPS_PIPELINE_IMAGE", self.image, "holds mlops-jupyter, the project's requirements and the project"),
            _config("NAMESPACE", "MLOPS_PIPELINE_NAMESPACE", self.namespace, "where the pods run"),
            _config("PROJECT_DIR", "MLOPS_PIPELINE_PROJECT_DIR", self.project_dir, "the project's folder in the image"),
            _config("PYTHON", "MLOPS_PIPELINE_PYTHON", "python", "the image's interpreter"),
            "# The remote's credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...) from this secret, if it exists.",
            'ENV_FROM = [k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name="mlops-remote", optional=True))]',
        ]

    def arguments(self, command: Command, resources) -> list[str]:
        pod = re.sub(r"[^a-z0-9-]+", "-", f"{self.dag}-{command.stage}{'-when' if command.gate else ''}".lower()).strip("-")
        args = [f"name={literal(pod[:50])}", "image=IMAGE", "namespace=NAMESPACE",
                f"cmds=[PYTHON, {', '.join(_in_image(command, self.export))}]", "env_vars=ENV", "env_from=ENV_FROM"]
        if resources:
            values = dict(resources)
            requests = {k: values[k] for k in ("cpu", "memory") if k in values}
            limits = {**({"memory": values["memory"]} if "memory" in values else {}),
                      **({"nvidia.com/gpu": values["gpu"]} if "gpu" in values else {})}
            args.append(f"container_resources=k8s.V1ResourceRequirements(requests={literal(requests)}, limits={literal(limits)})")
        return args


class Docker:
    """Each task is a container of the image, on the Docker daemon below."""

    name, cls = "docker", "DockerOperator"
    stdlib: list[str] = []
    summary = "a DockerOperator (a container of the image)"

    def __init__(self, image: str, project_dir: str, export: str, **_):
        self.image, self.project_dir = image, project_dir
        self.export = export  # the export folder, from the project's root

    def imports(self, resources: bool) -> list[str]:
        lines = ["from airflow.providers.docker.operators.docker import DockerOperator"]
        return lines + (["from docker.types import DeviceRequest"] if resources else [])

    def config(self) -> list[str]:
        return [
            _config("IMAGE", "MLOPS_PIPELINE_IMAGE", self.image, "holds mlops-jupyter, the project's requirements and the project"),
            _config("PROJECT_DIR", "MLOPS_PIPELINE_PROJECT_DIR", self.project_dir, "the project's folder in the image"),
            _config("PYTHON", "MLOPS_PIPELINE_PYTHON", "python", "the image's interpreter"),
            _config("DOCKER_URL", "MLOPS_PIPELINE_DOCKER_URL", "unix://var/run/docker.sock", "the Docker daemon"),
            "# The remote's credentials, from the Airflow worker's environment, passed to the container unlogged.",
            'CREDENTIALS = {key: value for key, value in os.environ.items() if key.startswith("AWS_")}',
        ]

    def arguments(self, command: Command, resources) -> list[str]:
        args = ["image=IMAGE", f"command=[PYTHON, {', '.join(_in_image(command, self.export))}]", "environment=ENV",
                "private_environment=CREDENTIALS", "docker_url=DOCKER_URL", 'auto_remove="success"', "mount_tmp_dir=False"]
        values = dict(resources)
        if "cpu" in values:
            args.append(f"cpus={_cpu(values['cpu'])!r}")
        if "memory" in values:
            args.append(f"mem_limit={literal(_docker_memory(values['memory']))}")
        if "gpu" in values:
            args.append(f"device_requests=[DeviceRequest(count={int(values['gpu'])}, capabilities=[['gpu']])]")
        return args


def _in_image(command: Command, export: str) -> list[str]:
    """The command's words as the DAG writes them, the script under ``PROJECT_DIR``."""
    words = []
    for word in command.argv("{PROJECT_DIR}/" + ("" if export == "." else f"{export}/")):
        words.append(f"f{literal(word)}" if "{" in word else literal(word))
    return words


def operator(kind: str, **settings):
    return {"bash": Bash, "kubernetes": Kubernetes, "docker": Docker}[kind](**settings)
