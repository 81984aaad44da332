"""aliases.toml and the SSM layout produce the same configuration."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sesame.core.alias_config import (
    decode_local,
    encode_local,
    from_parameters,
    load_aliases_file,
    parameter_name,
    parse_aliases_toml,
    to_parameters,
)
from sesame.core.aliases import AliasConfigError
from sesame.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_given_the_example_file_then_it_loads_with_every_feature() -> None:
    config = load_aliases_file(ROOT / "aliases.toml")
    aliases = config.table.aliases
    assert aliases["john@example.com"].destinations == ("john.doe@gmail.example", "john@work.example")
    assert aliases["@example.com"].destinations == ("catchall@gmail.example",)
    assert aliases["old@example.com"].enabled is False
    assert aliases["promo@example.com"].expires == date(2027, 1, 31)
    assert config.table.domain_aliases == {"example.net": "example.com"}
    assert config.apply(Settings()).unknown == "bounce"


def test_given_a_config_when_written_to_ssm_parameters_and_read_back_then_it_is_identical() -> None:
    config = load_aliases_file(ROOT / "aliases.toml")
    params = to_parameters(config, "/sesame")
    assert params["/sesame/aliases/example.com/john"] == "john.doe@gmail.example,john@work.example"
    assert params["/sesame/aliases/example.com/_"] == "catchall@gmail.example"
    assert params["/sesame/domains/example.net"] == "example.com"
    assert params["/sesame/settings/unknown"] == "bounce"
    relative = {name.removeprefix("/sesame/"): value for name, value in params.items()}
    again = from_parameters(relative)
    assert dict(again.table.aliases) == dict(config.table.aliases)
    assert dict(again.table.domain_aliases) == dict(config.table.domain_aliases)
    assert dict(again.settings) == dict(config.settings)


def test_parameter_names_use_only_characters_ssm_allows() -> None:
    name = parameter_name("/sesame/", "first_last+news@example.com")
    assert name == "/sesame/aliases/example.com/first_5flast_2bnews"
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/")


@given(st.text(min_size=1, max_size=30).filter(lambda s: "\x00" not in s))
def test_local_part_encoding_round_trips(local: str) -> None:
    encoded = encode_local(local)
    assert set(encoded) <= set("abcdefghijklmnopqrstuvwxyz0123456789_.-")
    assert decode_local(encoded) == local


@pytest.mark.parametrize("segment", ["a_zz", "a_", "_4", "_ff"])
def test_bad_encoded_segments_are_refused(segment: str) -> None:
    with pytest.raises(AliasConfigError):
        decode_local(segment)


def test_plain_comma_list_and_json_values_are_both_read() -> None:
    config = from_parameters(
        {
            "aliases/example.com/a": " x@o.example , y@o.example ",
            "aliases/example.com/b": '{"to": ["z@o.example"], "enabled": false, "expires": "2027-01-31"}',
        }
    )
    assert config.table.aliases["a@example.com"].destinations == ("x@o.example", "y@o.example")
    b = config.table.aliases["b@example.com"]
    assert (b.enabled, b.expires) == (False, date(2027, 1, 31))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"aliases/example.com/a": "{not json"}, "invalid JSON"),
        # json.loads raises RecursionError at this depth (Python 3.11 already at 4 KB, one
        # standard SSM parameter; 3.13 reads 4 KB and refuses the nested lists instead).
        ({"aliases/example.com/a": '{"to":' + "[" * 100_000 + "]" * 100_000 + "}"}, "invalid JSON value: JSON nested too deeply"),
        ({"senders/block": "[" * 100_000 + "]" * 100_000}, "invalid JSON value: JSON nested too deeply"),
        ({"aliases/example.com/a": '{"to":' + "[" * 2000 + "]" * 2000 + "}"}, "alias 'a@example.com'"),
        ({"senders/block": "[" * 2048 + "]" * 2048}, "senders/block"),
        ({"other/thing": "x"}, "unexpected parameter"),
        ({"settings/unknown": "maybe"}, "unknown must be"),
    ],
)
def test_bad_parameters_are_reported(params: dict[str, str], message: str) -> None:
    with pytest.raises(AliasConfigError, match=message):
        from_parameters(params)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[aliases\n", "invalid TOML"),
        # tomllib recurses per level: RecursionError, not a TOML error, without the guard.
        ('[aliases]\n"a@example.com" = ' + "[" * 5000 + "]" * 5000 + "\n", "invalid TOML: TOML nested too deeply"),
        ('[aliases]\n"a@example.com" = ' + "{ to = " * 3000 + '"x@o.example"' + " }" * 3000 + "\n",
         "invalid TOML: TOML nested too deeply"),
        ("[extra]\n", "unknown section"),
        ("settings = 1\n", r"\[settings\] must be a table"),
        ('[settings]\ncolour = "red"\n', "unknown key"),
        ("[settings]\nfrom = 3\n", "must be a string"),
        ('[settings]\nfrom = "{nope}"\n', "only {alias}"),
        ('[settings]\nfrom = "no-at-sign"\n', "not an email address"),
        ('[domains]\n"a.example" = 1\n', "domain name string"),
        ('[aliases]\n"a@example.com" = 5\n', "expected a list"),
        ('[aliases]\n"a@example.com" = { to = ["x@o.example"], colour = 1 }\n', "unknown key"),
        ('[aliases]\n"a@example.com" = { to = 5 }\n', "'to' must be a list"),
        ('[aliases]\n"a@example.com" = { to = ["x@o.example"], enabled = "yes" }\n', "true or false"),
        ('[aliases]\n"a@example.com" = { to = ["x@o.example"], expires = "soon" }\n', "must be a date"),
        ('[aliases]\n"a@example.com" = [1]\n', "must be strings"),
    ],
)
def test_given_a_bad_file_then_the_error_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(AliasConfigError, match=message):
        parse_aliases_toml(text)


def test_toml_native_dates_and_single_string_destinations_are_accepted() -> None:
    config = parse_aliases_toml(
        '[aliases]\n"a@example.com" = "x@o.example"\n'
        '"b@example.com" = { to = "y@o.example", expires = 2027-01-31 }\n'
        '"c@example.com" = { to = ["z@o.example"], expires = 2027-01-31T10:00:00Z }\n'
    )
    assert config.table.aliases["a@example.com"].destinations == ("x@o.example",)
    assert config.table.aliases["b@example.com"].expires == date(2027, 1, 31)
    assert config.table.aliases["c@example.com"].expires == date(2027, 1, 31)


def test_missing_or_undecodable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(AliasConfigError, match="No such file"):
        load_aliases_file(tmp_path / "missing.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'[aliases]\n"\xe9@example.com" = ["x@o.example"]\n')
    with pytest.raises(AliasConfigError, match="not UTF-8"):
        load_aliases_file(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("[aliases\n")
    with pytest.raises(AliasConfigError, match=str(broken)):
        load_aliases_file(broken)


def test_a_config_dumped_as_toml_loads_back_identical() -> None:
    from sesame.core.alias_config import dump_aliases_toml

    original = load_aliases_file(ROOT / "aliases.toml")
    text = dump_aliases_toml(original)
    again = parse_aliases_toml(text)
    assert dict(again.table.aliases) == dict(original.table.aliases)
    assert dict(again.table.domain_aliases) == dict(original.table.domain_aliases)
    assert dict(again.settings) == dict(original.settings)
    assert dump_aliases_toml(parse_aliases_toml("")) == "[aliases]\n"


def test_given_operator_state_under_the_alias_path_then_the_aliases_read_ignore_it() -> None:
    # `sesame activate` keeps the rule set to roll back to at <path>/state/...
    params = {
        "aliases/example.com/john": "john.doe@gmail.example",
        "state/activation": '{"activated": "sesame-green-rules", "previous": "sesame-rules"}',
    }

    config = from_parameters(params)

    assert list(config.table.aliases) == ["john@example.com"]
    assert dict(config.settings) == {}
