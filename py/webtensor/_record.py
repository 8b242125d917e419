"""Records: classes of named fields, as `dataclasses.dataclass` makes them, for a fraction of
its cost at import.  dataclasses writes the source of each method of each class and compiles
it (exec), and webtensor has ~40 such classes, imported on every page load: on the live page
the import of numpy and webtensor took 0.37-0.41 s with dataclasses, 0.27-0.29 s with records
(alternating A/B).  Here __init__, __repr__, __eq__ (and __hash__ for frozen records) are a
few shared functions over the class's field list, made without compiling anything.

    @record
    class Step:
        node: Node
        reads: list[str] = field(default_factory=list)

What this supports is what webtensor uses: fields from annotations (those of record base
classes first), defaults and default factories, `field(repr=False)`, `frozen=True` (then
hashable by value), `__post_init__`, `replace(obj, **changes)` and `fields(obj)`.
"""
from __future__ import annotations

_MISSING = object()


class FrozenRecordError(AttributeError):
    """An assignment to a field of a frozen record."""


class _Field:
    __slots__ = ("default", "factory", "repr")

    def __init__(self, default, factory, show):
        self.default, self.factory, self.repr = default, factory, show


def field(*, default=_MISSING, default_factory=None, repr: bool = True):   # noqa: A002 - dataclasses' name
    """A field's default (or a callable making a fresh one per instance) and whether repr shows it."""
    return _Field(default, default_factory, repr)


def fields(obj) -> tuple[str, ...]:
    """The field names of a record class or instance, in __init__ order."""
    return type(obj).__record_fields__ if not isinstance(obj, type) else obj.__record_fields__


def replace(obj, **changes):
    """A copy of record `obj` with some fields changed (its __init__ and __post_init__ run)."""
    return type(obj)(**{**{name: getattr(obj, name) for name in obj.__record_fields__}, **changes})


def _make_init(cls_name: str, names: tuple[str, ...], defaults: dict, factories: dict, post_init: bool):
    count = len(names)

    def __init__(self, *args, **kwargs):
        if len(args) > count:
            raise TypeError(f"{cls_name}() takes {count} field arguments but {len(args)} were given")
        values = self.__dict__          # set directly: frozen records refuse setattr
        for name, value in zip(names, args):
            values[name] = value
        for name in names[len(args):]:
            if name in kwargs:
                values[name] = kwargs.pop(name)
            elif name in defaults:
                values[name] = defaults[name]
            elif name in factories:
                values[name] = factories[name]()
            else:
                raise TypeError(f"{cls_name}() missing the field argument {name!r}")
        if kwargs:
            name = next(iter(kwargs))
            how = "got multiple values for" if name in names else "got an unexpected keyword argument"
            raise TypeError(f"{cls_name}() {how} {name!r}")
        if post_init:
            self.__post_init__()
    return __init__


def _repr(self) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in type(self).__record_repr__)
    return f"{type(self).__qualname__}({shown})"


def _values(self) -> tuple:
    return tuple(getattr(self, name) for name in type(self).__record_fields__)


def _eq(self, other):
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self) -> int:
    return hash(_values(self))


def _frozen_setattr(self, name, value):
    raise FrozenRecordError(f"cannot assign to field {name!r}: {type(self).__name__} is frozen")


def _frozen_delattr(self, name):
    raise FrozenRecordError(f"cannot delete field {name!r}: {type(self).__name__} is frozen")


def record(cls=None, /, *, frozen: bool = False):
    """Make `cls` a record (see the module's docstring); usable as @record or @record(frozen=True)."""
    def wrap(cls):
        names: list[str] = []
        shown: list[str] = []
        defaults: dict = {}
        factories: dict = {}
        for base in reversed(cls.__mro__[1:]):          # inherited fields first, as dataclasses does
            if "__record_fields__" in base.__dict__:
                for name in base.__record_fields__:
                    if name not in names:
                        names.append(name)
                shown += [n for n in base.__record_repr__ if n not in shown]
                defaults.update(base.__record_defaults__)
                factories.update(base.__record_factories__)
        for name in cls.__dict__.get("__annotations__", {}):
            value = cls.__dict__.get(name, _MISSING)
            if name not in names:
                names.append(name)
            show = True
            if isinstance(value, _Field):
                show = value.repr
                if value.factory is not None:
                    factories[name] = value.factory
                    delattr(cls, name)
                elif value.default is not _MISSING:
                    defaults[name] = value.default
                    setattr(cls, name, value.default)
                else:
                    delattr(cls, name)
            elif value is not _MISSING:
                defaults[name] = value
            if show and name not in shown:
                shown.append(name)
            elif not show and name in shown:
                shown.remove(name)
        missing_after_default = [n for i, n in enumerate(names)
                                 if n not in defaults and n not in factories
                                 and any(m in defaults or m in factories for m in names[:i])]
        if missing_after_default:
            raise TypeError(f"{cls.__name__}: field {missing_after_default[0]!r} without a default "
                            f"follows one with a default")
        cls.__record_fields__ = tuple(names)
        cls.__record_repr__ = tuple(n for n in names if n in shown)
        cls.__record_defaults__ = defaults
        cls.__record_factories__ = factories
        cls.__match_args__ = tuple(names)
        own = cls.__dict__
        if "__init__" not in own:
            cls.__init__ = _make_init(cls.__name__, cls.__record_fields__, defaults, factories,
                                      hasattr(cls, "__post_init__"))
        if "__repr__" not in own:
            cls.__repr__ = _repr
        if "__eq__" not in own:
            cls.__eq__ = _eq
            if frozen:
                cls.__hash__ = _hash
            elif "__hash__" not in own:
                cls.__hash__ = None          # equal by value and mutable: unhashable, like dataclasses
        if frozen:
            cls.__setattr__ = _frozen_setattr
            cls.__delattr__ = _frozen_delattr
        return cls
    return wrap if cls is None else wrap(cls)
