"""Kernel side: the tracking API (no IPython needed) and, with IPython, the magics."""
