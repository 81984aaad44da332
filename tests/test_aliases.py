"""Alias resolution: exact > +tag > catch-all, domain aliases, groups, disabled, expiry."""

from __future__ import annotations

from datetime import date

import pytest

from sesame.core.aliases import Alias, AliasConfigError, AliasTable, alias_key

TODAY = date(2026, 11, 23)


def table(**extra: object) -> AliasTable:
    return AliasTable.build(
        [
            Alias("John@Example.com", ("john.doe@gmail.example", "john@work.example")),
            Alias("team@example.com", ("john@example.com", "ann@example.org", "John.Doe@GMAIL.example")),
            Alias("@example.com", ("catchall@gmail.example",)),
            Alias("old@example.com", ("john.doe@gmail.example",), enabled=False),
            Alias("promo@example.com", ("john.doe@gmail.example",), expires=date(2026, 11, 23)),
            Alias("shop@example.com", ("john.doe@gmail.example",)),
        ],
        {"example.net": "example.com"},
    )


def test_given_exact_alias_when_resolving_with_other_case_then_it_matches() -> None:
    found = table().resolve("JOHN@EXAMPLE.COM", TODAY)
    assert found.rule == "john@example.com"
    assert found.destinations == ("john.doe@gmail.example", "john@work.example")
    assert found.reason == "alias"


def test_given_plus_address_when_no_exact_rule_then_the_base_alias_matches() -> None:
    found = table().resolve("shop+newsletter@example.com", TODAY)
    assert found.rule == "shop@example.com"
    assert found.destinations == ("john.doe@gmail.example",)


def test_given_exact_rule_for_tagged_address_then_it_wins_over_the_base() -> None:
    t = AliasTable.build([Alias("a+x@example.com", ("x@out.example",)), Alias("a@example.com", ("a@out.example",))])
    assert t.resolve("a+x@example.com", TODAY).destinations == ("x@out.example",)
    assert t.resolve("a+y@example.com", TODAY).destinations == ("a@out.example",)


def test_given_unknown_local_part_then_catch_all_matches() -> None:
    found = table().resolve("whoever@example.com", TODAY)
    assert (found.rule, found.destinations) == ("@example.com", ("catchall@gmail.example",))


def test_given_domain_alias_then_it_maps_before_matching() -> None:
    assert table().resolve("john@example.net", TODAY).rule == "john@example.com"
    assert table().resolve("nobody@example.net", TODAY).rule == "@example.com"


def test_given_group_then_members_expand_recursively_without_duplicates() -> None:
    found = table().resolve("team@example.com", TODAY)
    # john@example.com expands to two addresses; John.Doe@GMAIL.example duplicates one of them
    assert found.destinations == ("john.doe@gmail.example", "john@work.example", "ann@example.org")


def test_given_disabled_alias_then_recipient_is_unknown_not_caught_all() -> None:
    found = table().resolve("old@example.com", TODAY)
    assert (found.reason, found.rule, found.destinations) == ("alias-disabled", "old@example.com", ())


def test_given_expiry_date_then_usable_through_that_day_and_not_after() -> None:
    assert table().resolve("promo@example.com", TODAY).found
    later = table().resolve("promo@example.com", date(2026, 11, 24))
    assert (later.reason, later.found) == ("alias-expired", False)


def test_given_unknown_domain_then_unknown_recipient() -> None:
    found = table().resolve("john@elsewhere.example", TODAY)
    assert (found.reason, found.rule) == ("unknown-recipient", None)


def test_given_garbage_recipient_then_invalid_not_an_exception() -> None:
    assert table().resolve("not an address", TODAY).reason == "invalid-recipient"


def test_given_group_cycle_then_it_is_cut_and_reported() -> None:
    t = AliasTable.build(
        [
            Alias("a@example.com", ("b@example.com", "a-out@other.example")),
            Alias("b@example.com", ("a@example.com", "b-out@other.example")),
        ]
    )
    found = t.resolve("a@example.com", TODAY)
    assert found.destinations == ("b-out@other.example", "a-out@other.example")
    assert any("cycle" in w for w in found.warnings)


def test_given_group_member_disabled_or_unknown_then_it_is_skipped_with_warning() -> None:
    t = AliasTable.build(
        [
            Alias("g@example.com", ("off@example.com", "ghost@example.com", "x@other.example")),
            Alias("off@example.com", ("y@other.example",), enabled=False),
        ]
    )
    found = t.resolve("g@example.com", TODAY)
    assert found.destinations == ("x@other.example",)
    assert len(found.warnings) == 2


def test_given_group_of_only_dead_members_then_no_destinations() -> None:
    t = AliasTable.build(
        [Alias("g@example.com", ("off@example.com",)), Alias("off@example.com", ("y@o.example",), enabled=False)]
    )
    found = t.resolve("g@example.com", TODAY)
    assert (found.reason, found.found) == ("no-destinations", False)


def test_table_knows_its_domains() -> None:
    assert table().domains == {"example.com", "example.net"}


@pytest.mark.parametrize(
    ("aliases", "domains", "message"),
    [
        ([Alias("a@example.com", ("x@o.example",)), Alias("A@example.com", ("y@o.example",))], {}, "defined twice"),
        ([Alias("a@example.com", ())], {}, "no destinations"),
        ([Alias("not-an-address", ("x@o.example",))], {}, "not an email address"),
        ([Alias("a@example.com", ("broken",))], {}, "not an email address"),
        ([], {"bad domain": "example.com"}, "not a domain"),
        ([], {"a.example": "b.example", "b.example": "a.example"}, "cycle"),
    ],
)
def test_given_bad_configuration_then_a_clear_error(aliases, domains, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AliasConfigError, match=message):
        AliasTable.build(aliases, domains)


def test_alias_key_normalizes_addresses_and_catch_alls() -> None:
    assert alias_key(" John@Example.COM ") == "john@example.com"
    assert alias_key("@Example.COM") == "@example.com"
