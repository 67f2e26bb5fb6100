"""Workflow parameter declarations, in flowserv-core's JSON shape.

Every parameter serialises to one JSON object. Four keys are always present, four
only when they are not null::

    {"dtype": "int", "name": "n", "index": 2, "isRequired": false,
     "label": "N", "help": "How many", "defaultValue": 5, "group": "g1"}

Each type adds its own keys:

=================  ================================================================
``string``         (none)
``bool``           (none)
``actor``          (none)
``int``/``float``  ``"range": "[0.0,10.0]"``, interval notation, only when constrained
``select``         ``"values": [{"name": "Slow", "value": "slow", "isDefault": true}]``
``file``           ``"target": "data/names.txt"``, always present, may be null
``list``           ``"para": {<parameter>}``
``record``         ``"fields": [{<parameter>}, ...]``
=================  ================================================================

``parameter_from_dict`` reads that shape back strictly (every mandatory key, no
unknown key); ``parameters_from_input`` normalises what callers pass as a group's
parameters and applies flowserv's leniency to plain lists of dicts. A malformed
declaration raises ``InvalidParameterError``; ``Parameter.cast`` turns a run argument
into the parameter's type or raises ``InvalidArgumentError``.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, ClassVar

from groupstore.errors import ConstraintViolationError, InvalidArgumentError, InvalidParameterError
from groupstore.jsonvalue import check_json

__all__ = [
    "Actor",
    "Array",
    "Bool",
    "File",
    "FileArgument",
    "Float",
    "Int",
    "Numeric",
    "Option",
    "Parameter",
    "RangeConstraint",
    "Record",
    "Select",
    "String",
    "parameter_from_dict",
    "parameters_from_input",
    "parameters_to_list",
]

_MANDATORY = ("dtype", "name", "index", "isRequired")
_OPTIONAL = ("label", "help", "defaultValue", "group")
# The index is stored in MongoDB, which has no integer wider than 64 bits.
_INT64 = range(-(2**63), 2**63)


def _where(doc: Mapping[Any, Any]) -> str:
    name = doc.get("name")
    return f"parameter '{name}'" if isinstance(name, str) else "parameter declaration"


def _check_keys(doc: Mapping[Any, Any], mandatory: Sequence[str], optional: Sequence[str]) -> None:
    for key in mandatory:
        if key not in doc:
            raise InvalidParameterError(f"missing element '{key}' in {_where(doc)}")
    for key in doc:
        if key not in mandatory and key not in optional:
            raise InvalidParameterError(f"unknown element '{key}' in {_where(doc)}")


def _json_copy(value: Any, what: str) -> Any:
    """Check a user JSON value and return a private copy (callers keep theirs)."""
    try:
        check_json(value, what)
    except ConstraintViolationError as exc:
        raise InvalidParameterError(exc.message) from exc
    return copy.deepcopy(value)


def _show(value: Any) -> str:
    # str() of an int with more than 4300 digits raises ValueError (CPython limit).
    try:
        return str(value)
    except ValueError:
        return f"<{type(value).__name__}>"


@dataclass(frozen=True)
class RangeConstraint:
    """An interval of valid numbers; ``to_string()`` writes flowserv's ``[0.0,10.0]``."""

    left: float = -math.inf
    right: float = math.inf
    left_closed: bool = True
    right_closed: bool = True

    def __post_init__(self) -> None:
        for side in ("left", "right"):
            bound = getattr(self, side)
            if isinstance(bound, bool) or not isinstance(bound, (int, float)):
                raise InvalidParameterError(f"invalid interval boundary {bound!r}")
            try:
                # Store floats so that equality and to_string() do not depend on input type.
                object.__setattr__(self, side, float(bound))
            except OverflowError:
                raise InvalidParameterError("invalid interval boundary (too large)") from None
        if math.isnan(self.left) or math.isnan(self.right):
            raise InvalidParameterError("invalid interval boundary nan")
        if self.left > self.right:
            raise InvalidParameterError(f"invalid interval boundaries {self.to_string()}")
        if not isinstance(self.left_closed, bool) or not isinstance(self.right_closed, bool):
            raise InvalidParameterError("interval closed flags must be bool")

    @classmethod
    def from_string(cls, value: str) -> RangeConstraint:
        """Parse ``[x,y]``, ``(x,y)``, ``[x,y)`` or ``(x,y]``; an empty side is infinity."""
        text = value.strip() if isinstance(value, str) else ""
        parts = text[1:-1].split(",")
        if len(text) < 3 or text[0] not in "[(" or text[-1] not in "])" or len(parts) != 2:
            raise InvalidParameterError(f"invalid interval {value!r}")
        left, right = parts[0].strip() or "-inf", parts[1].strip() or "inf"
        try:
            bounds = float(left), float(right)
        except ValueError:
            raise InvalidParameterError(f"invalid interval {value!r}") from None
        return cls(bounds[0], bounds[1], text[0] == "[", text[-1] == "]")

    def to_string(self) -> str:
        """Return the interval in flowserv's notation, e.g. ``(0.0,1.0]`` or ``[-inf,3.0]``."""
        opening = "[" if self.left_closed else "("
        closing = "]" if self.right_closed else ")"
        return f"{opening}{self.left},{self.right}{closing}"

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the interval."""
        above = value >= self.left if self.left_closed else value > self.left
        below = value <= self.right if self.right_closed else value < self.right
        return above and below


@dataclass(frozen=True)
class Parameter(ABC):
    """A workflow parameter declaration; the concrete types are the subclasses.

    Fields after ``name`` are keyword-only. ``default`` must be JSON-compatible.
    """

    name: str
    _: KW_ONLY
    index: int = 0
    label: str | None = None
    help: str | None = None
    default: Any = None
    required: bool = False
    group: str | None = None

    dtype: ClassVar[str]
    _extra_mandatory: ClassVar[tuple[str, ...]] = ()
    _extra_optional: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidParameterError(
                f"parameter name must be a non-empty str, not {self.name!r}"
            )
        where = f"parameter '{self.name}'"
        if isinstance(self.index, bool) or not isinstance(self.index, int):
            raise InvalidParameterError(f"{where}: index must be an int, not {self.index!r}")
        if self.index not in _INT64:
            raise InvalidParameterError(f"{where}: index out of the signed 64-bit range")
        if not isinstance(self.required, bool):
            raise InvalidParameterError(f"{where}: isRequired must be a bool")
        for key in ("label", "help", "group"):
            if not isinstance(getattr(self, key), (str, type(None))):
                raise InvalidParameterError(f"{where}: {key} must be a str or null")
        object.__setattr__(self, "default", _json_copy(self.default, f"defaultValue of {where}"))

    def to_dict(self) -> dict[str, Any]:
        """Serialise in flowserv's JSON shape (see the module docstring)."""
        doc: dict[str, Any] = {
            "dtype": self.dtype,
            "name": self.name,
            "index": self.index,
            "isRequired": self.required,
        }
        optional = [("label", self.label), ("help", self.help), ("defaultValue", self.default)]
        for key, value in [*optional, ("group", self.group)]:
            if value is not None:
                doc[key] = copy.deepcopy(value)
        doc.update(self._extra_dict())
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Parameter:
        """Read a declaration; on ``Parameter`` itself this dispatches on ``dtype``.

        Raises:
            InvalidParameterError: missing or unknown key, bad value, or a ``dtype``
                that is not ``cls`` (or one of its subclasses).
        """
        if not isinstance(doc, Mapping):
            kind = type(doc).__name__
            raise InvalidParameterError(f"parameter declaration must be a dict, not {kind}")
        if "dtype" not in doc:
            raise InvalidParameterError(f"missing element 'dtype' in {_where(doc)}")
        dtype = doc["dtype"]
        ptype = _TYPES.get(dtype) if isinstance(dtype, str) else None
        if ptype is None:
            raise InvalidParameterError(f"unknown parameter type {dtype!r} in {_where(doc)}")
        if not issubclass(ptype, cls):
            raise InvalidParameterError(f"{_where(doc)} has type '{dtype}', not {cls.__name__}")
        _check_keys(doc, _MANDATORY + ptype._extra_mandatory, _OPTIONAL + ptype._extra_optional)
        return ptype(
            doc["name"],
            index=doc["index"],
            label=doc.get("label"),
            help=doc.get("help"),
            default=doc.get("defaultValue"),
            required=doc["isRequired"],
            group=doc.get("group"),
            **ptype._extra_from_dict(doc),
        )

    def display_name(self) -> str:
        """The label, or the name when there is no label."""
        return self.label if self.label is not None else self.name

    @abstractmethod
    def cast(self, value: Any) -> Any:
        """Convert a run argument to this parameter's type.

        Raises:
            InvalidArgumentError: the value does not fit the declaration.
        """

    def _extra_dict(self) -> dict[str, Any]:
        return {}

    @classmethod
    def _extra_from_dict(cls, doc: Mapping[str, Any]) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class String(Parameter):
    """A text parameter; ``cast`` is ``str(value)`` and never fails (None gives 'None')."""

    dtype = "string"

    def cast(self, value: Any) -> str:
        return str(value)


@dataclass(frozen=True)
class Bool(Parameter):
    """A flag: None and '', '0', 'f', 'false' are False; '1', 't', 'true' are True."""

    dtype = "bool"

    def cast(self, value: Any) -> bool:
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in ("1", "t", "true"):
            return True
        if text in ("", "0", "f", "false"):
            return False
        raise InvalidArgumentError(f"not a Boolean '{_show(value)}'")


@dataclass(frozen=True)
class Numeric(Parameter):
    """Base of ``Int`` and ``Float``: an optional range constraint (JSON ``range``)."""

    constraint: RangeConstraint | None = field(default=None, kw_only=True)

    _extra_optional = ("range",)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.constraint, (RangeConstraint, type(None))):
            raise InvalidParameterError(f"parameter '{self.name}': invalid range constraint")

    def cast(self, value: Any) -> Any:
        # flowserv lets infinity through for both types (int(inf) would overflow).
        if isinstance(value, str) and value in ("inf", "-inf"):
            result: Any = float(value)
        elif isinstance(value, float) and math.isinf(value):
            result = value
        else:
            result = self._convert(value)
        if self.constraint is not None and not self.constraint.contains(result):
            raise InvalidArgumentError(f"{_show(result)} not in {self.constraint.to_string()}")
        return result

    @abstractmethod
    def _convert(self, value: Any) -> Any: ...

    def _extra_dict(self) -> dict[str, Any]:
        return {} if self.constraint is None else {"range": self.constraint.to_string()}

    @classmethod
    def _extra_from_dict(cls, doc: Mapping[str, Any]) -> dict[str, Any]:
        if doc.get("range") is None:
            return {}
        return {"constraint": RangeConstraint.from_string(doc["range"])}


@dataclass(frozen=True)
class Int(Numeric):
    """An integer: ``int(value)``, so ``3.9`` gives 3 but ``'3.7'`` fails."""

    dtype = "int"

    def _convert(self, value: Any) -> int:
        try:
            return int(value)
        except (TypeError, ValueError, OverflowError):
            raise InvalidArgumentError(f"no int '{_show(value)}'") from None


@dataclass(frozen=True)
class Float(Numeric):
    """A float: ``float(value)``; NaN is rejected (it would pass any range check)."""

    dtype = "float"

    def _convert(self, value: Any) -> float:
        try:
            result = float(value)
        except (TypeError, ValueError, OverflowError):
            raise InvalidArgumentError(f"no float '{_show(value)}'") from None
        if math.isnan(result):
            raise InvalidArgumentError(f"no float '{_show(value)}'")
        return result


@dataclass(frozen=True)
class Option:
    """One choice of a ``Select``: a display ``name`` and the JSON ``value`` it stands for."""

    name: str
    value: Any
    default: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise InvalidParameterError(f"select option name must be a str, not {self.name!r}")
        if not isinstance(self.default, bool):
            raise InvalidParameterError(f"select option '{self.name}': isDefault must be a bool")
        value = _json_copy(self.value, f"value of select option '{self.name}'")
        object.__setattr__(self, "value", value)

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "value"}``, plus ``"isDefault": true`` for the default option."""
        doc = {"name": self.name, "value": copy.deepcopy(self.value)}
        if self.default:
            doc["isDefault"] = True
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Option:
        """Read an option; ``isDefault`` is optional."""
        if not isinstance(doc, Mapping):
            raise InvalidParameterError(f"select option must be a dict, not {type(doc).__name__}")
        for key in ("name", "value"):
            if key not in doc:
                raise InvalidParameterError(f"missing element '{key}' in select option")
        for key in doc:
            if key not in ("name", "value", "isDefault"):
                raise InvalidParameterError(f"unknown element '{key}' in select option")
        return cls(doc["name"], doc["value"], doc.get("isDefault", False))


@dataclass(frozen=True)
class Select(Parameter):
    """A choice among ``values``; ``cast`` accepts only an option's value."""

    values: tuple[Option, ...]

    dtype = "select"
    _extra_mandatory = ("values",)

    def __post_init__(self) -> None:
        super().__post_init__()
        values = self.values
        if not isinstance(values, (list, tuple)) or not all(isinstance(o, Option) for o in values):
            raise InvalidParameterError(f"parameter '{self.name}': values must be Options")
        object.__setattr__(self, "values", tuple(values))

    def cast(self, value: Any) -> Any:
        if any(option.value == value for option in self.values):
            return value
        raise InvalidArgumentError(f"unknown value '{_show(value)}'")

    def _extra_dict(self) -> dict[str, Any]:
        return {"values": [option.to_dict() for option in self.values]}

    @classmethod
    def _extra_from_dict(cls, doc: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(doc["values"], (list, tuple)):
            raise InvalidParameterError(f"values of {_where(doc)} must be a list")
        return {"values": tuple(Option.from_dict(item) for item in doc["values"])}


@dataclass(frozen=True)
class FileArgument:
    """A cast file argument: what to copy (e.g. an uploaded file id) and where to."""

    source: Any
    target: str

    def __str__(self) -> str:
        # As flowserv's IOValue: templates substitute the target path.
        return self.target


@dataclass(frozen=True)
class File(Parameter):
    """An input file copied to ``target`` (a path relative to the run directory)."""

    target: str | None = field(default=None, kw_only=True)

    dtype = "file"
    _extra_optional = ("target",)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.target, (str, type(None))):
            raise InvalidParameterError(f"parameter '{self.name}': target must be a str or null")

    def cast(self, value: Any) -> FileArgument:
        """Take ``source`` or ``(source, target)``; the target falls back to
        ``self.target``, then to ``self.default``."""
        if isinstance(value, tuple):
            if len(value) != 2:
                raise InvalidArgumentError("invalid argument type")
            source, target = value
        else:
            source, target = value, None
        if source is None:
            raise InvalidArgumentError("missing file")
        for fallback in (self.target, self.default):
            if target is None:
                target = fallback
        if target is None:
            raise InvalidArgumentError("missing target path")
        if not isinstance(target, str):
            raise InvalidArgumentError(f"invalid target path '{_show(target)}'")
        return FileArgument(source, target)

    def _extra_dict(self) -> dict[str, Any]:
        return {"target": self.target}

    @classmethod
    def _extra_from_dict(cls, doc: Mapping[str, Any]) -> dict[str, Any]:
        return {"target": doc.get("target")}


@dataclass(frozen=True)
class Array(Parameter):
    """A list whose every element is cast with ``para`` (flowserv dtype ``list``)."""

    para: Parameter

    dtype = "list"
    _extra_mandatory = ("para",)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.para, Parameter):
            raise InvalidParameterError(f"parameter '{self.name}': para must be a Parameter")

    def cast(self, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise InvalidArgumentError("invalid argument type")
        return [self.para.cast(item) for item in value]

    def _extra_dict(self) -> dict[str, Any]:
        return {"para": self.para.to_dict()}

    @classmethod
    def _extra_from_dict(cls, doc: Mapping[str, Any]) -> dict[str, Any]:
        return {"para": parameter_from_dict(doc["para"])}


@dataclass(frozen=True)
class Record(Parameter):
    """A set of named ``fields``; its argument is a list of ``{"name", "value"}``."""

    fields: tuple[Parameter, ...]

    dtype = "record"
    _extra_mandatory = ("fields",)

    def __post_init__(self) -> None:
        super().__post_init__()
        fields = self.fields
        if not isinstance(fields, (list, tuple)) or not all(
            isinstance(p, Parameter) for p in fields
        ):
            raise InvalidParameterError(f"parameter '{self.name}': fields must be Parameters")
        names: set[str] = set()
        for para in fields:
            if para.name in names:
                raise InvalidParameterError(f"duplicate field '{para.name}'")
            names.add(para.name)
        object.__setattr__(self, "fields", tuple(fields))

    def cast(self, value: Any) -> dict[str, Any]:
        """Return ``{field name: cast value}``; missing fields take their cast default."""
        if not isinstance(value, list):
            raise InvalidArgumentError("invalid argument type")
        by_name = {para.name: para for para in self.fields}
        result: dict[str, Any] = {}
        for item in value:
            if not isinstance(item, Mapping):
                raise InvalidArgumentError("invalid argument type")
            for key in ("name", "value"):
                if key not in item:
                    raise InvalidArgumentError(f"missing element '{key}' in record argument")
            for key in item:
                if key not in ("name", "value"):
                    raise InvalidArgumentError(f"unknown element '{key}' in record argument")
            name = item["name"]
            if not isinstance(name, str) or name not in by_name:
                raise InvalidArgumentError(f"unknown argument '{_show(name)}'")
            if name in result:
                raise InvalidArgumentError(f"duplicate argument '{name}'")
            result[name] = by_name[name].cast(item["value"])
        for para in self.fields:
            if para.name in result:
                continue
            if para.default is not None:
                result[para.name] = para.cast(para.default)
            elif para.required:
                raise InvalidArgumentError(f"missing field '{para.name}'")
        return result

    def _extra_dict(self) -> dict[str, Any]:
        return {"fields": [para.to_dict() for para in self.fields]}

    @classmethod
    def _extra_from_dict(cls, doc: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(doc["fields"], (list, tuple)):
            raise InvalidParameterError(f"fields of {_where(doc)} must be a list")
        return {"fields": tuple(parameter_from_dict(item) for item in doc["fields"])}


@dataclass(frozen=True)
class Actor(Parameter):
    """A workflow step; its argument is a JSON dict (the actor spec), returned as is."""

    dtype = "actor"

    def cast(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise InvalidArgumentError(f"invalid actor value '{_show(value)}'")
        try:
            check_json(value, "actor value")
        except ConstraintViolationError as exc:
            raise InvalidArgumentError(exc.message) from exc
        return value


_TYPES: dict[str, type[Parameter]] = {
    ptype.dtype: ptype for ptype in (String, Int, Float, Bool, Select, File, Array, Record, Actor)
}


def parameter_from_dict(doc: Mapping[str, Any]) -> Parameter:
    """Read one declaration in flowserv's shape, dispatching on ``dtype``.

    Raises:
        InvalidParameterError: missing or unknown ``dtype``, missing or unknown key,
            or a value of the wrong type.
    """
    return Parameter.from_dict(doc)


def parameters_from_input(value: object) -> dict[str, Parameter]:
    """Normalise a group's ``parameters`` argument to ``{name: Parameter}``, in input order.

    Accepts None, a list of ``Parameter`` objects or dicts, or a mapping name ->
    ``Parameter`` (or dict): flowserv's ``ParameterIndex`` is such a mapping. Any
    object with flowserv's ``to_dict()`` (flowserv's own parameter classes) is read
    through that dict. As flowserv's ``ParameterIndex.from_dict``, a dict may omit
    ``index`` (defaults to its position) and ``isRequired`` (defaults to having no
    ``defaultValue``); the caller's dicts are not modified.

    Raises:
        InvalidParameterError: a malformed declaration, a duplicate name, a mapping
            key that is not the parameter's name, or a value of another type.
    """
    if value is None:
        return {}
    if isinstance(value, Mapping):
        keyed = True
        items: list[tuple[Any, Any]] = list(value.items())
    elif isinstance(value, (list, tuple)):
        keyed = False
        items = [(position, item) for position, item in enumerate(value)]
    else:
        kind = type(value).__name__
        raise InvalidParameterError(f"parameters must be a list or a dict, not {kind}")
    result: dict[str, Parameter] = {}
    for position, (key, item) in enumerate(items):
        if isinstance(item, Parameter):
            para = item
        else:
            declared = _declaration(key, item)
            lenient = dict(declared)
            lenient.setdefault("index", position)
            lenient.setdefault("isRequired", "defaultValue" not in declared)
            para = parameter_from_dict(lenient)
        if keyed and key != para.name:
            raise InvalidParameterError(f"key {key!r} differs from parameter name '{para.name}'")
        if para.name in result:
            raise InvalidParameterError(f"duplicate parameter '{para.name}'")
        result[para.name] = para
    return result


def _declaration(key: object, item: object) -> Mapping[Any, Any]:
    """The JSON declaration of a dict, or of an object with flowserv's ``to_dict()``."""
    if isinstance(item, Mapping):
        return item
    to_dict = getattr(item, "to_dict", None)
    if callable(to_dict):
        try:
            declared = to_dict()
        except Exception as exc:  # a foreign object's method: say whose it was
            raise InvalidParameterError(
                f"parameter {key!r}: {type(item).__name__}.to_dict() failed: {exc}"
            ) from exc
        if isinstance(declared, Mapping):
            return declared
    kind = type(item).__name__
    raise InvalidParameterError(
        f"parameter {key!r} must be a Parameter, a dict or have to_dict(), not {kind}"
    )


def parameters_to_list(params: Mapping[str, Parameter]) -> list[dict[str, Any]]:
    """Serialise for storage: ``to_dict()`` of each parameter, in order."""
    return [para.to_dict() for para in params.values()]
