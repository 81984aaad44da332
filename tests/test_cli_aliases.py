"""`sesame aliases` through its entry point, against a moto server standing in for SSM."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from sesame.core.alias_config import load_aliases_file, parse_aliases_toml

ROOT = Path(__file__).resolve().parent.parent
SESAME = str(Path(sys.executable).parent / "sesame")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def ssm(endpoint: str) -> Iterator[object]:
    client = boto3.client("ssm", endpoint_url=endpoint, region_name="us-east-1")
    yield client
    for page in client.get_paginator("get_parameters_by_path").paginate(Path="/", Recursive=True):
        for parameter in page["Parameters"]:
            client.delete_parameter(Name=parameter["Name"])


def sesame(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    return subprocess.run(
        [SESAME, "aliases", *args, "--endpoint-url", endpoint, "--region", "us-east-1"],
        capture_output=True, text=True, timeout=60, env=env, cwd=ROOT,
    )


def test_import_shows_the_diff_then_applies_it_and_export_gives_the_same_aliases(
    endpoint: str, ssm: object, tmp_path: Path
) -> None:
    dry = sesame(endpoint, "import", "aliases.toml", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "+ /sesame/aliases/example.com/john = john.doe@gmail.example,john@work.example" in dry.stdout
    assert "to add, 0 to change, 0 to remove" in dry.stdout
    assert sesame(endpoint, "list").stdout.strip() == "no aliases under /sesame"

    applied = sesame(endpoint, "import", "aliases.toml")
    assert applied.returncode == 0 and applied.stdout.strip().endswith("applied")
    assert "already matches" in sesame(endpoint, "import", "aliases.toml").stdout

    listing = sesame(endpoint, "list").stdout
    assert "john@example.com -> john.doe@gmail.example, john@work.example" in listing
    assert "old@example.com -> john.doe@gmail.example  (disabled)" in listing
    assert "@example.net -> @example.com  (domain alias)" in listing

    out = tmp_path / "exported.toml"
    assert sesame(endpoint, "export", "--output", str(out)).returncode == 0
    exported, original = load_aliases_file(out), load_aliases_file(ROOT / "aliases.toml")
    assert dict(exported.table.aliases) == dict(original.table.aliases)
    assert dict(exported.settings) == dict(original.settings)


def test_import_removes_what_the_file_no_longer_has(endpoint: str, ssm: object, tmp_path: Path) -> None:
    sesame(endpoint, "import", "aliases.toml")
    smaller = tmp_path / "smaller.toml"
    smaller.write_text('[aliases]\n"john@example.com" = ["new@gmail.example"]\n')
    result = sesame(endpoint, "import", str(smaller))
    assert "~ /sesame/aliases/example.com/john = new@gmail.example" in result.stdout
    assert "- /sesame/aliases/example.com/_" in result.stdout
    remaining = parse_aliases_toml(sesame(endpoint, "export").stdout)
    assert list(remaining.table.aliases) == ["john@example.com"]


def test_given_activation_state_under_the_path_then_import_leaves_it_alone(endpoint: str, ssm: object) -> None:
    ssm.put_parameter(Name="/sesame/state/activation", Value='{"activated": "sesame-rules"}', Type="String")  # type: ignore[attr-defined]

    result = sesame(endpoint, "import", "aliases.toml")

    assert result.returncode == 0, result.stderr
    assert "/sesame/state/" not in result.stdout and "0 to remove" in result.stdout
    kept = ssm.get_parameter(Name="/sesame/state/activation")["Parameter"]["Value"]  # type: ignore[attr-defined]
    assert kept == '{"activated": "sesame-rules"}'
    assert "john@example.com" in sesame(endpoint, "list").stdout


def test_set_and_rm_one_alias(endpoint: str, ssm: object) -> None:
    result = sesame(endpoint, "set", "First_Last+x@Example.com", "a@o.example", "--expires", "2027-01-31")
    assert result.returncode == 0, result.stderr
    names = [p["Name"] for p in ssm.get_parameters_by_path(Path="/sesame", Recursive=True)["Parameters"]]  # type: ignore[attr-defined]
    assert names == ["/sesame/aliases/example.com/first_5flast_2bx"]
    assert "(expires 2027-01-31)" in sesame(endpoint, "list").stdout
    assert sesame(endpoint, "rm", "first_last+x@example.com").returncode == 0
    missing = sesame(endpoint, "rm", "first_last+x@example.com")
    assert missing.returncode == 2 and "no alias first_last+x@example.com" in missing.stderr


def test_sender_lists_are_set_listed_imported_and_exported(endpoint: str, ssm: object, tmp_path: Path) -> None:
    result = sesame(endpoint, "set", "boss@example.com", "me@o.example", "--allow", "CEO@work.example", "--block", "@spam.example")
    assert result.returncode == 0, result.stderr
    listed = sesame(endpoint, "list").stdout
    assert "(blocks @spam.example)" in listed and "(only from ceo@work.example)" in listed
    source = tmp_path / "aliases.toml"
    source.write_text('[senders]\nblock = ["@junk.example"]\n[aliases]\n"a@example.com" = { to = ["x@o.example"], block = ["*.ads.example"] }\n')
    assert sesame(endpoint, "import", str(source)).returncode == 0
    assert "blocked for every alias: @junk.example" in sesame(endpoint, "list").stdout
    exported = tmp_path / "out.toml"
    assert sesame(endpoint, "export", "--output", str(exported)).returncode == 0
    assert load_aliases_file(exported).table == load_aliases_file(source).table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "a@example.com", "x@o.example", "--block", "nonsense"], "not an email address"),
        (["set", "not-an-address", "a@o.example"], "not an email address"),
        (["set", "a@example.com", "a@o.example", "--expires", "soon"], "use YYYY-MM-DD"),
        (["import", "missing.toml"], "missing.toml: No such file"),
        (["list", "--profile", "no-such-profile"], "could not be found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(endpoint: str, args: list[str], message: str) -> None:
    result = sesame(endpoint, *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_unreachable_endpoint_is_reported_not_a_traceback() -> None:
    result = sesame("http://127.0.0.1:9", "list")
    assert result.returncode == 2 and "cannot read /sesame from SSM" in result.stderr


def test_without_a_region_the_error_says_how_to_give_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_DEFAULT_REGION", "AWS_REGION")}
    env["AWS_CONFIG_FILE"] = str(tmp_path / "no-config")  # nothing to read a region from
    done = subprocess.run([SESAME, "aliases", "list"], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT,
                          stdin=subprocess.DEVNULL)

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "You must specify a region." in done.stderr
    assert "Pass --region, or set AWS_DEFAULT_REGION" in done.stderr
