"""Every failure a user can cause surfaces as a WebtensorError naming what is at fault."""


class WebtensorError(Exception):
    """Base class of all webtensor errors."""


class ModelFormatError(WebtensorError):
    """model.json is malformed, not a graph model, or inconsistent (names the file/node)."""


class WeightsError(WebtensorError):
    """A weight shard is missing, truncated, or disagrees with the manifest."""


class UnsupportedOpError(WebtensorError):
    """The graph uses an op webtensor does not implement (raised at load time)."""


class InputError(WebtensorError):
    """predict/execute got an input of the wrong name, shape or dtype."""


class ExecutionError(WebtensorError):
    """A node failed while running (names the node and op)."""


class ImageDecodeError(WebtensorError):
    """An image could not be decoded (names the image)."""


class BackendError(WebtensorError):
    """A backend is unknown or unavailable in this environment."""


class ResourceError(WebtensorError):
    """A model needs more memory (or another resource) than the backend can give it."""


def is_out_of_memory(e: BaseException) -> bool:
    """MemoryError, numpy's "array is too big" (wasm32 has a 2-4 GiB address space), or a
    runtime's own out-of-memory error."""
    msg = str(e).lower()
    return isinstance(e, MemoryError) or "webtensor-oom" in msg or "out of memory" in msg or "array is too big" in msg


def wrap_backend_error(e: BaseException, where: str) -> WebtensorError:
    """A raw exception from a backend's runtime (a JsException from JS, a MemoryError)
    as the webtensor error a user can act on, naming `where` (model, node)."""
    if isinstance(e, WebtensorError):
        return e
    msg = str(e).replace("Error: ", "", 1) if type(e).__name__ == "JsException" else str(e)
    if is_out_of_memory(e):
        return ResourceError(f"{where}: out of memory: {msg.replace('webtensor-oom: ', '')}")
    return ExecutionError(f"{where}: {type(e).__name__}: {msg}")
