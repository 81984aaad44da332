"""The index catalog: the ``sesame_index`` table's schema (and the other tables the named
queries read, ``sesame_feedback``) and the named queries.

``template.yaml`` is their one source: the Glue table (``IndexTable``) and the
``AWS::Athena::NamedQuery`` resources. An installed ``sesame`` has no template, so the
package carries ``index_catalog.json``, extracted from the template by
``python -m sesame.ops.catalog template.yaml --write`` (``make catalog``); a test fails when
the two disagree. JSON, not YAML, so reading it needs nothing beyond the standard library.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

CATALOG_FILE = "index_catalog.json"
TABLE_RESOURCE = "IndexTable"
# Further tables the named queries may read, by logical id, each with the folder (under the
# bucket, and under local mode's state folder) its day partitions live in.
OTHER_TABLE_RESOURCES = ("FeedbackTable",)


class CatalogError(ValueError):
    """The catalog (or the template it comes from) is not what the commands expect."""


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    sql: str  # Trino (Athena engine 3); every ? is the first day to include

    @property
    def parameter_count(self) -> int:
        return self.sql.count("?")


@dataclass(frozen=True)
class TableSpec:
    """A table besides the index: its name, day partition column and columns."""

    name: str
    partition: str
    columns: tuple[tuple[str, str], ...]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "partition": self.partition, "columns": [list(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableSpec:
        return cls(data["name"], data["partition"], tuple((n, t) for n, t in data["columns"]))


@dataclass(frozen=True)
class IndexCatalog:
    table: str
    partition: str  # the projected partition column, a day as YYYY/MM/DD
    columns: tuple[tuple[str, str], ...]  # (name, Hive type), in table order
    queries: tuple[NamedQuery, ...]
    others: tuple[TableSpec, ...] = ()

    @property
    def tables(self) -> tuple[TableSpec, ...]:
        """Every table, the index first."""
        return (TableSpec(self.table, self.partition, self.columns), *self.others)

    def query(self, name: str) -> NamedQuery:
        for query in self.queries:
            if query.name == name:
                return query
        raise CatalogError(f"no query {name!r}; the queries are: {', '.join(self.query_names)}")

    @property
    def query_names(self) -> tuple[str, ...]:
        return tuple(q.name for q in self.queries)

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "partition": self.partition,
            "columns": [list(c) for c in self.columns],
            "queries": [{"name": q.name, "description": q.description, "sql": q.sql} for q in self.queries],
            "tables": [t.as_dict() for t in self.others],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexCatalog:
        return cls(
            table=data["table"],
            partition=data["partition"],
            columns=tuple((name, type_) for name, type_ in data["columns"]),
            queries=tuple(NamedQuery(q["name"], q["description"], q["sql"]) for q in data["queries"]),
            others=tuple(TableSpec.from_dict(t) for t in data.get("tables", [])),
        )


def first_day(days: int, today: date) -> str:
    """The partition value of the first day a ``--days N`` query includes: today counts as one."""
    if days < 1:
        raise CatalogError(f"--days must be at least 1, not {days}")
    return (today - timedelta(days=days - 1)).strftime("%Y/%m/%d")


@cache
def packaged_catalog() -> IndexCatalog:
    """The catalog the installed package carries."""
    text = resources.files("sesame.ops").joinpath(CATALOG_FILE).read_text(encoding="utf-8")
    return IndexCatalog.from_dict(json.loads(text))


# --- extraction from template.yaml (at build time, never at run time) ---------------------


def catalog_from_template(template: dict[str, Any]) -> IndexCatalog:
    """The catalog a parsed ``template.yaml`` declares."""
    resources_ = template.get("Resources", {})
    table = resources_.get(TABLE_RESOURCE)
    if not table or table.get("Type") != "AWS::Glue::Table":
        raise CatalogError(f"the template has no AWS::Glue::Table named {TABLE_RESOURCE}")
    index = _table_spec(table)
    others = tuple(
        _table_spec(resources_[name]) for name in OTHER_TABLE_RESOURCES
        if resources_.get(name, {}).get("Type") == "AWS::Glue::Table"
    )
    queries = []
    for logical_id, resource in resources_.items():
        if resource.get("Type") != "AWS::Athena::NamedQuery":
            continue
        props = resource["Properties"]
        sql = props["QueryString"].strip()
        read = [t for t in (index, *others) if re.search(rf"\b(?:FROM|JOIN)\s+{t.name}\b", sql)]
        if not read:
            raise CatalogError(f"{logical_id}: the query reads none of {', '.join(t.name for t in (index, *others))}")
        for spec in read:
            if f"{spec.partition} >= ?" not in sql:
                raise CatalogError(f"{logical_id}: the query does not filter on {spec.partition} >= ?")
        queries.append(NamedQuery(props["Name"], props.get("Description", ""), sql))
    return IndexCatalog(index.name, index.partition, index.columns, tuple(queries), others)


def _table_spec(resource: dict[str, Any]) -> TableSpec:
    table_input = resource["Properties"]["TableInput"]
    (partition,) = (key["Name"] for key in table_input["PartitionKeys"])
    columns = tuple((c["Name"], c["Type"]) for c in table_input["StorageDescriptor"]["Columns"])
    return TableSpec(table_input["Name"], partition, columns)


def load_template(path: Path) -> dict[str, Any]:
    """``template.yaml`` as plain data; CloudFormation's short-form tags become ``{"Fn::X": ...}``."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
        if name == "Fn::GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {name: value}

    Loader.add_multi_constructor("!", intrinsic)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)  # noqa: S506 - SafeLoader subclass


def render(catalog: IndexCatalog) -> str:
    return json.dumps(catalog.as_dict(), indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0].startswith("-"):
        print("usage: python -m sesame.ops.catalog TEMPLATE [--write]", file=sys.stderr)
        return 2
    text = render(catalog_from_template(load_template(Path(args[0]))))
    if "--write" in args[1:]:
        target = Path(__file__).with_name(CATALOG_FILE)
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
    else:
        sys.stdout.write(text)
    return 0



__all__ = ["CatalogError", "IndexCatalog", "NamedQuery", "TableSpec", "catalog_from_template", "first_day", "packaged_catalog"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
