"""ipywidgets views of runs for frontends without the sidebar."""
