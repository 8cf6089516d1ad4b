"""The core engine: project discovery, run store, object cache, filters.

Usable without Jupyter: nothing here imports IPython, ipywidgets, tornado or
jupyter_server.
"""
