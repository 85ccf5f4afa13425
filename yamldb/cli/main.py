"""The `yamldb` command. Exit codes: 0 ok, 1 findings or a failed operation, 2 usage error."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import yamldb

__all__ = ["main", "parser"]


def _cmd_plugin_build(args: argparse.Namespace) -> int:
    from yamldb.cli.build import DEFAULT_EXTRAS, BuildError, build

    if args.python and args.format != "zipapp":
        print(
            "yamldb plugin build: --python sets the zipapp's interpreter; the self-contained file carries its "
            "own (add --format zipapp, or drop --python)",
            file=sys.stderr,
        )
        return 2
    try:
        result = build(Path(args.output), tuple(args.extra or DEFAULT_EXTRAS), args.python, args.format)
    except BuildError as exc:
        print(f"yamldb plugin build: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {result.path} ({result.format}, {result.size / 1e6:.1f} MB, "
        f"{len(result.distributions)} bundled distributions)"
    )
    print(f"sha256: {result.sha256}")
    print(f"runs on: {result.runs_on}")
    print()
    print("Register it (the file must stay in the server's plugin_directory):")
    print(f"  {result.register_command('bao')}")
    print(f"  {result.register_command('vault')}")
    print()
    print("Or declare it in OpenBao's server configuration:")
    print("  " + result.declarative_block().replace("\n", "\n  "))
    return 0


def _cmd_dialects(args: argparse.Namespace) -> int:
    from yamldb.manifest.library import ManifestLibrary

    library = ManifestLibrary()
    rows = []
    for path in sorted(library.dialect_directories[0].glob("*.yaml")):
        manifest = library.load(path.stem)
        d = manifest.dialect
        caps = [k for k, v in vars(d.capabilities).items() if v]
        ops = [
            op
            for op in ("create", "renew", "rotate", "rotate_root", "revoke", "rollback")
            if manifest.statements.get(op)
        ]
        rows.append(
            {
                "name": d.name,
                "driver": d.driver,
                "extra": d.extra,
                "capabilities": caps,
                "operations": ops,
                "credential_types": list(manifest.credential_types),
                "unsupported": dict(d.unsupported),
            }
        )
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(
                f"{r['name']:<12} {r['driver']:<28} yamldb-plugin[{r['extra']}]  ops: {','.join(r['operations'])}"
                f"  caps: {','.join(r['capabilities']) or '-'}"
            )
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from yamldb.resources import manifest_schema

    print(json.dumps(manifest_schema(), indent=2))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from yamldb.cli.validate import run_validate

    return run_validate(args.paths, args.format)


def _cmd_render(args: argparse.Namespace) -> int:
    from yamldb.cli.render import run_render

    params = _parse_sets("render", args.set)
    if params is None:
        return 2
    return run_render(args.manifest, args.operation, args.role, params, args.display_name, args.show_secrets)


def _parse_sets(command: str, items: list[str] | None) -> dict[str, str] | None:
    """--set NAME=VALUE options as a dict; None (after saying why) when one is malformed."""
    params = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"yamldb {command}: --set takes NAME=VALUE, got {item!r}", file=sys.stderr)
            return None
        params[key] = value
    return params


def _admin_password(command: str, args: argparse.Namespace) -> str | None:
    """--password or the variable --password-env names; None (after saying why) when that is unset."""
    if args.password_env:
        if args.password_env not in os.environ:
            # An unset variable (a typo, a secret missing in CI) must not become an empty password.
            print(
                f"yamldb {command}: --password-env {args.password_env}: the environment variable is not set",
                file=sys.stderr,
            )
            return None
        return os.environ[args.password_env]
    return args.password or ""


def _cmd_check(args: argparse.Namespace) -> int:
    from yamldb.cli.check import run_check

    params = _parse_sets("check", args.set)
    if params is None:
        return 2
    password = _admin_password("check", args)
    if password is None:
        return 2
    return run_check(args.manifest, args.connection_url, args.username or "", password, args.role, params)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from yamldb.cli.sweep import SweepOptions, run_sweep

    params = _parse_sets("sweep", args.set)
    password = _admin_password("sweep", args)
    if params is None or password is None:
        return 2
    env = os.environ
    if args.vault_token_env and args.vault_token_env not in env:
        print(
            f"yamldb sweep: --vault-token-env {args.vault_token_env}: the environment variable is not set",
            file=sys.stderr,
        )
        return 2
    token = env[args.vault_token_env] if args.vault_token_env else env.get("BAO_TOKEN") or env.get("VAULT_TOKEN", "")
    return run_sweep(
        SweepOptions(
            manifest=args.manifest,
            connection_url=args.connection_url,
            username=args.username or "",
            password=password,
            role=args.role,
            params=params,
            username_template=args.username_template,
            grace=args.grace,
            max_ttl=args.max_ttl,
            vault_addr=args.vault_addr or env.get("BAO_ADDR") or env.get("VAULT_ADDR", ""),
            vault_token=token,
            vault_mount=args.vault_mount,
            vault_connection=args.vault_connection,
            apply=args.apply,
            format=args.format,
        )
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="yamldb", description=__doc__)
    p.add_argument("--version", action="version", version=f"yamldb {yamldb.__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    plugin = sub.add_parser("plugin", help="build the plugin executable").add_subparsers(
        dest="plugin_cmd", required=True
    )
    b = plugin.add_parser("build", help="write DIR/yamldb-database-plugin and print its sha256")
    b.add_argument("--output", "-o", required=True, help="the Vault/OpenBao plugin directory (or a staging dir)")
    b.add_argument("--extra", action="append", help="driver extras to bundle (default: postgresql, mysql)")
    b.add_argument(
        "--format",
        choices=("self-contained", "zipapp"),
        default="self-contained",
        help="self-contained (default): interpreter and native libraries inside, no Python needed "
        "on the server; zipapp: smaller to build, needs pythonX.Y on the server",
    )
    b.add_argument("--python", help="zipapp only: interpreter for the shebang (default: /usr/bin/env pythonX.Y)")
    b.set_defaults(func=_cmd_plugin_build)

    d = sub.add_parser("dialects", help="list shipped dialects and their capabilities")
    d.add_argument("--format", choices=("text", "json"), default="text")
    d.set_defaults(func=_cmd_dialects)

    s = sub.add_parser("schema", help="print the manifest JSON Schema")
    s.set_defaults(func=_cmd_schema)

    v = sub.add_parser("validate", help="validate manifest files or directories")
    v.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="a manifest file, a directory (every *.yaml/*.yml below it), or - for standard input",
    )
    v.add_argument("--format", choices=("text", "json", "github"), default="text")
    v.set_defaults(func=_cmd_validate)

    r = sub.add_parser("render", help="print the SQL an operation runs, for sample values")
    r.add_argument("manifest", help="a manifest name (see yamldb dialects) or a file")
    # No short form: -o is --output in `plugin build`, and one letter must not mean two things.
    r.add_argument(
        "--operation", required=True, choices=("create", "renew", "rotate", "rotate_root", "revoke", "rollback")
    )
    r.add_argument("--role", help="role name; also selects the statement set of that name, if any")
    r.add_argument("--set", action="append", metavar="NAME=VALUE", help="a manifest parameter")
    r.add_argument("--display-name", default="token", help="Vault display name for the sample username")
    r.add_argument("--show-secrets", action="store_true", help="print sample secrets instead of masking them")
    r.set_defaults(func=_cmd_render)

    c = sub.add_parser("check", help="run the whole lifecycle against a live database (for CI)")
    _connection_options(c)
    c.set_defaults(func=_cmd_check)

    w = sub.add_parser(
        "sweep",
        help="list (--apply: drop) users whose lease must have ended",
        description="Users the connection's username template could have produced and whose lease "
        "must have ended. Dry run unless --apply. Exit 0: nothing to remove (or all "
        "removed), 1: users to remove found (or a drop failed), 2: usage.",
    )
    _connection_options(w)
    w.add_argument("--username-template", help="the connection's username_template, if it overrides the manifest's")
    w.add_argument("--grace", metavar="DURATION", help="how long after its end a lease counts as ended (default 1h)")
    w.add_argument(
        "--max-ttl",
        metavar="DURATION",
        help="the largest max TTL of the roles on this connection (needed where the database keeps no "
        "expiry: MySQL, MariaDB)",
    )
    w.add_argument(
        "--vault-connection",
        metavar="NAME",
        help="read the max TTL (and username_template) of database/config/NAME from OpenBao/Vault",
    )
    w.add_argument("--vault-mount", default="database", help="the database secrets engine's mount (default database)")
    w.add_argument("--vault-addr", help="OpenBao/Vault address (default $BAO_ADDR, else $VAULT_ADDR)")
    w.add_argument(
        "--vault-token-env",
        metavar="VAR",
        help="read the token from this variable (default $BAO_TOKEN, else $VAULT_TOKEN)",
    )
    w.add_argument("--apply", action="store_true", help="drop the expired users with the revoke statements")
    w.add_argument("--format", choices=("text", "json"), default="text")
    w.set_defaults(func=_cmd_sweep)
    return p


def _connection_options(c: argparse.ArgumentParser) -> None:
    """The live-database options `check` and `sweep` share."""
    c.add_argument("manifest", help="a manifest name or a file")
    c.add_argument(
        "--connection-url",
        required=True,
        help="as in the Vault config; {{username}}/{{password}} are filled from the options below",
    )
    c.add_argument("--username", help="admin user")
    secret = c.add_mutually_exclusive_group()
    secret.add_argument("--password", help="admin password (prefer --password-env in CI)")
    secret.add_argument(
        "--password-env", metavar="VAR", help="read the admin password from this environment variable (it must be set)"
    )
    c.add_argument("--role", help="use the manifest's statement set of this name, as a role would")
    c.add_argument("--set", action="append", metavar="NAME=VALUE", help="a manifest parameter")


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)  # argparse exits 2 on usage errors
    try:
        code = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:  # `yamldb render ... | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)
