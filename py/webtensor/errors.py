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
