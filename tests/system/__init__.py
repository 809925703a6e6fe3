"""System tests: the rendered bundle under a real, private Docker engine (``pytest -m system``)."""
