"""webtensor._record: the records that stand in for dataclasses behave as the package needs."""
import pytest

from webtensor._record import FrozenRecordError, field, fields, record, replace


@record
class Base:
    a: int
    b: list = field(default_factory=list)


@record
class Child(Base):
    c: str = "x"
    hidden: dict = field(default_factory=dict, repr=False)


@record(frozen=True)
class Key:
    kind: str
    offset: int = 0


@record
class WithPost:
    items: list

    def __post_init__(self):
        self.index = {v: i for i, v in enumerate(self.items)}


def test_init_positional_keyword_defaults_and_fresh_factories():
    one, two = Base(1), Base(a=2)
    assert (one.a, one.b, two.a) == (1, [], 2)
    one.b.append(5)
    assert two.b == [] and Base(3).b == []           # a factory makes a fresh value per instance
    c = Child(1, [2], "y")
    assert (c.a, c.b, c.c, c.hidden) == (1, [2], "y", {})
    assert fields(Child) == ("a", "b", "c", "hidden") == fields(c)   # inherited fields first


def test_bad_arguments_name_the_field():
    with pytest.raises(TypeError, match="missing the field argument 'a'"):
        Base()
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        Base(1, z=2)
    with pytest.raises(TypeError, match="multiple values for 'a'"):
        Base(1, a=2)
    with pytest.raises(TypeError, match="takes 2 field arguments but 3"):
        Base(1, [], 3)


def test_eq_repr_and_hash():
    assert Base(1, [2]) == Base(1, [2]) and Base(1) != Base(2)
    assert Child(1) != Base(1)                         # another class is never equal
    assert repr(Child(1, [], "z", {"k": 1})) == "Child(a=1, b=[], c='z')"   # repr=False hides a field
    with pytest.raises(TypeError):
        hash(Base(1))                                   # mutable and equal by value: unhashable
    assert hash(Key("t", 1)) == hash(Key("t", 1)) and {Key("t"): 1}[Key("t", 0)] == 1


def test_frozen_refuses_assignment():
    k = Key("t")
    with pytest.raises(FrozenRecordError, match="'kind'"):
        k.kind = "c"
    with pytest.raises(AttributeError):
        del k.offset
    assert (k.kind, k.offset) == ("t", 0)


def test_replace_and_post_init():
    k = replace(Key("t", 3), offset=4)
    assert k == Key("t", 4)
    w = WithPost(["p", "q"])
    assert w.index == {"p": 0, "q": 1}
    w2 = replace(w, items=["r"])
    assert w2.index == {"r": 0} and w.index == {"p": 0, "q": 1}


def test_a_field_without_default_after_one_with_is_refused():
    with pytest.raises(TypeError, match="'b' without a default follows"):
        @record
        class Bad:
            a: int = 0
            b: int
