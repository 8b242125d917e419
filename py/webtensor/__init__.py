"""webtensor: TensorFlow.js models in Python, in the browser (Pyodide) and in CPython."""
__version__ = "0.1.0"

from .errors import (WebtensorError, ModelFormatError, WeightsError, UnsupportedOpError,
                     InputError, ExecutionError, ImageDecodeError, BackendError, ResourceError)
from .model import (GraphModel, load_graph_model, load_layers_model, load_tflite_model, read_graph_model,
                    read_layers_model, read_tflite_model, select_backend, select_backend_async)
from .backends import set_backend, set_backend_async, get_backend, get_backend_async, backends
from .native import set_threads, thread_stats
from .quantization import quantize
from .graph.writer import save_graph_model
from .graph.control import set_loop_limit
from .engine import (Tensor, TensorDisposedError, debug_memory_guards, keep, memory, profile, profile_async,
                     set_plan_cache_size, tensor, tidy, time)

__all__ = ["set_loop_limit", "Tensor", "TensorDisposedError", "debug_memory_guards", "set_plan_cache_size", "keep", "memory", "profile", "profile_async", "tensor", "tidy", "time",
           "select_backend", "select_backend_async", "quantize", "save_graph_model", "GraphModel", "load_graph_model", "load_layers_model", "load_tflite_model", "read_graph_model", "read_layers_model", "read_tflite_model", "set_backend", "set_backend_async", "get_backend", "get_backend_async", "set_threads", "thread_stats",
           "backends", "WebtensorError", "ModelFormatError", "WeightsError", "UnsupportedOpError",
           "InputError", "ExecutionError", "ImageDecodeError", "BackendError", "ResourceError"]
