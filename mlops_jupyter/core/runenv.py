"""Environment variables through which ``mlops-jupyter run`` talks to the kernel it starts."""

PARAMS = "MLOPS_JUPYTER_PARAMS"  # JSON {key: value} of param overrides (-p key=value)
NOTEBOOK = "MLOPS_JUPYTER_NOTEBOOK"  # the notebook's absolute path, for run identity
EVENTS = "MLOPS_JUPYTER_EVENTS"  # a JSON-lines file each stage appends its outcome to
