"""CloudFormation templates as data: YAML with the short intrinsic tags, and the small part of
intrinsic-function evaluation that local mode needs.

Parameters (defaults, ``samconfig.toml`` overrides), pseudo parameters, ``Fn::Sub``,
``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::If``, ``Fn::FindInMap`` and conditions
are evaluated. What only AWS knows (a resource's name or attribute) stays symbolic: a
:class:`Reference`, or a :class:`Composite` text with ``${Logical.Attr}`` placeholders, so
the wiring check can still see *which* resource a value points at.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sesame.core.documents import loads_toml

LOCAL_ACCOUNT = "123456789012"  # moto's default account
SHORT_TAGS = (
    "Ref Condition GetAtt Sub Select Split Join If Equals Not And Or FindInMap Base64 "
    "ImportValue GetAZs Cidr Length ToJsonString Transform"
).split()


class TemplateError(ValueError):
    """The template cannot be read or evaluated."""


@dataclass(frozen=True)
class Reference:
    """A resource's name (``Ref``) or attribute (``GetAtt``): known only once deployed."""

    resource: str
    attribute: str | None = None

    def __str__(self) -> str:
        return "${" + self.resource + (f".{self.attribute}" if self.attribute else "") + "}"


@dataclass(frozen=True)
class Composite:
    """Text mixing known parts and references, e.g. ``arn:...:function:${Fn}``."""

    parts: tuple[str | Reference, ...]

    def __str__(self) -> str:
        return "".join(str(p) for p in self.parts)

    @property
    def references(self) -> tuple[Reference, ...]:
        return tuple(p for p in self.parts if isinstance(p, Reference))


@dataclass(frozen=True)
class Opaque:
    """An intrinsic function local mode does not evaluate (``Fn::ImportValue``, ...)."""

    text: str

    def __str__(self) -> str:
        return self.text


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


# --- reading -----------------------------------------------------------------------------


def _loader() -> type[yaml.SafeLoader]:
    class Loader(yaml.SafeLoader):
        pass

    def make(tag: str):  # type: ignore[no-untyped-def]
        key = "Ref" if tag == "Ref" else "Condition" if tag == "Condition" else f"Fn::{tag}"

        def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
            if isinstance(node, yaml.ScalarNode):
                value: Any = loader.construct_scalar(node)
                if tag == "GetAtt":
                    value = str(value).split(".", 1)
            elif isinstance(node, yaml.SequenceNode):
                value = loader.construct_sequence(node, deep=True)
            else:
                value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
            return {key: value}

        return construct

    for tag in SHORT_TAGS:
        Loader.add_constructor(f"!{tag}", make(tag))
    # CloudFormation reads 2024-01-01 and yes/no as strings, not as a date and booleans.
    Loader.yaml_implicit_resolvers = {
        k: [(t, r) for t, r in v if t not in ("tag:yaml.org,2002:timestamp",)]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return Loader


def load_template(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TemplateError(f"{path}: not UTF-8 text") from None
    try:
        data = yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise TemplateError(f"{path}: not valid YAML: nested too deeply to read") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise TemplateError(f"{path}: not valid YAML{line}: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources section)")
    return data


def samconfig_parameters(path: str | Path, config_env: str = "default") -> tuple[dict[str, str], str | None]:
    """``parameter_overrides`` and ``stack_name`` from a ``samconfig.toml`` (deploy, then global)."""
    path = Path(path)
    try:
        data = loads_toml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TemplateError(f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # not UTF-8, not TOML, or nested too deeply
        raise TemplateError(f"{path}: not valid TOML: {exc}") from None
    env = data.get(config_env, {})
    overrides: dict[str, str] = {}
    stack_name = None
    for section in ("global", "deploy"):  # deploy wins
        params = env.get(section, {}).get("parameters", {}) if isinstance(env, dict) else {}
        raw = params.get("parameter_overrides")
        if isinstance(raw, str):
            tokens = shlex.split(raw)
        elif isinstance(raw, list):
            tokens = [str(t) for t in raw]
        else:
            tokens = []
        for token in tokens:
            key, sep, value = token.partition("=")
            if not sep:
                raise TemplateError(f"{path}: parameter_overrides: {token!r} is not Key=Value")
            overrides[key.strip()] = value
        if isinstance(params.get("stack_name"), str):
            stack_name = params["stack_name"]
    return overrides, stack_name


# --- evaluating --------------------------------------------------------------------------


class Resolver:
    """Evaluates the intrinsic functions of one template with known parameter values."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str | list[str]] | None = None,
        *,
        region: str = "us-east-1",
        account: str = LOCAL_ACCOUNT,
        stack_name: str = "sesame-local",
    ) -> None:
        self.template = template
        self.resources: dict[str, Any] = dict(template.get("Resources") or {})
        self.pseudo = {
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{account}:stack/{stack_name}/local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
        }
        self.parameters = self._parameter_values(parameters or {})
        self._conditions: dict[str, bool] = {}

    # parameters
    def _parameter_values(self, given: Mapping[str, str | list[str]]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        declared = self.template.get("Parameters") or {}
        for name in set(given) - set(declared):
            raise TemplateError(f"parameter {name!r} is given a value but the template does not declare it")
        for name, spec in declared.items():
            spec = spec or {}
            value: Any = given.get(name, spec.get("Default"))
            if value is None:
                continue  # no value: a Ref to it stays unresolved
            kind = str(spec.get("Type", "String"))
            if kind == "CommaDelimitedList" or kind.startswith("List<"):
                if isinstance(value, str):
                    value = [v.strip() for v in value.split(",")] if value.strip() else []
                else:
                    value = [str(v) for v in value]
            elif isinstance(value, bool):
                value = "true" if value else "false"
            else:
                value = str(value)
            values[name] = value
        return values

    # conditions
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.template.get("Conditions") or {}
            if name not in conditions:
                raise TemplateError(f"condition {name!r} is not declared")
            self._conditions[name] = False  # guards against a cycle
            self._conditions[name] = self._truth(conditions[name], name)
        return self._conditions[name]

    def _truth(self, node: Any, where: str) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            (fn, arg), = node.items()
            if fn == "Condition":
                return self.condition(str(arg))
            if fn == "Fn::Equals":
                a, b = (self.value(x) for x in arg)
                if any(isinstance(x, (Reference, Composite, Opaque)) for x in (a, b)):
                    raise TemplateError(f"condition {where!r} needs a value only AWS knows: {a} / {b}")
                return _plain(a) == _plain(b)
            if fn == "Fn::Not":
                return not self._truth(arg[0], where)
            if fn == "Fn::And":
                return all(self._truth(x, where) for x in arg)
            if fn == "Fn::Or":
                return any(self._truth(x, where) for x in arg)
        raise TemplateError(f"condition {where!r}: cannot evaluate {node!r}")

    def resource_enabled(self, logical_id: str) -> bool:
        cond = (self.resources.get(logical_id) or {}).get("Condition")
        return True if cond is None else self.condition(str(cond))

    # values
    def value(self, node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1:
                (key, arg), = node.items()
                if key == "Ref":
                    return self._ref(str(arg))
                if key.startswith("Fn::") or key == "Condition":
                    return self._function(key, arg)
            out = {}
            for k, v in node.items():
                resolved = self.value(v)
                if resolved is not NO_VALUE:
                    out[k] = resolved
            return out
        if isinstance(node, list):
            return [v for v in (self.value(x) for x in node) if v is not NO_VALUE]
        return node

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in (self.template.get("Parameters") or {}):
            return Opaque(f"${{{name}}}")  # declared, no value
        if name in self.resources:
            return Reference(name)
        raise TemplateError(f"Ref to {name!r}: no such parameter or resource")

    def _function(self, key: str, arg: Any) -> Any:
        if key == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else list(arg)
            if len(parts) != 2 or parts[0] not in self.resources:
                raise TemplateError(f"Fn::GetAtt {arg!r}: no such resource")
            return Reference(str(parts[0]), str(self.value(parts[1])))
        if key == "Fn::Sub":
            return self._sub(arg)
        if key == "Fn::Join":
            delimiter, items = self.value(arg[0]), self.value(arg[1])
            if not isinstance(items, list):
                return Opaque(f"Fn::Join {arg!r}")
            parts: list[str | Reference] = []
            for i, item in enumerate(items):
                if i:
                    parts.append(str(delimiter))
                parts.extend(_parts(item))
            return _compose(parts)
        if key == "Fn::Select":
            index, items = self.value(arg[0]), self.value(arg[1])
            if not isinstance(items, list):
                return Opaque(f"Fn::Select {arg!r}")
            try:
                return items[int(index)]
            except (ValueError, IndexError):
                raise TemplateError(f"Fn::Select: index {index} out of range for {items!r}") from None
        if key == "Fn::Split":
            delimiter, text = self.value(arg[0]), self.value(arg[1])
            return text.split(delimiter) if isinstance(text, str) else Opaque(f"Fn::Split {arg!r}")
        if key == "Fn::If":
            name, yes, no = arg
            return self.value(yes if self.condition(str(name)) else no)
        if key == "Fn::FindInMap":
            keys = [self.value(x) for x in arg[:3]]
            try:
                return self.value((self.template.get("Mappings") or {})[keys[0]][keys[1]][keys[2]])
            except (KeyError, TypeError):
                if len(arg) > 3 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                    return self.value(arg[3]["DefaultValue"])
                raise TemplateError(f"Fn::FindInMap {keys!r}: no such mapping entry") from None
        if key == "Fn::GetAZs":
            region = self.value(arg) or self.pseudo["AWS::Region"]
            return [f"{region}{z}" for z in "abc"]
        if key in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"):
            return self._truth({key: arg}, "inline")
        return Opaque(f"{key} {arg!r}")  # Base64, ImportValue, Cidr, Length, ToJsonString, ...

    def _sub(self, arg: Any) -> Any:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.value(v) for k, v in (arg[1] if len(arg) > 1 else {}).items()}
        else:
            text, variables = arg, {}
        parts: list[str | Reference] = []
        pos = 0
        for match in re.finditer(r"\$\{([^}]*)\}", text):
            parts.append(text[pos : match.start()])
            pos = match.end()
            name = match.group(1).strip()
            if name.startswith("!"):
                parts.append("${" + name[1:] + "}")
            elif name in variables:
                parts.extend(_parts(variables[name]))
            elif "." in name and name.split(".", 1)[0] in self.resources:
                logical, attribute = name.split(".", 1)
                parts.append(Reference(logical, attribute))
            else:
                parts.extend(_parts(self._ref(name)))
        parts.append(text[pos:])
        return _compose(parts)


def _parts(value: Any) -> list[str | Reference]:
    if isinstance(value, Reference):
        return [value]
    if isinstance(value, Composite):
        return list(value.parts)
    if isinstance(value, list):
        return [",".join(str(v) for v in value)]
    return [str(value)]


def _compose(parts: list[str | Reference]) -> Any:
    merged: list[str | Reference] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        elif part != "":
            merged.append(part)
    if not merged:
        return ""
    if len(merged) == 1:
        return merged[0]
    if all(isinstance(p, str) for p in merged):
        return "".join(merged)  # type: ignore[arg-type]
    return Composite(tuple(merged))


def _plain(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def local_name(logical_id: str, stack_name: str) -> str:
    """A name for a resource CloudFormation would name: lower case, bucket-safe."""
    return f"{stack_name}-{logical_id}".lower()[:63]


def as_bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"
