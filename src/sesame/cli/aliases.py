"""``sesame aliases``: the deployed alias data in SSM Parameter Store, edited as a file.

``import`` shows the difference between a file and what is deployed and applies it;
``export`` writes the deployed data back out as ``aliases.toml``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sesame.cli.common import CommandError, add_aws_options, aws_client, with_aws_hint
from sesame.config import DEFAULT_ALIAS_PATH
from sesame.core.alias_config import (
    STATE_SEGMENT,
    AliasConfig,
    dump_aliases_toml,
    from_parameters,
    load_aliases_file,
    parameter_name,
    to_parameters,
)
from sesame.core.aliases import Alias, AliasConfigError, AliasTable, alias_key
from sesame.core.addresses import InvalidAddress


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("aliases", help="list, change, import or export the deployed aliases (SSM)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--path", default=DEFAULT_ALIAS_PATH, help=f"SSM path prefix (default {DEFAULT_ALIAS_PATH})")
        add_aws_options(sub)
        return sub

    action("list", "print every alias and where it goes").set_defaults(func=run_list)
    set_parser = action("set", "create or replace one alias")
    set_parser.add_argument("address", help="the alias, e.g. john@example.com, or @example.com for a catch-all")
    set_parser.add_argument("destinations", nargs="+", help="where its mail goes")
    set_parser.add_argument("--disabled", action="store_true", help="store it disabled")
    set_parser.add_argument("--expires", help="last day it works, YYYY-MM-DD")
    set_parser.add_argument(
        "--block", action="append", default=[], metavar="SENDER",
        help="drop mail from this sender (a@x.example, @x.example or *.x.example); repeatable",
    )
    set_parser.add_argument(
        "--allow", action="append", default=[], metavar="SENDER",
        help="accept mail only from these (authenticated) senders; repeatable",
    )
    set_parser.set_defaults(func=run_set)
    rm_parser = action("rm", "delete one alias")
    rm_parser.add_argument("address")
    rm_parser.set_defaults(func=run_rm)
    import_parser = action("import", "make the deployed aliases equal to a file (shows the diff first)")
    import_parser.add_argument("file", type=Path, help="an aliases.toml")
    import_parser.add_argument("--dry-run", action="store_true", help="show the diff, change nothing")
    import_parser.set_defaults(func=run_import)
    export_parser = action("export", "write the deployed aliases as aliases.toml")
    export_parser.add_argument("--output", type=Path, help="file to write (default: standard output)")
    export_parser.set_defaults(func=run_export)


def _path(args: argparse.Namespace) -> str:
    return "/" + args.path.strip("/")


def _read(args: argparse.Namespace, ssm: Any) -> dict[str, str]:
    """Every alias parameter under the path, by full name (operator state left out, so an
    import never deletes it)."""
    params: dict[str, str] = {}
    state = f"{_path(args)}/{STATE_SEGMENT}/"
    try:
        for page in ssm.get_paginator("get_parameters_by_path").paginate(
            Path=_path(args), Recursive=True, WithDecryption=True
        ):
            params.update({p["Name"]: p["Value"] for p in page["Parameters"] if not p["Name"].startswith(state)})
    except Exception as exc:  # noqa: BLE001 - botocore raises several unrelated types
        raise CommandError(f"cannot read {_path(args)} from SSM: {with_aws_hint(exc)}") from None
    return params


def _deployed(args: argparse.Namespace, ssm: Any) -> tuple[dict[str, str], AliasConfig]:
    params = _read(args, ssm)
    prefix = _path(args) + "/"
    try:
        return params, from_parameters({k.removeprefix(prefix): v for k, v in params.items()})
    except AliasConfigError as exc:
        raise CommandError(f"the deployed aliases under {_path(args)} are not valid: {exc}") from None


def run_list(args: argparse.Namespace) -> int:
    _, config = _deployed(args, aws_client(args, "ssm"))
    for key, alias in sorted(config.table.aliases.items()):
        state = "" if alias.enabled else "  (disabled)"
        if alias.expires:
            state += f"  (expires {alias.expires.isoformat()})"
        if alias.block:
            state += f"  (blocks {', '.join(alias.block)})"
        if alias.allow:
            state += f"  (only from {', '.join(alias.allow)})"
        print(f"{key} -> {', '.join(alias.destinations)}{state}")
    for source, target in sorted(config.table.domain_aliases.items()):
        print(f"@{source} -> @{target}  (domain alias)")
    if config.table.blocked:
        print(f"blocked for every alias: {', '.join(config.table.blocked)}")
    if not config.table.aliases and not config.table.domain_aliases:
        print(f"no aliases under {_path(args)}")
    return 0


def run_set(args: argparse.Namespace) -> int:
    try:
        from datetime import date

        expires = date.fromisoformat(args.expires) if args.expires else None
    except ValueError:
        raise CommandError(f"--expires {args.expires!r}: use YYYY-MM-DD") from None
    try:
        key = alias_key(args.address)
        alias = Alias(key, tuple(args.destinations), not args.disabled, expires, tuple(args.block), tuple(args.allow))
        single = AliasConfig(AliasTable.build([alias]))
    except (AliasConfigError, InvalidAddress) as exc:
        raise CommandError(str(exc)) from None
    ssm = aws_client(args, "ssm")
    for name, value in to_parameters(single, _path(args)).items():
        _put(ssm, name, value)
        print(f"set {key} -> {', '.join(single.table.aliases[key].destinations)}")
    return 0


def run_rm(args: argparse.Namespace) -> int:
    try:
        name = parameter_name(_path(args), alias_key(args.address))
    except InvalidAddress as exc:
        raise CommandError(str(exc)) from None
    ssm = aws_client(args, "ssm")
    try:
        ssm.delete_parameter(Name=name)
    except ssm.exceptions.ParameterNotFound:
        raise CommandError(f"no alias {args.address} under {_path(args)}") from None
    except Exception as exc:  # noqa: BLE001
        raise CommandError(f"cannot delete {name}: {exc}") from None
    print(f"removed {alias_key(args.address)}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    try:
        desired = to_parameters(load_aliases_file(args.file), _path(args))
    except AliasConfigError as exc:
        raise CommandError(str(exc)) from None
    ssm = aws_client(args, "ssm")
    current, _ = _deployed(args, ssm)
    added = sorted(set(desired) - set(current))
    removed = sorted(set(current) - set(desired))
    changed = sorted(n for n in set(desired) & set(current) if desired[n] != current[n])
    for name in added:
        print(f"+ {name} = {desired[name]}")
    for name in changed:
        print(f"~ {name} = {desired[name]}  (was {current[name]})")
    for name in removed:
        print(f"- {name}  (was {current[name]})")
    if not (added or changed or removed):
        print(f"{_path(args)} already matches {args.file}")
        return 0
    print(f"{len(added)} to add, {len(changed)} to change, {len(removed)} to remove")
    if args.dry_run:
        return 0
    for name in added + changed:
        _put(ssm, name, desired[name])
    for start in range(0, len(removed), 10):  # DeleteParameters takes at most 10 names
        ssm.delete_parameters(Names=removed[start : start + 10])
    print("applied")
    return 0


def run_export(args: argparse.Namespace) -> int:
    _, config = _deployed(args, aws_client(args, "ssm"))
    text = dump_aliases_toml(config)
    if args.output is None:
        sys.stdout.write(text)
    else:
        try:
            args.output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"--output {args.output}: {exc.strerror or exc}") from None
    return 0


def _put(ssm: Any, name: str, value: str) -> None:
    try:
        ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
    except Exception as exc:  # noqa: BLE001
        raise CommandError(f"cannot write {name}: {exc}") from None


__all__ = ["register"]
