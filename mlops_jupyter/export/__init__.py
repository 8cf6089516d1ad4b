"""Export of a notebook's pipeline to DVC and Airflow (built on core and nbformat)."""
