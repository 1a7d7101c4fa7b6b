"""spml-bench harness: configuration, data, models, the training loop, metrics, launching and
run records. Submodules are imported where needed so that ``import benchmark`` stays cheap."""

__version__ = "0.1.0"
