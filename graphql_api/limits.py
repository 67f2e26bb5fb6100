"""Query limits checked before execution, in time linear in the document.

Strawberry's ``QueryDepthLimiter`` and ``MaxAliasesLimiter`` walk the
document expanding every fragment spread afresh, so ``fragment F0 { ...F1
...F1 ...F1 }`` nested n levels costs 3^n steps: a 640-byte anonymous request
held the event loop for seconds. Here each fragment is measured once and the
result reused wherever it is spread (memoised), so the work is proportional to
the document's size, whatever it expands to.

Per operation (fragments expanded, counts summed over the document's
operations; depth is the largest):

- **depth**: field nesting, as Strawberry counts it (a leaf field adds
  nothing, introspection fields ``__*`` are not counted);
- **aliases**: aliased fields;
- **fields** (the expanded size): field selections once every fragment
  spread is replaced by its fragment. This bounds the work every later step
  (validation, execution) can be made to do.

``DocumentGuard`` (a schema extension) applies these, plus the token limit
(the parser stops after ``max_tokens``), and caches per document text (two
bounded LRUs): the parsed document and the validation result. A cache hit
skips parsing and validation. Parsing a long document and the standard
validation of a large one run in the threadpool, so they do not stall the
event loop (other requests).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    TokenKind,
    parse,
)
from graphql.language.lexer import Lexer
from starlette.concurrency import run_in_threadpool
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

K = TypeVar("K")
V = TypeVar("V")

CACHE_SIZE = 256
"""Documents whose parse tree and validation result are kept (each bounded by max_tokens)."""
THREADPOOL_FIELDS = 200
"""Validate in the threadpool when the expanded document has more fields than this."""
THREADPOOL_CHARS = 2048
"""Parse (and check) in the threadpool a document longer than this (GraphiQL's
introspection query is about 1,500 characters)."""
MAX_NESTING = 64
"""Deepest nesting of ``{``, ``[`` and ``(`` in a document (selections and literal values):
graphql-core's parser and value coercion recurse over them."""
# Stands in for a document that did not parse, so that Strawberry reports the parse
# error through the extensions (with its code) instead of raising past them.
_PLACEHOLDER = parse("{ __typename }")
_OPENING = {TokenKind.BRACE_L, TokenKind.BRACKET_L, TokenKind.PAREN_L}
_CLOSING = {TokenKind.BRACE_R, TokenKind.BRACKET_R, TokenKind.PAREN_R}


class LRU(Generic[K, V]):
    """A small bounded least-recently-used mapping (one per schema; the event loop only)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class Measure:
    """Depth, aliases and field selections of a selection set, fragments expanded."""

    depth: int = 0
    aliases: int = 0
    fields: int = 0


@dataclass(frozen=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_fields: int


class _Cycle(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _Measurer:
    """Measures selection sets; each named fragment once (memoised)."""

    def __init__(self, document: DocumentNode, cap: int) -> None:
        self.fragments = {
            node.name.value: node
            for node in document.definitions
            if isinstance(node, FragmentDefinitionNode)
        }
        self.cap = cap  # counts stop growing past this (they are only compared to limits)
        self.done: dict[str, Measure] = {}
        self.active: set[str] = set()

    def fragment(self, name: str) -> Measure:
        found = self.done.get(name)
        if found is not None:
            return found
        node = self.fragments.get(name)
        if node is None:  # unknown fragment: standard validation reports it
            return Measure()
        if name in self.active:
            raise _Cycle(name)
        self.active.add(name)
        measure = self.selections(node.selection_set)
        self.active.discard(name)
        self.done[name] = measure
        return measure

    def selections(self, selection_set: SelectionSetNode | None) -> Measure:
        # Recursive in the nesting of fields only (the token limit bounds it; RecursionError
        # is reported as an error by measure_document).
        if selection_set is None:
            return Measure()
        depth = aliases = fields = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                inner = self.selections(selection.selection_set)
                counted = (
                    selection.selection_set is not None
                    and not selection.name.value.startswith("__")
                )
                depth = max(depth, inner.depth + 1 if counted else 0)
                aliases += inner.aliases + (selection.alias is not None)
                fields += inner.fields + 1
            else:
                inner = (
                    self.fragment(selection.name.value)
                    if isinstance(selection, FragmentSpreadNode)
                    else self.selections(selection.selection_set)
                    if isinstance(selection, InlineFragmentNode)
                    else Measure()
                )
                depth = max(depth, inner.depth)
                aliases += inner.aliases
                fields += inner.fields
            aliases, fields = min(aliases, self.cap), min(fields, self.cap)
        return Measure(depth, aliases, fields)


def measure_document(document: DocumentNode, cap: int = 10**9) -> Measure:
    """The document's measure: largest depth, summed aliases and fields over its operations.

    Fragments no operation spreads add their fields and aliases too (validation
    refuses them, but it must not be made to walk a huge one first).
    Raises GraphQLError for a fragment that spreads itself (directly or not).
    """
    measurer = _Measurer(document, cap)
    depth = aliases = fields = 0
    try:
        for node in document.definitions:
            if isinstance(node, OperationDefinitionNode):
                measure = measurer.selections(node.selection_set)
                depth = max(depth, measure.depth)
                aliases = min(aliases + measure.aliases, cap)
                fields = min(fields + measure.fields, cap)
        for name in measurer.fragments:
            if name not in measurer.done:
                measure = measurer.fragment(name)
                aliases = min(aliases + measure.aliases, cap)
                fields = min(fields + measure.fields, cap)
    except _Cycle as cycle:
        raise GraphQLError(f"Cannot spread fragment '{cycle.name}' within itself.") from None
    except RecursionError:
        raise GraphQLError("the document nests too deeply") from None
    return Measure(depth, aliases, fields)


def check_limits(document: DocumentNode, limits: Limits) -> tuple[Measure, list[GraphQLError]]:
    """The document's measure and its errors over a limit (empty when within all of them)."""
    cap = max(limits.max_depth, limits.max_aliases, limits.max_fields) + 1
    try:
        measure = measure_document(document, cap)
    except GraphQLError as error:
        return Measure(), [error]
    errors = []
    if measure.depth > limits.max_depth:
        errors.append(GraphQLError(f"the query exceeds the maximum depth of {limits.max_depth}"))
    if measure.aliases > limits.max_aliases:
        errors.append(
            GraphQLError(
                f"{_at_least(measure.aliases, cap)} aliases found. Allowed: {limits.max_aliases}"
            )
        )
    if measure.fields > limits.max_fields:
        errors.append(
            GraphQLError(
                f"the query selects {_at_least(measure.fields, cap)} fields once its fragments "
                f"are expanded. Allowed: {limits.max_fields}"
            )
        )
    return measure, errors


def check_nesting(query: str, max_tokens: int, max_nesting: int = MAX_NESTING) -> None:
    """GraphQLError (a syntax error) if brackets nest deeper than ``max_nesting``.

    Reads at most ``max_tokens`` tokens (the parser refuses longer documents);
    lexing errors are left to the parser.
    """
    lexer = Lexer(Source(query))
    depth = 0
    try:
        for _ in range(max_tokens + 1):
            kind = lexer.advance().kind
            if kind == TokenKind.EOF:
                return
            if kind in _OPENING:
                depth += 1
                if depth > max_nesting:
                    raise GraphQLError(
                        f"Syntax Error: the document nests deeper than {max_nesting} levels."
                    )
            elif kind in _CLOSING:
                depth -= 1
    except GraphQLError as error:
        if error.message.startswith("Syntax Error: the document nests"):
            raise
        # other lexing errors: the parser reports them


def parse_document(query: str, max_tokens: int) -> DocumentNode:
    """The parsed document; GraphQLError (a syntax error) for anything that does not parse."""
    check_nesting(query, max_tokens)
    try:
        return parse(query, max_tokens=max_tokens)
    except RecursionError:  # unreachable within MAX_NESTING; kept as a guard
        raise GraphQLError("Syntax Error: the document nests too deeply.") from None


def _at_least(count: int, cap: int) -> str:
    return f"more than {cap - 1}" if count >= cap else str(count)


@dataclass(frozen=True)
class _Parsed:
    document: DocumentNode | None
    errors: tuple[GraphQLError, ...] = ()
    operations: int = 0


@dataclass(frozen=True)
class _Validated:
    errors: tuple[GraphQLError, ...]


class DocumentGuard(SchemaExtension):
    """Token limit, cached parsing, linear limits, cached (and off-loop) validation.

    Create one per schema with :func:`document_guard`; the caches live in the
    factory's closure, shared by every request on that schema.
    """

    limits: Limits
    max_tokens: int
    parsed: LRU[str, _Parsed]
    validated: LRU[str, _Validated]

    def on_operation(self) -> Iterator[None]:
        self.execution_context.parse_options["max_tokens"] = self.max_tokens
        yield

    async def on_parse(self) -> AsyncIterator[None]:
        context = self.execution_context
        query = context.query
        if query is not None and context.graphql_document is None:
            parsed = self.parsed.get(query)
            if parsed is None:
                if len(query) > THREADPOOL_CHARS:  # lexing ~2000 tokens twice takes a while
                    parsed = await run_in_threadpool(self._parse, query)
                else:
                    parsed = self._parse(query)
                self.parsed.put(query, parsed)
            if parsed.document is None:
                context.graphql_document = _PLACEHOLDER
                context.pre_execution_errors = list(parsed.errors)
            else:
                context.graphql_document = parsed.document
                # Strawberry would run the first operation; the spec requires an error.
                # (ExecutionContext.operation_name falls back to the first one's name.)
                provided = getattr(context, "_provided_operation_name", None)
                if parsed.operations > 1 and provided is None:
                    context.pre_execution_errors = [
                        GraphQLError(
                            "Must provide operation name if query contains multiple operations."
                        )
                    ]
        yield

    def _parse(self, query: str) -> _Parsed:
        try:
            document = parse_document(query, self.max_tokens)
        except GraphQLError as error:
            return _Parsed(None, (error,))
        operations = sum(isinstance(node, OperationDefinitionNode) for node in document.definitions)
        return _Parsed(document, operations=operations)

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context
        query, document = context.query, context.graphql_document
        if query is not None and document is not None and context.pre_execution_errors is None:
            cached = self.validated.get(query)
            if cached is None:
                cached = _Validated(tuple(await self._validate(document)))
                self.validated.put(query, cached)
            context.pre_execution_errors = list(cached.errors)
        yield

    async def _validate(self, document: DocumentNode) -> list[GraphQLError]:
        measure, errors = check_limits(document, self.limits)
        if errors:
            return errors  # never run standard validation on an oversized document
        schema = self.execution_context.schema._schema
        rules = self.execution_context.validation_rules
        if measure.fields > THREADPOOL_FIELDS:
            return await run_in_threadpool(validate_document, schema, document, rules)
        return validate_document(schema, document, rules)


def document_guard(
    limits: Limits, max_tokens: int, cache_size: int = CACHE_SIZE
) -> type[DocumentGuard]:
    """A DocumentGuard class bound to these limits and to its own caches."""
    return type(
        "DocumentGuard",
        (DocumentGuard,),
        {
            "limits": limits,
            "max_tokens": max_tokens,
            "parsed": LRU[str, _Parsed](cache_size),
            "validated": LRU[str, _Validated](cache_size),
        },
    )
