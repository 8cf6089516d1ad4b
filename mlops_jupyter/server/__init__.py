"""Jupyter Server extension: a thin REST layer over core for the sidebar.

Enabled by ``pip install`` (``jupyter-config/server-config/mlops_jupyter.json``);
the routes live under ``<base_url>/mlops-jupyter/``.
"""

from __future__ import annotations

from jupyter_server.utils import url_path_join

from . import handlers, plot_handlers, registry_handlers
from .service import Projects

PREFIX = "mlops-jupyter"
ROUTES = handlers.ROUTES + plot_handlers.ROUTES + registry_handlers.ROUTES  # every route, relative to PREFIX


def _load_jupyter_server_extension(serverapp) -> None:
    web_app = serverapp.web_app
    web_app.settings["mlops_jupyter"] = Projects(serverapp.root_dir)
    base = url_path_join(web_app.settings["base_url"], PREFIX)
    web_app.add_handlers(".*$", [(url_path_join(base, pattern), handler) for pattern, handler in ROUTES])
    serverapp.log.info(f"mlops-jupyter: REST API at {base}/")
