"""TensorFlow dtype names <-> numpy dtypes (the subset TF.js graph models use)."""
import numpy as np

from .errors import ModelFormatError

# TF enum name (GraphDef attr) -> numpy dtype
TF_DTYPES = {
    "DT_FLOAT": np.float32, "DT_INT32": np.int32, "DT_BOOL": np.bool_,
    "DT_INT64": np.int64, "DT_UINT8": np.uint8, "DT_INT8": np.int8, "DT_INT16": np.int16,
    "DT_UINT16": np.uint16, "DT_HALF": np.float16, "DT_DOUBLE": np.float64, "DT_STRING": np.object_,
}
# weightsManifest dtype name -> numpy dtype
MANIFEST_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}


def from_tf(name: str, where: str = "") -> np.dtype:
    try:
        return np.dtype(TF_DTYPES[name])
    except (KeyError, TypeError):
        raise ModelFormatError(f"{where}: unsupported dtype {name!r}") from None


def from_tf_lenient(name: str):
    """Attribute dtypes: an unknown one (DT_VARIANT, DT_RESOURCE) stays a string, so that
    the op that carries it is reported as unsupported rather than the dtype."""
    return np.dtype(TF_DTYPES[name]) if isinstance(name, str) and name in TF_DTYPES else str(name)


def canonical(dtype) -> np.dtype:
    """The dtype a tensor is stored in at run time: float tensors are float32, ints int32."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return np.dtype(np.float32)
    if dt.kind in "iu" and dt != np.uint8:
        return np.dtype(np.int32)
    return dt
