"""Entry of the plugin executable; sets the environment before grpc is imported.

Arguments come from the operator's registration (`-args=...`), never from the
connection config: `--manifest-dir DIR` (repeatable) adds a manifest directory;
`--no-inline-manifests` refuses manifests sent inline in a connection config;
`--max-manifest-bytes N` and `--max-manifest-nodes N` bound what one manifest may cost.
`--version` and `--help` are for the operator at a shell; they exit at once.
"""

import os
import sys

__all__ = ["USAGE", "main"]

USAGE = """\
usage: yamldb-database-plugin [--manifest-dir DIR]... [--no-inline-manifests]
                              [--max-manifest-bytes N] [--max-manifest-nodes N] | --version | --help

A Vault/OpenBao database plugin: the server starts it; register it with
  bao plugin register -sha256=SHA256 -version=vX.Y.Z -command=yamldb-database-plugin database yamldb
and give these options at registration with -args:
  --manifest-dir DIR       also load manifests from DIR (repeatable; YAMLDB_MANIFEST_DIRS also works)
  --no-inline-manifests    refuse manifests sent inline in a connection config
  --max-manifest-bytes N   refuse a manifest larger than N bytes
  --max-manifest-nodes N   refuse a manifest with more than N YAML nodes
  --version                print the version and exit
"""

# Registration arguments that only set an environment variable the manifest layer reads.
_LIMIT_ARGS = {"--max-manifest-bytes": "YAMLDB_MAX_MANIFEST_BYTES", "--max-manifest-nodes": "YAMLDB_MAX_MANIFEST_NODES"}


def _apply_args(argv: list[str]) -> None:
    dirs = [d for d in os.environ.get("YAMLDB_MANIFEST_DIRS", "").split(os.pathsep) if d]
    it = iter(argv)
    for arg in it:
        name, has_value, value = arg.partition("=")
        if name == "--manifest-dir":
            dirs.append(value if has_value else next(it, ""))
        elif arg == "--no-inline-manifests":
            os.environ["YAMLDB_INLINE_MANIFESTS"] = "false"
        elif name in _LIMIT_ARGS:
            os.environ[_LIMIT_ARGS[name]] = value if has_value else next(it, "")
        elif arg == "--version":
            from yamldb import __version__

            print(f"yamldb {__version__}")
            raise SystemExit(0)
        elif arg in ("--help", "-h"):
            print(USAGE, end="")
            raise SystemExit(0)
        else:
            sys.stderr.write(
                f"yamldb-database-plugin: unknown argument {arg!r} (known: --manifest-dir DIR, "
                "--no-inline-manifests, --max-manifest-bytes N, --max-manifest-nodes N, "
                "--version, --help)\n"
            )
            raise SystemExit(1)
    _check_limits()
    for directory in dirs:
        if not os.path.isdir(directory):
            # Fail the launch loudly: a typo here would otherwise hide the operator's manifests.
            sys.stderr.write(
                f"yamldb-database-plugin: manifest directory {directory!r} does not exist "
                "(give one -args=--manifest-dir=DIR per directory)\n"
            )
            raise SystemExit(1)
    if dirs:
        os.environ["YAMLDB_MANIFEST_DIRS"] = os.pathsep.join(dirs)


def _check_limits() -> None:
    # A typo in a limit fails the launch loudly, like a missing manifest directory.
    from yamldb.errors import ConfigError
    from yamldb.manifest.limits import ManifestLimits

    try:
        ManifestLimits.from_environment()
    except ConfigError as exc:
        sys.stderr.write(f"yamldb-database-plugin: {exc} (from -args=--max-manifest-bytes/--max-manifest-nodes)\n")
        raise SystemExit(1) from None


def main() -> None:
    _apply_args(sys.argv[1:])
    # grpc's C core reads these at import time and writes unstructured lines to fd 2.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
    # Fork the certificate's generation off before grpc (and its threads) exist; see PendingIdentity.
    from yamldb.transport.tls import PendingIdentity

    identity = PendingIdentity() if "BEGIN CERTIFICATE" in os.environ.get("PLUGIN_CLIENT_CERT", "") else None
    from yamldb.transport.server import main as serve_main

    serve_main(identity)


if __name__ == "__main__":
    main()
