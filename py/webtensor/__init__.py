"""webtensor: TensorFlow.js models in Python, in the browser (Pyodide) and in CPython."""
__version__ = "0.1.0"

from .errors import (WebtensorError, ModelFormatError, WeightsError, UnsupportedOpError,
                     InputError, ExecutionError, ImageDecodeError, BackendError)
from .model import GraphModel, load_graph_model, load_layers_model, read_graph_model, read_layers_model
from .backends import set_backend, get_backend, backends

__all__ = ["GraphModel", "load_graph_model", "load_layers_model", "read_graph_model", "read_layers_model", "set_backend", "get_backend",
           "backends", "WebtensorError", "ModelFormatError", "WeightsError", "UnsupportedOpError",
           "InputError", "ExecutionError", "ImageDecodeError", "BackendError"]
