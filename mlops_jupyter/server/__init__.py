"""Jupyter Server extension: a thin REST layer over core for the sidebar."""
