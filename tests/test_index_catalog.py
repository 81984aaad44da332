"""The index table's declared schema against the records the real code writes, and the
packaged catalog against the template it is extracted from."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from mail_scenarios import scenario_environment, write_index
from sqlglot import exp

from sesame.ops.catalog import CatalogError, IndexCatalog, catalog_from_template, first_day, load_template, packaged_catalog

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    with scenario_environment(), mock_aws():
        objects = write_index(TODAY)
    return [json.loads(line) for body in objects.values() for line in body.decode().splitlines()]


# --- the schema, as a tree of Hive types -----------------------------------------------------


def _type_tree(data_type: exp.DataType) -> Any:
    """'string' / 'bigint' / 'boolean', ['array', element], or {'field': subtree}."""
    if data_type.this == exp.DataType.Type.STRUCT:
        return {f.name: _type_tree(f.args["kind"]) for f in data_type.expressions}
    if data_type.this == exp.DataType.Type.ARRAY:
        return ["array", _type_tree(data_type.expressions[0])]
    return data_type.this.name.lower()


def schema_tree(catalog: IndexCatalog) -> dict[str, Any]:
    return {name: _type_tree(exp.DataType.build(type_, dialect="hive")) for name, type_ in catalog.columns}


def _paths(tree: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(tree, dict):
        for key, sub in tree.items():
            yield f"{prefix}{key}"
            yield from _paths(sub, f"{prefix}{key}.")
    elif isinstance(tree, list):
        yield from _paths(tree[1], f"{prefix.rstrip('.')}[].")


def _record_paths(value: Any, prefix: str = "") -> Iterator[str]:
    # The JSON SerDe lower-cases keys (case.insensitive), so the schema names them in lower case.
    if isinstance(value, dict):
        for key, sub in value.items():
            yield f"{prefix}{key.lower()}"
            yield from _record_paths(sub, f"{prefix}{key.lower()}.")
    elif isinstance(value, list):
        for item in value:
            yield from _record_paths(item, f"{prefix.rstrip('.')}[].")


def _type_errors(value: Any, tree: Any, path: str) -> Iterator[str]:
    if value is None:
        return
    if isinstance(tree, dict):
        if not isinstance(value, dict):
            yield f"{path}: {type(value).__name__}, schema says struct"
            return
        for key, sub in value.items():
            if key.lower() in tree:
                yield from _type_errors(sub, tree[key.lower()], f"{path}.{key}")
    elif isinstance(tree, list):
        if not isinstance(value, list):
            yield f"{path}: {type(value).__name__}, schema says array"
            return
        for item in value:
            yield from _type_errors(item, tree[1], f"{path}[]")
    else:
        expected = {"text": str, "varchar": str, "bigint": int, "int": int, "boolean": bool, "double": float}[tree]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            yield f"{path}: {type(value).__name__} {value!r}, schema says {tree}"


def test_every_key_the_code_writes_is_in_the_schema_and_every_schema_field_is_written(
    records: list[dict[str, Any]],
) -> None:
    schema = set(_paths(schema_tree(packaged_catalog())))
    written = {path for record in records for path in _record_paths(record)}

    assert written - schema == set(), "keys the index records carry that the Glue table lacks"
    assert schema - written == set(), "schema fields no scenario's record carries"
    # The optional fields are among them, so the check above covers them.
    assert {"outcomes[].detail", "outcomes[].suppressed[].reason", "verdicts.dmarc_policy", "defects[].header", "receipt.dmarcpolicy",
            "mail.commonheaders.cc", "mail.commonheaders.replyto", "receipt.action.objectkey"} <= written


def test_every_value_the_code_writes_has_the_schemas_type(records: list[dict[str, Any]]) -> None:
    tree = schema_tree(packaged_catalog())
    errors = [error for record in records for error in _type_errors(record, tree, "record")]
    assert errors == []


def test_the_packaged_catalog_is_the_templates() -> None:
    # If this fails after a template change: `make catalog`.
    from_template = catalog_from_template(load_template(ROOT / "template.yaml"))
    assert packaged_catalog() == from_template
    packaged = (ROOT / "src/sesame/ops/index_catalog.json").read_text(encoding="utf-8")
    assert json.loads(packaged) == from_template.as_dict()


def test_the_partition_is_the_day_folder_the_index_writes() -> None:
    from datetime import UTC, datetime

    from sesame.core.event import InboundMail
    from sesame.core.index import index_key

    mail = InboundMail("m1", "a@b.example", datetime(2026, 1, 5, 23, 59, tzinfo=UTC), ("c@d.example",))
    key = index_key("index/", mail)
    assert key.split("/")[1:4] == first_day(1, date(2026, 1, 5)).split("/")
    assert packaged_catalog().partition == "received_day"


@pytest.mark.parametrize(("days", "expected"), [(1, "2026/11/23"), (7, "2026/11/17"), (30, "2026/10/25")])
def test_days_count_today_as_the_first(days: int, expected: str) -> None:
    assert first_day(days, TODAY) == expected


def test_zero_days_is_refused() -> None:
    with pytest.raises(CatalogError, match="at least 1"):
        first_day(0, TODAY)


def test_a_template_query_without_the_day_filter_is_refused() -> None:
    template = load_template(ROOT / "template.yaml")
    template["Resources"]["TopSendersQuery"]["Properties"]["QueryString"] = "SELECT 1 FROM sesame_index"
    with pytest.raises(CatalogError, match="received_day >= ?"):
        catalog_from_template(template)


def test_an_unknown_query_name_lists_the_known_ones() -> None:
    with pytest.raises(CatalogError, match="recent-messages, top-senders"):
        packaged_catalog().query("top-spammers")
