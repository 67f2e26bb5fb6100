"""Parameter declarations (``groupstore.parameters``) and ``groupstore.jsonvalue``.

The expected JSON shapes are copied from the flowserv inventory, section 3.2.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from groupstore.errors import (
    ConstraintViolationError,
    InvalidArgumentError,
    InvalidParameterError,
)
from groupstore.jsonvalue import MAX_DEPTH, check_json
from groupstore.parameters import (
    Actor,
    Array,
    Bool,
    File,
    FileArgument,
    Float,
    Int,
    Numeric,
    Option,
    Parameter,
    RangeConstraint,
    Record,
    Select,
    String,
    parameter_from_dict,
    parameters_from_input,
    parameters_to_list,
)

# -- The nine types, with the inventory's JSON ---------------------------------------

EXAMPLES: dict[str, tuple[Parameter, str]] = {
    "string": (
        String("greeting", label="Greeting", help="Text", default="Hello", group="g1"),
        '{"dtype":"string","name":"greeting","index":0,"isRequired":false,"label":"Greeting",'
        '"help":"Text","defaultValue":"Hello","group":"g1"}',
    ),
    "bool": (
        Bool("verbose", index=1, default=False),
        '{"dtype":"bool","name":"verbose","index":1,"isRequired":false,"defaultValue":false}',
    ),
    "int": (
        Int("n", index=2, default=5, constraint=RangeConstraint(0, 10)),
        '{"dtype":"int","name":"n","index":2,"isRequired":false,"defaultValue":5,'
        '"range":"[0.0,10.0]"}',
    ),
    "float": (
        Float("alpha", index=3, constraint=RangeConstraint(0, 1, left_closed=False)),
        '{"dtype":"float","name":"alpha","index":3,"isRequired":false,"range":"(0.0,1.0]"}',
    ),
    "select": (
        Select(
            "mode",
            (Option("Fast", "fast"), Option("Slow", "slow", default=True)),
            index=5,
            default="slow",
        ),
        '{"dtype":"select","name":"mode","index":5,"isRequired":false,"defaultValue":"slow",'
        '"values":[{"name":"Fast","value":"fast"},{"name":"Slow","value":"slow","isDefault":true}]}',
    ),
    "file": (
        File("names", index=6, required=True, target="data/names.txt"),
        '{"dtype":"file","name":"names","index":6,"isRequired":true,"target":"data/names.txt"}',
    ),
    "list": (
        Array("xs", Int("x"), index=7, default=[1, 2]),
        '{"dtype":"list","name":"xs","index":7,"isRequired":false,"defaultValue":[1,2],'
        '"para":{"dtype":"int","name":"x","index":0,"isRequired":false}}',
    ),
    "record": (
        Record("rec", (Bool("f1"), Int("f2", default=3)), index=8),
        '{"dtype":"record","name":"rec","index":8,"isRequired":false,"fields":['
        '{"dtype":"bool","name":"f1","index":0,"isRequired":false},'
        '{"dtype":"int","name":"f2","index":0,"isRequired":false,"defaultValue":3}]}',
    ),
    "actor": (
        Actor("step", index=9, default={"image": "test"}),
        '{"dtype":"actor","name":"step","index":9,"isRequired":false,'
        '"defaultValue":{"image":"test"}}',
    ),
}


def doc(**overrides: Any) -> dict[str, Any]:
    """A valid int declaration with some keys replaced (or removed, with ...)."""
    base: dict[str, Any] = {"dtype": "int", "name": "n", "index": 0, "isRequired": False}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def raises(exc: type[Exception], message: str) -> Any:
    return pytest.raises(exc, match=re.escape(message))


@pytest.mark.parametrize("dtype", list(EXAMPLES))
def test_to_dict_matches_flowserv_shape(dtype: str) -> None:
    para, expected = EXAMPLES[dtype]
    assert json.dumps(para.to_dict(), separators=(",", ":")) == expected


@pytest.mark.parametrize("dtype", list(EXAMPLES))
def test_from_dict_reads_flowserv_shape(dtype: str) -> None:
    para, text = EXAMPLES[dtype]
    assert parameter_from_dict(json.loads(text)) == para


@pytest.mark.parametrize("dtype", list(EXAMPLES))
def test_dtype_class_variable(dtype: str) -> None:
    assert EXAMPLES[dtype][0].dtype == dtype


def test_file_target_is_emitted_as_null_when_unset() -> None:
    assert File("f").to_dict()["target"] is None


def test_int_without_constraint_has_no_range_key() -> None:
    assert "range" not in Int("n").to_dict()


def test_option_is_default_false_is_omitted() -> None:
    assert Option("A", 1).to_dict() == {"name": "A", "value": 1}


def test_to_dict_returns_a_copy_of_the_default() -> None:
    para = Actor("a", default={"image": "x"})
    para.to_dict()["defaultValue"]["image"] = "changed"
    assert para.default == {"image": "x"}


def test_constructor_copies_the_callers_default() -> None:
    default = {"image": "x"}
    para = Actor("a", default=default)
    default["image"] = "changed"
    assert para.default == {"image": "x"}


def test_parameters_are_frozen() -> None:
    with pytest.raises(AttributeError):
        String("a").name = "b"  # type: ignore[misc]


def test_parameter_base_is_abstract() -> None:
    with pytest.raises(TypeError):
        Parameter("a")  # type: ignore[abstract]


def test_display_name_is_label_or_name() -> None:
    assert String("a", label="A").display_name() == "A"
    assert String("a").display_name() == "a"


def test_select_accepts_a_list_of_options_and_stores_a_tuple() -> None:
    assert Select("s", [Option("A", 1)]).values == (Option("A", 1),)  # type: ignore[arg-type]


# -- Round trip ------------------------------------------------------------------------

names = st.text(min_size=1, max_size=8)
optional_text = st.none() | st.text(max_size=8)
keys = st.text(max_size=6).filter(lambda s: "\x00" not in s)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=6,
)
bounds = st.floats(allow_nan=False)
constraints = st.builds(
    lambda a, b, lc, rc: RangeConstraint(min(a, b), max(a, b), lc, rc),
    bounds,
    bounds,
    st.booleans(),
    st.booleans(),
)
common = {
    "name": names,
    "index": st.integers(-(2**63), 2**63 - 1),
    "label": optional_text,
    "help": optional_text,
    "default": json_values,
    "required": st.booleans(),
    "group": optional_text,
}
options = st.builds(Option, st.text(max_size=8), json_values, st.booleans())
parameters: st.SearchStrategy[Parameter] = st.deferred(
    lambda: st.one_of(
        st.builds(String, **common),
        st.builds(Bool, **common),
        st.builds(Actor, **common),
        st.builds(Int, constraint=st.none() | constraints, **common),
        st.builds(Float, constraint=st.none() | constraints, **common),
        st.builds(Select, values=st.lists(options, max_size=3).map(tuple), **common),
        st.builds(File, target=optional_text, **common),
        st.builds(Array, para=parameters, **common),
        st.builds(
            Record,
            fields=st.lists(parameters, max_size=3, unique_by=lambda p: p.name).map(tuple),
            **common,
        ),
    )
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(parameters)
def test_any_parameter_round_trips_through_json_text(para: Parameter) -> None:
    assert parameter_from_dict(json.loads(json.dumps(para.to_dict()))) == para


@given(constraints)
def test_range_constraint_round_trips_through_its_string(constraint: RangeConstraint) -> None:
    assert RangeConstraint.from_string(constraint.to_string()) == constraint


def test_parameters_to_list_round_trips_through_parameters_from_input() -> None:
    params = {dtype: para for dtype, (para, _) in EXAMPLES.items()}
    params = {para.name: para for para in params.values()}
    assert parameters_from_input(parameters_to_list(params)) == params


def test_parameters_to_list_keeps_insertion_order() -> None:
    params = parameters_from_input([String("b", index=0), String("a", index=1)])
    assert [d["name"] for d in parameters_to_list(params)] == ["b", "a"]


# -- Declaration errors ------------------------------------------------------------------


def test_from_dict_rejects_missing_dtype() -> None:
    with raises(InvalidParameterError, "missing element 'dtype' in parameter 'n'"):
        parameter_from_dict(doc(dtype=...))


def test_from_dict_rejects_unknown_dtype() -> None:
    with raises(InvalidParameterError, "unknown parameter type 'xyz'"):
        parameter_from_dict(doc(dtype="xyz"))


def test_from_dict_rejects_non_string_dtype() -> None:
    with raises(InvalidParameterError, "unknown parameter type ['int']"):
        parameter_from_dict(doc(dtype=["int"]))


def test_from_dict_rejects_a_non_dict() -> None:
    with raises(InvalidParameterError, "parameter declaration must be a dict, not list"):
        parameter_from_dict([])  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["name", "index", "isRequired"])
def test_from_dict_rejects_missing_mandatory_element(key: str) -> None:
    with raises(InvalidParameterError, f"missing element '{key}'"):
        parameter_from_dict(doc(**{key: ...}))


def test_from_dict_rejects_unknown_element() -> None:
    with raises(InvalidParameterError, "unknown element 'colour' in parameter 'n'"):
        parameter_from_dict(doc(colour="red"))


def test_file_from_dict_rejects_target_path_key() -> None:
    with raises(InvalidParameterError, "unknown element 'targetPath'"):
        parameter_from_dict(doc(dtype="file", targetPath="a.txt"))


def test_type_specific_key_is_unknown_on_other_types() -> None:
    with raises(InvalidParameterError, "unknown element 'range'"):
        parameter_from_dict(doc(dtype="string", range="[0,1]"))


def test_type_class_from_dict_rejects_another_dtype() -> None:
    with raises(InvalidParameterError, "has type 'string', not Int"):
        Int.from_dict(doc(dtype="string"))


def test_numeric_from_dict_accepts_int_and_float() -> None:
    assert isinstance(Numeric.from_dict(doc(dtype="float")), Float)
    assert isinstance(Numeric.from_dict(doc(dtype="int")), Int)


@pytest.mark.parametrize("name", ["", 3, None])
def test_name_must_be_a_non_empty_string(name: Any) -> None:
    with raises(InvalidParameterError, "parameter name must be a non-empty str"):
        parameter_from_dict(doc(name=name))


@pytest.mark.parametrize("index", [True, "1", 1.0, None])
def test_index_must_be_an_int(index: Any) -> None:
    with raises(InvalidParameterError, "index must be an int"):
        parameter_from_dict(doc(index=index))


def test_index_must_fit_in_64_bits() -> None:
    with raises(InvalidParameterError, "index out of the signed 64-bit range"):
        String("a", index=2**63)


@pytest.mark.parametrize("required", [None, 1, "true"])
def test_is_required_must_be_a_bool(required: Any) -> None:
    with raises(InvalidParameterError, "isRequired must be a bool"):
        parameter_from_dict(doc(isRequired=required))


@pytest.mark.parametrize("key", ["label", "help", "group"])
def test_optional_text_elements_must_be_strings(key: str) -> None:
    with raises(InvalidParameterError, f"{key} must be a str or null"):
        parameter_from_dict(doc(**{key: 1}))


@pytest.mark.parametrize("default", [(1, 2), math.nan, b"x", {1: "a"}, {"a"}])
def test_default_value_must_be_json(default: Any) -> None:
    with raises(InvalidParameterError, "defaultValue of parameter 'a' is not JSON-compatible"):
        String("a", default=default)


def test_default_value_error_names_the_path() -> None:
    with raises(InvalidParameterError, "non-finite float nan at $.a[2]"):
        Actor("a", default={"a": [0, 1, math.nan]})


def test_select_values_must_be_a_list() -> None:
    with raises(InvalidParameterError, "values of parameter 's' must be a list"):
        parameter_from_dict(doc(dtype="select", name="s", values="abc"))


def test_select_requires_values() -> None:
    with raises(InvalidParameterError, "missing element 'values'"):
        parameter_from_dict(doc(dtype="select"))


def test_select_option_requires_value() -> None:
    with raises(InvalidParameterError, "missing element 'value' in select option"):
        parameter_from_dict(doc(dtype="select", values=[{"name": "A"}]))


def test_select_option_rejects_unknown_element() -> None:
    with raises(InvalidParameterError, "unknown element 'label' in select option"):
        Option.from_dict({"name": "A", "value": 1, "label": "x"})


def test_select_option_must_be_a_dict() -> None:
    with raises(InvalidParameterError, "select option must be a dict, not str"):
        parameter_from_dict(doc(dtype="select", values=["fast"]))


def test_select_option_is_default_must_be_a_bool() -> None:
    with raises(InvalidParameterError, "isDefault must be a bool"):
        Option.from_dict({"name": "A", "value": 1, "isDefault": "yes"})


def test_select_option_name_must_be_a_string() -> None:
    with raises(InvalidParameterError, "select option name must be a str"):
        Option.from_dict({"name": 1, "value": 1})


def test_select_option_value_must_be_json() -> None:
    with raises(InvalidParameterError, "value of select option 'A' is not JSON-compatible"):
        Option("A", {1, 2})


def test_select_constructor_rejects_plain_dicts_as_values() -> None:
    with raises(InvalidParameterError, "values must be Options"):
        Select("s", ({"name": "A", "value": 1},))  # type: ignore[arg-type]


def test_list_requires_para() -> None:
    with raises(InvalidParameterError, "missing element 'para'"):
        parameter_from_dict(doc(dtype="list"))


def test_list_para_must_be_a_declaration() -> None:
    with raises(InvalidParameterError, "parameter declaration must be a dict, not str"):
        parameter_from_dict(doc(dtype="list", para="int"))


def test_list_constructor_rejects_a_non_parameter_para() -> None:
    with raises(InvalidParameterError, "para must be a Parameter"):
        Array("xs", {"dtype": "int"})  # type: ignore[arg-type]


def test_record_requires_fields() -> None:
    with raises(InvalidParameterError, "missing element 'fields'"):
        parameter_from_dict(doc(dtype="record"))


def test_record_fields_must_be_a_list() -> None:
    with raises(InvalidParameterError, "fields of parameter 'r' must be a list"):
        parameter_from_dict(doc(dtype="record", name="r", fields={"a": 1}))


def test_record_field_declarations_are_validated() -> None:
    with raises(InvalidParameterError, "missing element 'isRequired' in parameter 'f'"):
        parameter_from_dict(doc(dtype="record", fields=[{"dtype": "int", "name": "f", "index": 0}]))


def test_record_rejects_duplicate_field_names() -> None:
    fields = [String("f").to_dict(), Int("f").to_dict()]
    with raises(InvalidParameterError, "duplicate field 'f'"):
        parameter_from_dict(doc(dtype="record", fields=fields))


def test_record_constructor_rejects_non_parameter_fields() -> None:
    with raises(InvalidParameterError, "fields must be Parameters"):
        Record("r", ("f",))  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["0,10", "[0,10", "0,10]", "[a,1]", "[1,2,3]", "[]", "[nan,1]"])
def test_range_rejects_malformed_interval(text: str) -> None:
    with raises(InvalidParameterError, "invalid interval"):
        parameter_from_dict(doc(range=text))


def test_range_rejects_a_non_string() -> None:
    with raises(InvalidParameterError, "invalid interval 5"):
        parameter_from_dict(doc(range=5))


def test_int_range_rejects_left_greater_than_right() -> None:
    with raises(InvalidParameterError, "invalid interval boundaries [3.0,1.0]"):
        parameter_from_dict(doc(range="[3,1]"))


def test_range_constraint_rejects_a_bool_boundary() -> None:
    with raises(InvalidParameterError, "invalid interval boundary True"):
        RangeConstraint(True, 3)


def test_range_null_means_no_constraint() -> None:
    assert parameter_from_dict(doc(range=None)) == Int("n")


# -- Range constraints -------------------------------------------------------------------


def test_range_empty_sides_mean_infinity() -> None:
    assert RangeConstraint.from_string("(,3]") == RangeConstraint(-math.inf, 3, False, True)
    assert RangeConstraint.from_string("[0,)") == RangeConstraint(0, math.inf, True, False)


def test_range_to_string_writes_floats() -> None:
    assert RangeConstraint(right=3).to_string() == "[-inf,3.0]"


def test_range_from_string_tolerates_spaces() -> None:
    assert RangeConstraint.from_string(" [ 0 , 1 ) ") == RangeConstraint(0, 1, True, False)


def test_range_closed_boundaries_include_the_bound() -> None:
    assert RangeConstraint(0, 1).contains(0) and RangeConstraint(0, 1).contains(1)


def test_range_open_boundaries_exclude_the_bound() -> None:
    constraint = RangeConstraint(0, 1, False, False)
    assert not constraint.contains(0) and not constraint.contains(1)
    assert constraint.contains(0.5)


# -- parameters_from_input ----------------------------------------------------------------


def test_input_none_gives_no_parameters() -> None:
    assert parameters_from_input(None) == {}


def test_input_list_of_parameters_keeps_order() -> None:
    result = parameters_from_input([Int("b"), String("a")])
    assert list(result) == ["b", "a"]
    assert result["b"] == Int("b")


def test_input_dict_index_defaults_to_list_position() -> None:
    result = parameters_from_input(
        [{"name": "a", "dtype": "string"}, {"name": "b", "dtype": "int"}]
    )
    assert [p.index for p in result.values()] == [0, 1]


def test_input_dict_is_required_defaults_to_having_no_default() -> None:
    result = parameters_from_input(
        [{"name": "a", "dtype": "string"}, {"name": "b", "dtype": "int", "defaultValue": 1}]
    )
    assert result["a"].required is True
    assert result["b"].required is False


def test_input_dict_explicit_index_and_is_required_are_kept() -> None:
    result = parameters_from_input([{"name": "a", "dtype": "int", "index": 7, "isRequired": False}])
    assert result["a"] == Int("a", index=7, required=False)


def test_input_does_not_mutate_the_callers_dict() -> None:
    item = {"name": "a", "dtype": "string"}
    parameters_from_input([item])
    assert item == {"name": "a", "dtype": "string"}


def test_input_nested_declarations_are_not_lenient() -> None:
    with raises(InvalidParameterError, "missing element 'index' in parameter 'x'"):
        parameters_from_input(
            [{"name": "xs", "dtype": "list", "para": {"name": "x", "dtype": "int"}}]
        )


def test_input_list_rejects_duplicate_names() -> None:
    with raises(InvalidParameterError, "duplicate parameter 'a'"):
        parameters_from_input([String("a"), {"name": "a", "dtype": "int"}])


def test_input_mapping_of_parameters() -> None:
    assert parameters_from_input({"a": String("a")}) == {"a": String("a")}


def test_input_mapping_of_dicts_is_lenient() -> None:
    result = parameters_from_input({"a": {"name": "a", "dtype": "int", "defaultValue": 1}})
    assert result == {"a": Int("a", default=1)}


def test_input_mapping_key_must_match_the_name() -> None:
    with raises(InvalidParameterError, "key 'b' differs from parameter name 'a'"):
        parameters_from_input({"b": String("a")})


@pytest.mark.parametrize("value", ["abc", 3, [1, 2], [None]])
def test_input_rejects_other_values(value: Any) -> None:
    with pytest.raises(InvalidParameterError):
        parameters_from_input(value)


def test_input_propagates_declaration_errors() -> None:
    with raises(InvalidParameterError, "unknown parameter type 'xyz'"):
        parameters_from_input([{"name": "a", "dtype": "xyz"}])


# -- Casting -----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [("x", "x"), (3, "3"), (None, "None")])
def test_string_cast_is_str(value: Any, expected: str) -> None:
    assert String("s").cast(value) == expected


@pytest.mark.parametrize("value", ["1", "t", "true", "TRUE", "True", 1])
def test_bool_cast_true_values(value: Any) -> None:
    assert Bool("b").cast(value) is True


@pytest.mark.parametrize("value", ["", "0", "f", "false", "FALSE", 0, None])
def test_bool_cast_false_values(value: Any) -> None:
    assert Bool("b").cast(value) is False


@pytest.mark.parametrize("value", [True, False])
def test_bool_cast_keeps_bools(value: bool) -> None:
    assert Bool("b").cast(value) is value


@pytest.mark.parametrize("value", ["yes", 10, "   "])
def test_bool_cast_rejects_other_values(value: Any) -> None:
    with raises(InvalidArgumentError, f"not a Boolean '{value}'"):
        Bool("b").cast(value)


@pytest.mark.parametrize(("value", "expected"), [("3", 3), (3.9, 3), (-2, -2)])
def test_int_cast(value: Any, expected: int) -> None:
    result = Int("n").cast(value)
    assert result == expected and type(result) is int


@pytest.mark.parametrize("value", ["3.7", "abc", None, [1]])
def test_int_cast_rejects_non_integers(value: Any) -> None:
    with raises(InvalidArgumentError, f"no int '{value}'"):
        Int("n").cast(value)


@pytest.mark.parametrize("value", ["inf", "-inf", math.inf, -math.inf])
def test_int_cast_accepts_infinity_as_float(value: Any) -> None:
    assert math.isinf(Int("n").cast(value))


def test_int_cast_checks_the_range() -> None:
    with raises(InvalidArgumentError, "11 not in [0.0,10.0]"):
        Int("n", constraint=RangeConstraint(0, 10)).cast("11")


def test_int_cast_accepts_value_in_range() -> None:
    assert Int("n", constraint=RangeConstraint(0, 10)).cast(10) == 10


def test_int_cast_rejects_infinity_outside_range() -> None:
    with raises(InvalidArgumentError, "inf not in [0.0,10.0]"):
        Int("n", constraint=RangeConstraint(0, 10)).cast("inf")


@pytest.mark.parametrize(("value", "expected"), [("2.5", 2.5), (2, 2.0), ("inf", math.inf)])
def test_float_cast(value: Any, expected: float) -> None:
    assert Float("x").cast(value) == expected


@pytest.mark.parametrize("value", ["abc", None, "nan", math.nan])
def test_float_cast_rejects_non_numbers(value: Any) -> None:
    with raises(InvalidArgumentError, f"no float '{value}'"):
        Float("x").cast(value)


def test_float_cast_checks_open_range() -> None:
    with raises(InvalidArgumentError, "0.0 not in (0.0,1.0]"):
        Float("x", constraint=RangeConstraint.from_string("(0,1]")).cast(0)


def test_select_cast_returns_a_known_value() -> None:
    assert EXAMPLES["select"][0].cast("fast") == "fast"


@pytest.mark.parametrize("value", ["medium", None])
def test_select_cast_rejects_unknown_value(value: Any) -> None:
    with raises(InvalidArgumentError, f"unknown value '{value}'"):
        EXAMPLES["select"][0].cast(value)


def test_file_cast_uses_the_declared_target() -> None:
    assert File("f", target="data/in.txt").cast("file-1") == FileArgument("file-1", "data/in.txt")


def test_file_cast_given_target_wins() -> None:
    result = File("f", target="data/in.txt").cast(("file-1", "other.txt"))
    assert result == FileArgument("file-1", "other.txt")


def test_file_cast_falls_back_to_the_default() -> None:
    assert File("f", default="d.txt").cast(("file-1", None)).target == "d.txt"


def test_file_cast_without_any_target_fails() -> None:
    with raises(InvalidArgumentError, "missing target path"):
        File("f").cast("file-1")


def test_file_cast_rejects_a_missing_source() -> None:
    with raises(InvalidArgumentError, "missing file"):
        File("f", target="t").cast(None)


def test_file_cast_rejects_a_tuple_of_another_length() -> None:
    with raises(InvalidArgumentError, "invalid argument type"):
        File("f", target="t").cast(("a", "b", "c"))


def test_file_cast_rejects_a_non_string_target() -> None:
    with raises(InvalidArgumentError, "invalid target path '3'"):
        File("f").cast(("file-1", 3))


def test_file_argument_stringifies_to_its_target() -> None:
    assert str(FileArgument("file-1", "data/in.txt")) == "data/in.txt"


def test_array_cast_casts_each_element() -> None:
    assert Array("xs", Int("x")).cast(["1", 2.5]) == [1, 2]


def test_array_cast_rejects_a_non_list() -> None:
    with raises(InvalidArgumentError, "invalid argument type"):
        Array("xs", Int("x")).cast((1, 2))


def test_array_cast_propagates_element_errors() -> None:
    with raises(InvalidArgumentError, "no int 'a'"):
        Array("xs", Int("x")).cast(["a"])


RECORD = Record("rec", (Bool("f1", required=True), Int("f2", default=3), String("f3")))


def test_record_cast_returns_a_dict_with_defaults() -> None:
    assert RECORD.cast([{"name": "f1", "value": "true"}]) == {"f1": True, "f2": 3}


def test_record_cast_casts_given_fields() -> None:
    result = RECORD.cast([{"name": "f1", "value": "0"}, {"name": "f2", "value": "7"}])
    assert result == {"f1": False, "f2": 7}


def test_record_cast_rejects_a_non_list() -> None:
    with raises(InvalidArgumentError, "invalid argument type"):
        RECORD.cast({"f1": True})


def test_record_cast_rejects_unknown_field() -> None:
    with raises(InvalidArgumentError, "unknown argument 'f9'"):
        RECORD.cast([{"name": "f1", "value": True}, {"name": "f9", "value": 1}])


def test_record_cast_rejects_missing_required_field() -> None:
    with raises(InvalidArgumentError, "missing field 'f1'"):
        RECORD.cast([])


def test_record_cast_rejects_item_without_name() -> None:
    with raises(InvalidArgumentError, "missing element 'name'"):
        RECORD.cast([{"value": True}])


def test_record_cast_rejects_item_with_unknown_element() -> None:
    with raises(InvalidArgumentError, "unknown element 'as'"):
        RECORD.cast([{"name": "f1", "value": True, "as": "x"}])


def test_record_cast_rejects_duplicate_argument() -> None:
    with raises(InvalidArgumentError, "duplicate argument 'f1'"):
        RECORD.cast([{"name": "f1", "value": True}, {"name": "f1", "value": False}])


def test_actor_cast_returns_the_spec() -> None:
    assert Actor("a").cast({"image": "test", "commands": ["run"]}) == {
        "image": "test",
        "commands": ["run"],
    }


@pytest.mark.parametrize("value", ["image", None, [1]])
def test_actor_cast_rejects_a_non_dict(value: Any) -> None:
    with raises(InvalidArgumentError, f"invalid actor value '{value}'"):
        Actor("a").cast(value)


def test_actor_cast_rejects_a_non_json_spec() -> None:
    with raises(InvalidArgumentError, "actor value is not JSON-compatible"):
        Actor("a").cast({"files": ("a", "b")})


# -- check_json ---------------------------------------------------------------------------


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [
        None,
        {"a.b": 1, "$x": 2, "é": "ünï", "日本": [1, [2, [3]]]},
        [[[]]],
        2**63 - 1,
        -(2**63),
        1.5e308,
        "text\x00with nul",
        nested(MAX_DEPTH),
        {"a": nested(MAX_DEPTH - 1)},
    ],
)
def test_check_json_accepts_valid_json(value: Any) -> None:
    check_json(value, "spec")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (math.nan, "non-finite float nan"),
        (math.inf, "non-finite float inf"),
        ((1, 2), "unsupported type 'tuple'"),
        (b"x", "unsupported type 'bytes'"),
        ({1}, "unsupported type 'set'"),
        ({1: "a"}, "dict key of type 'int' is not a str"),
        (2**63, "integer out of the signed 64-bit range"),
        (-(2**63) - 1, "integer out of the signed 64-bit range"),
        ({"a\x00b": 1}, "dict key contains a NUL character"),
        ("\ud800", "string is not valid UTF-8"),
        (nested(MAX_DEPTH + 1), f"nesting deeper than {MAX_DEPTH} levels"),
    ],
)
def test_check_json_rejects_invalid_values(value: Any, reason: str) -> None:
    with raises(ConstraintViolationError, f"spec is not JSON-compatible: {reason}"):
        check_json(value, "spec")


def test_check_json_error_is_exactly_a_constraint_violation() -> None:
    with pytest.raises(ConstraintViolationError) as info:
        check_json(math.nan, "spec")
    assert type(info.value) is ConstraintViolationError


def test_check_json_reports_the_root_path() -> None:
    with raises(ConstraintViolationError, "at $"):
        check_json((1,), "spec")


def test_check_json_reports_a_nested_path() -> None:
    with raises(
        ConstraintViolationError, "spec is not JSON-compatible: non-finite float nan at $.a[2]"
    ):
        check_json({"a": [0, 1, math.nan]}, "spec")


def test_check_json_quotes_keys_that_are_not_identifiers() -> None:
    with raises(ConstraintViolationError, 'at $["a.b"]["$c"][0]'):
        check_json({"a.b": {"$c": [b""]}}, "spec")


def test_check_json_stops_on_self_reference() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with raises(ConstraintViolationError, "nesting deeper than"):
        check_json(loop, "spec")
