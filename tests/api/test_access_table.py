"""The README's access table is generated from the schema and the library's rule table."""

from __future__ import annotations

from pathlib import Path

from graphql_api.access import OPERATION_ACCESS, access_table
from graphql_api.schema import build_schema

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- access-table:start -->\n", "<!-- access-table:end -->"


def test_every_operation_of_the_schema_has_a_row() -> None:
    schema = build_schema()._schema
    operations = {
        f"{root}.{name}"
        for root in ("Query", "Mutation", "Subscription")
        if (kind := schema.get_type(root)) is not None
        for name in kind.fields  # type: ignore[attr-defined]
    }
    graphql_rows = {key for key in OPERATION_ACCESS if not key.startswith(("GET ", "POST "))}
    assert graphql_rows == operations


def test_the_readme_shows_the_generated_table() -> None:
    text = README.read_text(encoding="utf-8")
    shown = text.split(START, 1)[1].split(END, 1)[0]
    assert shown == access_table(), (
        "README.md's access table is out of date: paste `python -m graphql_api.access`"
    )
