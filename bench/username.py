"""``python -m bench.username``: CPU time of one username render, in-process, per template.

Renders each shipped dialect's username template, and Vault defaults that no dialect ships,
`--renders` times in a loop, `--runs` times, and prints the median and the fastest run's CPU
microseconds (`time.process_time`) per render, both for `UsernameTemplate.render` alone and for
`generate_username` (render plus the manifest's case, allowed_characters and length rules,
what NewUser calls). No database, no gRPC: this is the share of NewUser that the username costs.
On a machine busy with other work the median moves with the load; the fastest run less so.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

from yamldb.manifest.library import ManifestLibrary
from yamldb.manifest.model import UsernameRules
from yamldb.templates.gotemplate import UsernameTemplate
from yamldb.templates.username_rules import generate_username

DISPLAY_NAME = "oidc-alice@example.com"
ROLE_NAME = "readonly"
# Vault defaults with no shipped dialect of their own, and a multi-action template as people write them.
EXTRA: dict[str, str] = {
    "vault-mysql-legacy": '{{ printf "v-%s-%s" (.RoleName | truncate 4) (random 20) | truncate 16 }}',
    "vault-mongodb": (
        '{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 15) (.RoleName | truncate 15) '
        "(random 20) (unix_time) | truncate 100 }}"
    ),
    "actions-uuid": '{{ .RoleName | truncate 10 }}_{{ uuid | replace "-" "" | truncate 12 }}_{{ unix_time }}',
}


def templates() -> dict[str, tuple[UsernameRules, UsernameTemplate]]:
    """Every shipped dialect's username template with its rules, then the extras (no rules)."""
    library = ManifestLibrary(include_shipped=True)
    out: dict[str, tuple[UsernameRules, UsernameTemplate]] = {}
    for directory in library.dialect_directories:
        for path in sorted(directory.glob("*.yaml")):
            rules = library.load(path.stem).username
            out[path.stem] = (rules, UsernameTemplate.parse(rules.template))
    for name, source in EXTRA.items():
        out[name] = (UsernameRules(template=source), UsernameTemplate.parse(source))
    return out


def per_call_us(fn: Callable[[], object], renders: int, runs: int) -> tuple[float, float]:
    """Median and minimum over `runs` of the CPU µs one call of `fn` takes, `renders` calls a run."""
    fn()  # warm: first-use imports and caches are not what NewUser pays
    samples = []
    for _ in range(runs):
        start = time.process_time()
        for _ in range(renders):
            fn()
        samples.append((time.process_time() - start) / renders * 1e6)
    return statistics.median(samples), min(samples)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.username", description=__doc__.split("\n\n")[0])
    p.add_argument("--renders", type=int, default=20_000, help="renders per run")
    p.add_argument("--runs", type=int, default=5, help="runs per template; the median is printed")
    p.add_argument("--only", default="", help="comma-separated template names (default: all)")
    args = p.parse_args(argv)
    table = templates()
    if args.only:
        table = {k: v for k, v in table.items() if k in args.only.split(",")}
    print(f"CPU µs per call, median (min) of {args.runs} runs of {args.renders}")
    print(f"{'template':<20} {'render':>16} {'generate_username':>18}")
    rows = []
    for name, (rules, tpl) in table.items():
        r = per_call_us(lambda tpl=tpl: tpl.render(DISPLAY_NAME, ROLE_NAME), args.renders, args.runs)
        g = per_call_us(
            lambda rules=rules, tpl=tpl: generate_username(rules, tpl, DISPLAY_NAME, ROLE_NAME), args.renders, args.runs
        )
        rows.append((*r, *g))
        print(f"{name:<20} {r[0]:>8.2f} ({r[1]:>5.2f}) {g[0]:>10.2f} ({g[1]:>5.2f})", flush=True)
    if rows:
        m = [statistics.median(col) for col in zip(*rows, strict=True)]
        print(f"{'median of templates':<20} {m[0]:>8.2f} ({m[1]:>5.2f}) {m[2]:>10.2f} ({m[3]:>5.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
