"""Where JupyterLab finds the prebuilt sidebar extension (``labextension/``, built from the top-level ``labextension/`` sources)."""

from __future__ import annotations


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """``jupyter labextension develop`` and the extension manager read this."""
    return [{"src": "labextension", "dest": "mlops-jupyter"}]
