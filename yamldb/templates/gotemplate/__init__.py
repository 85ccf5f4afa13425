"""Vault/OpenBao username templates: Go's text/template, in pure Python.

Vault and OpenBao build dynamic usernames with a Go `text/template` plus the
function set of `sdk/helper/template`. This package implements the subset of
that language username templates use, with Go's observable behaviour, so a
`username_template` that works on the host renders the same here::

    tpl = UsernameTemplate.parse('{{ printf "v-%s-%s" (.DisplayName | truncate 8) (random 20) }}')
    tpl.render("token", "readonly")          # 'v-token-Xa93...'

A template is parsed once into a tree of small node objects, which is compiled
once into nested closures; `render` only calls them, so it takes microseconds.

Supported:

* text, `{{ pipeline }}`, trim markers `{{- ` / ` -}}`, comments `{{/* */}}`;
* `.DisplayName`, `.RoleName`, `.` (prints Go-style `{display role}`);
* pipelines `a | f x` (a becomes f's last argument) and `( ... )` sub-pipelines;
* literals: "strings" with Go escapes, `raw` strings, integers (decimal, 0x,
  0o, 0b, leading-0 octal, `_` separators), 'c' characters, true/false;
* `if` / `else` / `else if` / `end`, `with` / `else with`;
* Go builtins and, or, not, eq, ne, lt, le, gt, ge, len, print, printf, println
  (`printf` follows Go's fmt: flags, width, precision, `*`, `[n]`, the verbs
  v s d q x X o O b c U t T %, and %!v(MISSING) / %!(EXTRA ...) / %!d(string=x));
* Vault functions random, truncate, truncate_sha256, uppercase, lowercase,
  replace, sha256, base64, unix_time, unix_time_millis, timestamp, uuid, and
  OpenBao's decode_base64, hex, decode_hex, glob.

Not supported (parse error): variables (`$x`), range, define, template, block,
break, continue, nil, float/complex constants, field chains other than the two
data fields, and Go's call, index, slice, html, js, urlquery.

Deliberate differences from Go:

* Function names, argument counts and literal argument types are checked at
  parse time (Go only checks the count when the call runs).
* Strings are Unicode. truncate, truncate_sha256, len and %x work on the UTF-8
  bytes like Go, but a cut inside a multi-byte character drops that partial
  character (decode with errors="ignore") instead of emitting invalid UTF-8,
  so the result can be up to 3 bytes shorter than Go's. Bytes that are not
  UTF-8 (from decode_base64, decode_hex or "\\xNN" escapes) become U+FFFD, as
  do lone surrogates in the inputs.
* `timestamp` formats the time in UTC (Go uses the host's local zone); a
  naive `now` is taken as UTC.
* uppercase/lowercase only apply one-to-one case mappings, like Go's
  (Python's "ß".upper() would give "SS").
* `random` refuses lengths above 65536 and negative lengths; a literal length
  is refused when the template is parsed.
* Bounded cost: one render computes at most MAX_RENDER_SIZE (1048576)
  characters, every function's result and the output counted, and refuses
  a result that would pass it before allocating it ("... too large ...").
  A printf format literal whose width or precision alone passes it is
  refused when the template is parsed.
* An empty template is rejected ("missing template"), as Vault does, and so is
  one of 100000 characters or more ("template too large").

Modules, in the order a template travels through them: `lexer` (tokens), `parser` (checks and
builds the tree), `nodes` (the tree, and its compilation to closures), `functions` (what a call
runs), `fmt` (Go's fmt verbs for printf/print), `timelayout` (Go's time layouts for timestamp),
`values` (the data object and per-render state), `template` (UsernameTemplate).
"""

from yamldb.templates.gotemplate.template import MAX_TEMPLATE_SIZE, UsernameTemplate
from yamldb.templates.gotemplate.values import MAX_RENDER_SIZE

__all__ = ["MAX_RENDER_SIZE", "MAX_TEMPLATE_SIZE", "UsernameTemplate"]
