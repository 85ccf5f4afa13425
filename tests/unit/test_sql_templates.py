"""StatementTemplate: lexing, splitting, escaping and the never-break-out contract.

The property tests re-lex rendered SQL with a small reference tokenizer written
independently below (not the module's lexer) and check that every value comes
back exactly, in the token kind the template put it in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.quoting_rules import MYSQL_RULES as MYSQL
from tests.quoting_rules import PG_RULES as PG
from tests.quoting_rules import SQLITE_RULES as SQLITE
from yamldb.errors import TemplateError
from yamldb.manifest.quoting import QuotingRules
from yamldb.templates.scram import scram_sha256_verifier
from yamldb.templates.sql import FILTERS, Placeholder, StatementTemplate, _closes_at_end

MSSQL = QuotingRules(
    identifier_quotes=('"', "["), string_quotes=("'",), preferred_identifier_quote='"', max_identifier_length=128
)

HOSTILE = [
    "'",
    '"',
    "`",
    "]",
    "[",
    "\\",
    "\\'",
    "'\\",
    "$$",
    "$",
    ";",
    "--",
    "/*",
    "*/",
    "#",
    "\n",
    "\r\n",
    "'; DROP TABLE users; --",
    '"; DROP ROLE postgres; --',
    "`; DROP DATABASE mysql; #",
    "]; DROP LOGIN sa; --",
    "$$; DROP ROLE x; $$",
    "$yamldb_1$",
    "$fn$",
    "{{name}}",
    "E'",
    "U&'",
    "é",
    "名前",
    "🔑",
    "\u2028",
    "\\0",
    "%s",
    ":name",
    "?",
]


def render(text: str, rules: QuotingRules, **values: str) -> list[str]:
    return StatementTemplate.parse(text, rules).render(values)


def parse_error(text: str, rules: QuotingRules = PG) -> TemplateError:
    with pytest.raises(TemplateError) as info:
        StatementTemplate.parse(text, rules)
    return info.value


# --- Vault's documented role statements -------------------------------------------------


def test_vault_postgresql_creation_statements() -> None:
    tpl = StatementTemplate.parse(
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; "
        'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";',
        PG,
    )
    assert [(p.name, p.context) for p in tpl.placeholders] == [
        ("name", "identifier"),
        ("password", "string"),
        ("expiration", "string"),
        ("name", "identifier"),
    ]
    assert tpl.statement_count == 2
    assert tpl.render({"name": "v-token-ro-x1", "password": "A1a-pw", "expiration": "2030-01-01 00:00:00+0000"}) == [
        "CREATE ROLE \"v-token-ro-x1\" WITH LOGIN PASSWORD 'A1a-pw' VALID UNTIL '2030-01-01 00:00:00+0000'",
        'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "v-token-ro-x1"',
    ]


def test_vault_mysql_creation_statements() -> None:
    tpl = StatementTemplate.parse(
        "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';GRANT SELECT ON *.* TO '{{name}}'@'%';", MYSQL
    )
    assert [p.context for p in tpl.placeholders] == ["string", "string", "string"]
    assert tpl.render({"name": "v-root-x", "password": "pw"}) == [
        "CREATE USER 'v-root-x'@'%' IDENTIFIED BY 'pw'",
        "GRANT SELECT ON *.* TO 'v-root-x'@'%'",
    ]


def test_vault_postgresql_revocation_do_block() -> None:
    text = """
        REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM "{{name}}";
        DO $$
        BEGIN
          IF EXISTS (SELECT * FROM pg_catalog.pg_roles WHERE rolname = '{{name}}') THEN
            EXECUTE format('DROP ROLE %I', '{{name}}');
          END IF;
        END
        $$;
        DROP ROLE IF EXISTS "{{name}}";
    """
    tpl = StatementTemplate.parse(text, PG)
    assert [p.context for p in tpl.placeholders] == ["identifier", "string", "string", "identifier"]
    out = tpl.render({"name": "bob"})
    assert len(out) == 3
    assert out[1].startswith("DO $$\n") and out[1].endswith("END\n        $$")
    assert "rolname = 'bob'" in out[1]


def test_mysql_procedure_is_one_statement() -> None:
    text = """
        CREATE PROCEDURE make_user(IN n INT)
        BEGIN
          DECLARE i INT DEFAULT 0;
          IF n > 0 THEN
            SET i = 1;
          ELSEIF n < 0 THEN SET i = 2;
          END IF;
          WHILE i < 3 DO SET i = i + 1; END WHILE;
          CASE i WHEN 3 THEN SELECT 'three;'; ELSE SELECT 'other'; END CASE;
          lbl: LOOP LEAVE lbl; END LOOP lbl;
          REPEAT SET i = i + 1; UNTIL i > 5 END REPEAT;
          SELECT CASE WHEN i > 0 THEN 'a' ELSE 'b' END;
          CREATE USER '{{name}}'@'%';
        END;
        GRANT SELECT ON db.* TO '{{name}}'@'%';
    """
    out = render(text, MYSQL, name="o'neil")
    assert len(out) == 2
    assert out[0].startswith("CREATE PROCEDURE") and out[0].endswith("END")
    assert "CREATE USER 'o''neil'@'%';" in out[0]
    assert out[1] == "GRANT SELECT ON db.* TO 'o''neil'@'%'"


def test_sqlite_trigger_block() -> None:
    text = "CREATE TRIGGER t AFTER INSERT ON a BEGIN INSERT INTO b VALUES ('{{x}}'); DELETE FROM c; END; SELECT 1"
    assert render(text, SQLITE, x="v") == [
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN INSERT INTO b VALUES ('v'); DELETE FROM c; END",
        "SELECT 1",
    ]


def test_sqlserver_try_catch_and_transactions() -> None:
    text = (
        "BEGIN TRANSACTION; BEGIN TRY CREATE LOGIN [{{name}}] WITH PASSWORD = '{{password}}'; END TRY "
        "BEGIN CATCH SELECT 1; END CATCH; COMMIT TRANSACTION;"
    )
    assert render(text, MSSQL, name="a]b", password="p'w") == [
        "BEGIN TRANSACTION",
        "BEGIN TRY CREATE LOGIN [a]]b] WITH PASSWORD = 'p''w'; END TRY BEGIN CATCH SELECT 1; END CATCH",
        "COMMIT TRANSACTION",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "BEGIN; SELECT 1; COMMIT;",
        "BEGIN WORK; SELECT 1; COMMIT;",
        "begin transaction; SELECT 1; END;",
        "BEGIN ISOLATION LEVEL SERIALIZABLE; SELECT 1; END TRANSACTION;",
        "BEGIN /* c */ ; SELECT 1; COMMIT",
    ],
)
def test_transaction_begin_is_not_a_block(text: str) -> None:
    assert len(render(text, PG)) == 3


def test_begin_not_atomic_and_begin_not_deferrable() -> None:
    assert len(render("BEGIN NOT ATOMIC SELECT 1; SELECT 2; END; SELECT 3", MYSQL)) == 2
    assert len(render("BEGIN NOT DEFERRABLE; SELECT 1; COMMIT", PG)) == 3


def test_stray_end_does_not_go_negative() -> None:
    assert render("END; END; SELECT 1; SELECT 2", PG) == ["END", "END", "SELECT 1", "SELECT 2"]


def test_keywords_are_whole_words_and_ignored_in_quotes() -> None:
    assert len(render("SELECT 'BEGIN' AS begin_x, \"CASE\"; SELECT backend; SELECT 1 -- BEGIN\n", PG)) == 3


def test_begin_atomic_function_body() -> None:
    text = "CREATE FUNCTION f() RETURNS int LANGUAGE SQL BEGIN ATOMIC SELECT 1; SELECT 2; END; SELECT 3"
    assert len(render(text, PG)) == 2


# --- splitting ---------------------------------------------------------------------------


def test_semicolons_in_quotes_and_comments_do_not_split() -> None:
    text = """SELECT ';', "a;b", E'\\';', $$;$$, $t$ ; $t$ -- x; y
    /* ; */ ; SELECT 2"""
    out = render(text, PG)
    assert len(out) == 2
    assert out[0].endswith("/* ; */")


def test_mysql_semicolons_in_quotes_and_comments() -> None:
    out = render("SELECT 'a\\';', \"b;\", `c;` # ;\n; SELECT 2 -- ;\n", MYSQL)
    assert out == ["SELECT 'a\\';', \"b;\", `c;` # ;", "SELECT 2 -- ;"]


def test_empty_comment_only_and_whitespace_statements_are_dropped() -> None:
    assert render("", PG) == []
    assert render(" ;; \n ; ", PG) == []
    assert render("-- only a comment\n; /* another */ ;", PG) == []
    assert render("SELECT 1;;\n\n  ;SELECT 2;  -- trailing", PG) == ["SELECT 1", "SELECT 2"]


def test_only_ascii_whitespace_is_stripped() -> None:
    # U+00A0 is an identifier character to PostgreSQL: stripping it would turn \u00a0$$ into a dollar quote.
    assert render("\u00a0$$ , '{{v}}'; \u00a0", PG, v="x") == ["\u00a0$$ , 'x'", "\u00a0"]


def test_comments_inside_statements_are_kept() -> None:
    assert render("-- lead\nSELECT /* mid */ 1 -- tail\n;", PG) == ["-- lead\nSELECT /* mid */ 1 -- tail"]


def test_values_cannot_add_statements() -> None:
    tpl = StatementTemplate.parse("CREATE ROLE \"{{n}}\" PASSWORD '{{p}}'; SELECT {{n}}", PG)
    out = tpl.render({"n": 'x"; DROP ROLE postgres; --', "p": "'; DROP ROLE postgres; --"})
    assert out == [
        "CREATE ROLE \"x\"\"; DROP ROLE postgres; --\" PASSWORD '''; DROP ROLE postgres; --'",
        'SELECT "x""; DROP ROLE postgres; --"',
    ]


# --- contexts and escaping ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "text", "value", "expected", "context"),
    [
        (PG, "'{{v}}'", "a'b\\c", "'a''b\\c'", "string"),
        (PG, "E'{{v}}'", "a'b\\c", "E'a''b\\\\c'", "string"),
        (PG, "e'{{v}}'", "\\'", "e'\\\\'''", "string"),
        (PG, '"{{v}}"', 'a"b', '"a""b"', "identifier"),
        (PG, "{{v}}", 'a"b', '"a""b"', "bare"),
        (PG, "{{v | ident}}", 'a"b', '"a""b"', "bare"),
        (PG, "{{v | literal}}", "a'b\\", "'a''b\\'", "bare"),
        (MYSQL, "'{{v}}'", "a'b\\c\"", "'a''b\\\\c\"'", "string"),
        (MYSQL, '"{{v}}"', "a'b\\c\"", '"a\'b\\\\c"""', "string"),
        (MYSQL, "`{{v}}`", "a`b\\", "`a``b\\`", "identifier"),
        (MYSQL, "{{v}}", "a`b", "`a``b`", "bare"),
        (MYSQL, "{{v | literal}}", "a'b\\", "'a''b\\\\'", "bare"),
        (SQLITE, "[{{v}}]", "a]b[", "[a]]b[]", "identifier"),
        (SQLITE, "`{{v}}`", "a`b", "`a``b`", "identifier"),
        (SQLITE, '"{{v}}"', 'a"b', '"a""b"', "identifier"),
        (SQLITE, "'{{v}}'", "a'b\\", "'a''b\\'", "string"),
        (MSSQL, "[{{v}}]", "a]]b", "[a]]]]b]", "identifier"),
        (MSSQL, "N'{{v}}'", "a'b", "N'a''b'", "string"),
        (MSSQL, "{{v}}", 'a]b"', '"a]b"""', "bare"),
    ],
)
def test_context_escaping(rules: QuotingRules, text: str, value: str, expected: str, context: str) -> None:
    tpl = StatementTemplate.parse(text, rules)
    assert tpl.placeholders[0].context == context
    assert tpl.render({"v": value}) == [expected]


def test_bare_uses_preferred_identifier_quote() -> None:
    rules = QuotingRules(identifier_quotes=('"', "["), preferred_identifier_quote="[")
    assert render("DROP USER {{v}}", rules, v="a]b") == ["DROP USER [a]]b]"]


def test_inconsistent_dialect_rules_are_refused_for_bare_values() -> None:
    # A "preferred" identifier quote that the server reads as a string quote (MySQL's ")
    # would be escaped for the wrong token.
    rules = QuotingRules(
        identifier_quotes=("`",), string_quotes=("'", '"'), backslash_escapes=True, preferred_identifier_quote='"'
    )
    assert "preferred_identifier_quote" in parse_error("DROP USER {{v}}", rules).message
    assert render("DROP USER '{{v}}'", rules, v="x") == ["DROP USER 'x'"]
    no_single = QuotingRules(identifier_quotes=('"',), string_quotes=('"',))
    assert "no '...' string" in parse_error("SELECT {{v | literal}}", no_single).message


def test_placeholder_metadata() -> None:
    text = "SELECT {{ a }}, '{{b|upper | lower}}', \"{{c}}\""
    tpl = StatementTemplate.parse(text, PG)
    assert tpl.placeholders == (
        Placeholder("a", (), 7, "bare"),
        Placeholder("b", ("upper", "lower"), 17, "string"),
        Placeholder("c", (), 40, "identifier"),
    )
    assert [text[p.position : p.position + 2] for p in tpl.placeholders] == ["{{"] * 3
    assert tpl.text.startswith("SELECT")


def test_whitespace_inside_braces_is_optional() -> None:
    for text in ("'{{x}}'", "'{{ x }}'", "'{{x|upper}}'", "'{{  x  |  upper  }}'", "'{{\nx\n}}'"):
        assert StatementTemplate.parse(text, PG).placeholders[0].name == "x"


def test_dollar_body_contexts() -> None:
    tpl = StatementTemplate.parse("DO $$ BEGIN CREATE ROLE \"{{a}}\"; PERFORM '{{b}}', {{c}}, E'{{d}}'; END $$", PG)
    assert [p.context for p in tpl.placeholders] == ["identifier", "string", "dollar", "string"]
    assert tpl.render({"a": 'x"', "b": "y'", "c": "z", "d": "\\"}) == [
        "DO $$ BEGIN CREATE ROLE \"x\"\"\"; PERFORM 'y''', \"z\", E'\\\\'; END $$"
    ]


def test_dollar_string_is_retagged_when_value_contains_tag() -> None:
    tpl = StatementTemplate.parse('DO $$ BEGIN CREATE ROLE "{{name}}"; END $$; SELECT 1', PG)
    assert tpl.render({"name": "a$$b"}) == ['DO $yamldb_1$ BEGIN CREATE ROLE "a$$b"; END $yamldb_1$', "SELECT 1"]
    assert tpl.render({"name": "$yamldb_1$$$"}) == [
        'DO $yamldb_2$ BEGIN CREATE ROLE "$yamldb_1$$$"; END $yamldb_2$',
        "SELECT 1",
    ]
    # No tag in the value: the template's own tag stays.
    assert tpl.render({"name": "a$b"}) == ['DO $$ BEGIN CREATE ROLE "a$b"; END $$', "SELECT 1"]


def test_named_dollar_tag_is_retagged() -> None:
    out = render("CREATE FUNCTION f() RETURNS text AS $fn$ SELECT '{{v}}'::text $fn$ LANGUAGE sql", PG, v="$fn$")
    assert out == ["CREATE FUNCTION f() RETURNS text AS $yamldb_1$ SELECT '$fn$'::text $yamldb_1$ LANGUAGE sql"]


def test_nested_dollar_strings() -> None:
    text = 'DO $outer$ BEGIN EXECUTE $$ CREATE ROLE "{{v}}" $$; END $outer$'
    assert render(text, PG, v="x") == [text.replace("{{v}}", "x")]
    assert render(text, PG, v="$$") == ['DO $outer$ BEGIN EXECUTE $yamldb_1$ CREATE ROLE "$$" $yamldb_1$; END $outer$']
    assert render(text, PG, v="$outer$") == ['DO $yamldb_1$ BEGIN EXECUTE $$ CREATE ROLE "$outer$" $$; END $yamldb_1$']
    out = render(text, PG, v="$$$outer$$yamldb_1$")
    assert out == [
        # inner: $$ and $yamldb_1$ occur, so $yamldb_2$; outer: its body now holds both.
        'DO $yamldb_3$ BEGIN EXECUTE $yamldb_2$ CREATE ROLE "$$$outer$$yamldb_1$" $yamldb_2$; END $yamldb_3$'
    ]
    assert reference_statements(out[0], PG)[0][1] == (
        "dollar",
        [
            ("code", " BEGIN EXECUTE "),
            ("dollar", [("code", " CREATE ROLE "), ("identifier", "$$$outer$$yamldb_1$"), ("code", " ")]),
            ("code", "; END "),
        ],
    )


def test_closes_at_end() -> None:
    assert _closes_at_end("abc", "$$")
    assert not _closes_at_end("a$$c", "$$")
    assert not _closes_at_end("abc$", "$$")  # "abc$" + "$$" closes one character early
    assert not _closes_at_end("x$yamldb_1", "$yamldb_1$")


def test_dollar_signs_that_are_not_dollar_quotes() -> None:
    # $1 parameters and identifiers containing '$' do not open a dollar string.
    assert render("SELECT $1, a$$b, c$d$ FROM t WHERE x = '{{v}}'", PG, v="'") == [
        "SELECT $1, a$$b, c$d$ FROM t WHERE x = ''''"
    ]
    assert render("SELECT $$a$$$$b$$, '{{v}}'", PG, v="x") == ["SELECT $$a$$$$b$$, 'x'"]


def test_dollar_in_mysql_is_an_identifier_character() -> None:
    assert render("SELECT $$ FROM t WHERE a = '{{v}}'", MYSQL, v="x") == ["SELECT $$ FROM t WHERE a = 'x'"]


def test_mysql_dash_dash_needs_whitespace() -> None:
    # In MySQL 1--1 is arithmetic, so the quote after it is real.
    tpl = StatementTemplate.parse("SELECT 1--1, '{{v}}'", MYSQL)
    assert tpl.placeholders[0].context == "string"
    assert tpl.render({"v": "'"}) == ["SELECT 1--1, ''''"]
    # PostgreSQL: always a comment.
    assert "comment" in parse_error("SELECT 1--1, '{{v}}'", PG).message
    assert render("SELECT 1 --\tx\n;", MYSQL) == ["SELECT 1 --\tx"]


def test_postgresql_e_string_continuation_keeps_backslash_escapes() -> None:
    # E'a'<newline>'b' is one E-string: the second segment also treats backslash as an escape.
    tpl = StatementTemplate.parse("SELECT E'a'\n  -- c\n '{{v}}', '{{v}}'", PG)
    assert [p.context for p in tpl.placeholders] == ["string", "string"]
    assert tpl.render({"v": "\\'"}) == ["SELECT E'a'\n  -- c\n '\\\\''', '\\'''"]
    assert "comment" in parse_error("SELECT E'a' -- {{v}}\n 'b'").message
    assert "not supported" in parse_error("SELECT U&'a'\n'{{v}}'").message
    # A literal-filter value there would be read as an E-string segment: refused.
    assert "right after" in parse_error("SELECT E'a'\n {{v | literal}}").message
    assert "right after" in parse_error("SELECT E'a' -- c\n{{v}}").message
    assert "right after" in parse_error("SELECT U&'a'\n{{v | literal}}").message


def test_mysql_dash_dash_before_non_ascii_space_is_not_a_comment() -> None:
    # MySQL checks for an ASCII space or control character; U+00A0 is neither.
    tpl = StatementTemplate.parse("SELECT 1--\u00a0'{{v}}'", MYSQL)
    assert tpl.placeholders[0].context == "string"


def test_hash_comment_only_for_mysql() -> None:
    assert "comment" in parse_error("SELECT 1 # '{{v}}'", MYSQL).message
    assert render("SELECT 2 # 3, '{{v}}'", PG, v="x") == ["SELECT 2 # 3, 'x'"]
    assert render("SELECT #t FROM x WHERE a = '{{v}}'", MSSQL, v="x") == ["SELECT #t FROM x WHERE a = 'x'"]


def test_backslash_only_escapes_where_the_dialect_says() -> None:
    # PostgreSQL standard strings: backslash is an ordinary character, so 'a\' ends the string.
    tpl = StatementTemplate.parse("SELECT 'a\\', '{{v}}'", PG)
    assert tpl.placeholders[0].context == "string"
    tpl = StatementTemplate.parse("SELECT 'a\\', {{v}}, ''", PG)
    assert tpl.placeholders[0].context == "bare"
    # MySQL: in 'a\', {{v}}, ' the backslash escapes the quote, so it is all one string.
    tpl = StatementTemplate.parse("SELECT 'a\\', {{v}}, '", MYSQL)
    assert tpl.placeholders[0].context == "string"
    assert tpl.render({"v": "\\'"}) == ["SELECT 'a\\', \\\\'', '"]


# --- filters -------------------------------------------------------------------------------


def test_filter_names() -> None:
    assert {"ident", "literal", "upper", "lower", "scram_sha256"} == FILTERS


def test_case_filters_then_escaping() -> None:
    assert render("SELECT '{{v | upper}}', \"{{v|lower}}\", {{v | upper | ident}}", PG, v="Ab'\"ß") == [
        'SELECT \'AB\'\'"SS\', "ab\'""ß", "AB\'""SS"'
    ]


def test_literal_filter() -> None:
    assert render("SELECT {{v | literal}}", PG, v="it's \\") == ["SELECT 'it''s \\'"]
    assert render("SELECT {{v | literal}}", MYSQL, v="it's \\") == ["SELECT 'it''s \\\\'"]
    assert render("SELECT {{v | lower | literal}}", MSSQL, v="A'B") == ["SELECT 'a''b'"]


def test_scram_filter_in_string_and_with_literal() -> None:
    for text in (
        "ALTER ROLE r PASSWORD '{{p | scram_sha256}}'",
        "ALTER ROLE r PASSWORD {{p | scram_sha256 | literal}}",
    ):
        (stmt,) = render(text, PG, p="pw'd")
        verifier = re.search(r"'(SCRAM-SHA-256\$[^']+)'", stmt).group(1)
        salt = __import__("base64").b64decode(verifier.split("$")[1].split(":")[1])
        assert verifier == scram_sha256_verifier("pw'd", salt=salt)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("SELECT {{p | scram_sha256}}", "literal"),
        ('SELECT "{{p | scram_sha256}}"', "literal"),
        ("SELECT '{{p | ident}}'", "drop the surrounding quotes"),
        ('SELECT "{{p | ident}}"', "drop the surrounding quotes"),
        ("SELECT '{{p | literal}}'", "drop the surrounding quotes"),
        ("DO $$ BEGIN PERFORM '{{p | literal}}'; END $$", "drop the surrounding quotes"),
        ("SELECT {{p | literal | upper}}", "last filter"),
        ("SELECT {{p | ident | literal}}", "last filter"),
    ],
)
def test_filter_placement_errors(text: str, fragment: str) -> None:
    err = parse_error(text)
    assert fragment in err.message
    assert err.position == text.index("{{")


def test_ident_and_literal_allowed_at_dollar_body_top() -> None:
    out = render("DO $$ BEGIN EXECUTE 'GRANT x TO ' || {{v | ident}} || {{v | literal}}; END $$", PG, v="$$'\"")
    assert out == ["DO $yamldb_1$ BEGIN EXECUTE 'GRANT x TO ' || \"$$'\"\"\" || '$$''\"'; END $yamldb_1$"]


def test_unknown_filter_names_it_and_lists_known() -> None:
    err = parse_error("SELECT '{{ v | shout }}'")
    assert "'shout'" in err.message
    for name in FILTERS:
        assert name in err.message
    assert err.position == 8


# --- parse errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rules", "fragment", "position"),
    [
        ("SELECT '{{ 1x }}'", PG, "invalid placeholder", 8),
        ("SELECT '{{ a.b }}'", PG, "invalid placeholder", 8),
        ("SELECT '{{ }}'", PG, "invalid placeholder", 8),
        ("SELECT '{{ a | }}'", PG, "invalid placeholder", 8),
        ("SELECT '{{ a b }}'", PG, "invalid placeholder", 8),
        ("SELECT '{{ .Name }}'", PG, "invalid placeholder", 8),
        ("SELECT '{{ a '}}", PG, "invalid placeholder", 8),
        ("SELECT '{{a'", PG, "unterminated {{", 8),
        ("SELECT 'abc", PG, "unterminated string", 7),
        ("SELECT 'it''s", PG, "unterminated string", 7),
        ("SELECT 'a\\'", MYSQL, "unterminated string", 7),
        ("SELECT E'a\\'", PG, "unterminated string", 7),
        ('SELECT "abc', PG, "unterminated quoted identifier", 7),
        ("SELECT [abc", MSSQL, "unterminated quoted identifier", 7),
        ("SELECT `abc", MYSQL, "unterminated quoted identifier", 7),
        ("SELECT /* abc", PG, "unterminated /*", 7),
        ("SELECT $$abc", PG, "unterminated dollar-quoted", 7),
        ("SELECT $fn$abc$$", PG, "unterminated dollar-quoted", 7),
        ("DO $$ SELECT 'a $$", PG, "unterminated string", 13),
        ("SELECT 1 -- {{v}}", PG, "inside a comment", 12),
        ("SELECT 1 /* {{v}} */", PG, "inside a comment", 12),
        ("SELECT 1 # {{v}}", MYSQL, "inside a comment", 11),
        ("DO $$ BEGIN -- {{v}}\n END $$", PG, "inside a comment", 15),
        ("SELECT /* /* */ */ 1", PG, "nested", 10),
        ("SELECT /* /* */ '{{v}}'", MYSQL, "nested", 10),
        ("SELECT /*!50000 1 */", MYSQL, "executable comments", 7),
        ("SELECT /*M!100000 1 */", MYSQL, "executable comments", 7),
        ("SELECT 1 -- a\rb\n", PG, "carriage return", 13),
        ("SELECT 1E'{{v}}'", PG, "runs into", 7),
        ("SELECT 1$$x$$", PG, "runs into", 7),
        ("SELECT 1U&'x'", PG, "runs into", 7),
        ("SELECT U&'{{v}}'", PG, "not supported inside", 10),
        ('SELECT u&"{{v}}"', PG, "not supported inside", 10),
        ("SELECT 'a\\{{v}}'", MYSQL, "backslash", 10),
        ("SELECT x{{v}}", PG, "preceding", 8),
        ("SELECT E{{v | literal}}", PG, "preceding", 8),
        ("SELECT U&{{v}}", PG, "preceding", 9),
        ("SELECT 'a'{{v | literal}}", PG, "preceding", 10),
        ("SELECT {{v | literal}}'a'", PG, "following", 7),
        ("SELECT {{a}}{{b}}", PG, "following", 7),
        ('SELECT {{a}}"b"', PG, "following", 7),
        ("SELECT [x]{{a}}", MSSQL, "preceding", 10),
        ("SELECT q'[{{v}}]'", PG, "alternative quoting", 7),
        ("SELECT Nq'{x}'", MSSQL, "alternative quoting", 7),
    ],
)
def test_parse_errors(text: str, rules: QuotingRules, fragment: str, position: int) -> None:
    err = parse_error(text, rules)
    assert fragment in err.message, err.message
    assert err.position == position, (err.position, err.message)


def test_nul_in_template_is_rejected() -> None:
    assert parse_error("SELECT '\x00'").position == 8


def test_crlf_line_endings_are_fine() -> None:
    assert render("SELECT 1 -- c\r\n; SELECT '{{v}}'\r\n", PG, v="x") == ["SELECT 1 -- c", "SELECT 'x'"]


# --- render errors -----------------------------------------------------------------------------


def test_missing_value_is_a_template_error() -> None:
    tpl = StatementTemplate.parse("SELECT '{{a}}', '{{b}}'", PG)
    with pytest.raises(TemplateError) as info:
        tpl.render({"a": "x"})
    assert info.value.message == "no value for {{b}}"
    assert info.value.position == 17


@pytest.mark.parametrize(
    "text",
    ["'{{v}}'", '"{{v}}"', "{{v}}", "{{v|literal}}", "'{{v|scram_sha256}}'", "DO $$ BEGIN PERFORM '{{v}}'; END $$"],
)
def test_nul_in_value_is_rejected(text: str) -> None:
    tpl = StatementTemplate.parse(text, PG)
    with pytest.raises(TemplateError, match=r"value for \{\{v\}\} contains a NUL character"):
        tpl.render({"v": "a\x00b"})


def test_non_string_value_is_rejected() -> None:
    with pytest.raises(TemplateError, match="must be a string"):
        StatementTemplate.parse("SELECT '{{v}}'", PG).render({"v": 5})  # type: ignore[dict-item]


def test_parse_does_not_need_values_and_render_is_repeatable() -> None:
    tpl = StatementTemplate.parse("SELECT '{{v}}'", PG)
    assert tpl.render({"v": "a"}) == ["SELECT 'a'"]
    assert tpl.render({"v": "b", "unused": "c"}) == ["SELECT 'b'"]


# --- hostile values, every dialect and context ---------------------------------------------------


@dataclass(frozen=True)
class Case:
    rules: QuotingRules
    text: str


CASES = {
    "postgresql": Case(
        PG,
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';\n"
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {{name}};\n"
        "COMMENT ON ROLE {{name | ident}} IS {{password | literal}};\n"
        "SELECT E'{{password}}', '{{name | upper}}';\n"
        "DO $$ BEGIN PERFORM '{{password}}', {{name}}; EXECUTE $q$ SELECT \"{{name}}\" $q$; END $$;\n"
        "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $fn$ SELECT E'{{password}}' $fn$",
    ),
    "mysql": Case(
        MYSQL,
        "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';"
        "GRANT SELECT ON *.* TO \"{{name}}\"@'%'; -- comment\n"
        "RENAME USER {{name | literal}} TO `{{password}}`; # another\n"
        "SELECT {{name}}, 1--1, '{{password}}' /* c */",
    ),
    "sqlite": Case(
        SQLITE,
        "CREATE TABLE \"{{name}}\" (a); INSERT INTO `{{name}}` VALUES ('{{password}}');"
        "SELECT {{name}}, {{password | literal}};",
    ),
    "sqlserver": Case(
        MSSQL,
        "CREATE LOGIN [{{name}}] WITH PASSWORD = '{{password}}'; CREATE USER \"{{name}}\" FOR LOGIN [{{name}}];"
        "SELECT {{name}}, N'{{password}}', {{password | literal}}",
    ),
}


@pytest.mark.parametrize("dialect", sorted(CASES))
@pytest.mark.parametrize("value", [*HOSTILE, "".join(HOSTILE), ("'\\\"`]$$;--/**/\n" * 700)[:10_240]])
def test_hostile_values_stay_in_their_tokens(dialect: str, value: str) -> None:
    case = CASES[dialect]
    check_round_trip(case, value, value[::-1] or "x")


def test_ten_kilobyte_value() -> None:
    value = ("ü'\"$$;\\" * 2000)[:10_240]
    (stmt,) = render("CREATE ROLE x PASSWORD '{{p}}'", PG, p=value)
    assert stmt == "CREATE ROLE x PASSWORD '" + value.replace("'", "''") + "'"


# --- the property: values never leave their context ------------------------------------------------

value_strategy = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters="\x00")),
    st.lists(st.sampled_from(HOSTILE) | st.text(max_size=3).filter(lambda s: "\x00" not in s), max_size=12).map(
        "".join
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dialect=st.sampled_from(sorted(CASES)), name=value_strategy, password=value_strategy)
def test_property_values_never_escape(dialect: str, name: str, password: str) -> None:
    check_round_trip(CASES[dialect], name, password)


# Random templates glued from SQL fragments: whenever one parses, the module's lexer and
# the reference tokenizer must agree on every token, for inert and hostile values alike.
FRAGMENTS = [
    "SELECT ",
    "x",
    "1",
    " ",
    ",",
    "\n",
    "\r\n",
    "\r",
    ";",
    "'",
    '"',
    "`",
    "[",
    "]",
    "''",
    '""',
    "\\",
    "E",
    "e",
    "N",
    "U&",
    "$",
    "$$",
    "$a$",
    "$1",
    "a$",
    "@",
    "&",
    "--",
    "-- ",
    "#",
    "# c\n",
    "/*",
    "*/",
    "/* c */",
    "-- c\n",
    "{{v}}",
    "{{w | literal}}",
    "{{v | ident}}",
    "{{w | upper}}",
    "'{{v}}'",
    '"{{w}}"',
    "E'{{v}}'",
    "`{{v}}`",
    "[{{w}}]",
    "N'{{w}}'",
    "$$ {{v}} $$",
    "$a$ '{{w}}' $a$",
    "E'a'\n",
    "U&'a'\n",
    "\u00a0",
    "q'",
    "-- x\r",
    "0",
    "1e",
    "/*!",
]


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    dialect=st.sampled_from(sorted(CASES)),
    fragments=st.lists(st.sampled_from(FRAGMENTS), max_size=20),
    v=value_strategy,
    w=value_strategy,
)
def test_property_random_templates_agree_with_reference(dialect: str, fragments: list[str], v: str, w: str) -> None:
    rules = CASES[dialect].rules
    text = "".join(fragments)
    try:
        tpl = StatementTemplate.parse(text, rules)
    except TemplateError:
        assume(False)
    marks = {"VMark0": v, "WMark0": w, "WMARK0": w.upper()}
    inert = tpl.render({"v": "VMark0", "w": "WMark0"})
    hostile = tpl.render({"v": v, "w": w})

    def expect(tokens: list) -> list:
        result = []
        for kind, payload in tokens:
            if kind == "dollar":
                payload = expect(payload)
            elif kind in ("string", "identifier"):
                for mark, value in marks.items():
                    payload = payload.replace(mark, value)
            result.append((kind, payload))
        return result

    for inert_sql, hostile_sql in zip(inert, hostile, strict=True):
        if rules.backslash_escapes and inert_sql.endswith("--"):
            # MySQL: "--" before the ';' we split off was not a comment; at the very end it is.
            inert_sql, hostile_sql = inert_sql + "x", hostile_sql + "x"
        want = reference_statements(inert_sql, rules)
        got = reference_statements(hostile_sql, rules)
        assert len(want) == len(got) == 1, (text, hostile_sql)
        assert got[0] == expect(want[0]), (text, hostile_sql)


def check_round_trip(case: Case, name: str, password: str) -> None:
    """Render with hostile and with inert values; the token streams must match value for value."""
    tpl = StatementTemplate.parse(case.text, case.rules)
    name_mark, password_mark = "NameMark0", "PassMark0"
    inert = tpl.render({"name": name_mark, "password": password_mark, "expiration": "E"})
    hostile = tpl.render({"name": name, "password": password, "expiration": "E"})
    assert len(hostile) == len(inert) == tpl.statement_count

    upper_name = name.upper()
    scram_or_plain = {name_mark: name, password_mark: password, name_mark.upper(): upper_name}

    def expect(tokens: list) -> list:
        result = []
        for kind, payload in tokens:
            if kind == "dollar":
                result.append((kind, expect(payload)))
            elif kind in ("string", "identifier") and payload in scram_or_plain:
                result.append((kind, scram_or_plain[payload]))
            else:
                result.append((kind, payload))
        return result

    for inert_sql, hostile_sql in zip(inert, hostile, strict=True):
        inert_statements = reference_statements(inert_sql, case.rules)
        hostile_statements = reference_statements(hostile_sql, case.rules)
        assert len(inert_statements) == len(hostile_statements) == 1, hostile_sql
        assert hostile_statements[0] == expect(inert_statements[0]), hostile_sql


# --- an independent reference tokenizer for rendered SQL ---------------------------------------------

_TAG = re.compile(r"\$([A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$")
_MYSQL_ESCAPES = {"0": "\x00", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "Z": "\x1a"}


def _identchar(c: str) -> bool:
    return c.isalnum() or c in "_$" or ord(c) > 127


def reference_statements(sql: str, rules: QuotingRules) -> list[list]:
    """Split rendered SQL at top-level ';' into token lists: (kind, decoded value).

    Kinds: code, comment, string, identifier, dollar (payload: the body's tokens).
    Deliberately simple: no BEGIN/END handling, so test templates avoid top-level blocks.
    Word runs are consumed whole, so an E or $ seen here always starts a new token.
    """
    statements: list[list] = [[]]
    for token in _tokens(sql, rules, top=True):
        if token == (";", ";"):
            statements.append([])
        else:
            statements[-1].append(token)
    return [s for s in statements if any(k != "comment" and (k != "code" or v.strip(" \t\n\r\f\v")) for k, v in s)]


def _tokens(sql: str, rules: QuotingRules, top: bool) -> list:
    tokens: list = []
    code: list[str] = []
    mysql = rules.backslash_escapes

    def emit(kind: str, value: object) -> None:
        if code:
            tokens.append(("code", "".join(code)))
            code.clear()
        tokens.append((kind, value))

    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith("--", i) and (not mysql or i + 2 == n or ord(sql[i + 2]) <= 32 or sql[i + 2] == "\x7f"):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            emit("comment", sql[i:j])
            i = j
        elif c == "#" and mysql:
            j = sql.find("\n", i)
            j = n if j < 0 else j
            emit("comment", sql[i:j])
            i = j
        elif sql.startswith("/*", i):
            j = sql.index("*/", i + 2) + 2
            emit("comment", sql[i:j])
            i = j
        elif rules.escape_string_prefix and c in "eE" and sql[i + 1 : i + 2] == "'":
            value, i = _read_quoted(sql, i + 1, "'", backslash=True)
            # PostgreSQL: E'a'<newline>'b' is one E-string. (It needs the newline; without
            # one the server rejects the syntax, so treating that as a continuation is harmless.)
            while m := re.match(r"(?:[ \t\n\r\f\v]|--[^\n]*\n)*'", sql[i:]):
                more, i = _read_quoted(sql, i + m.end() - 1, "'", backslash=True)
                value += more
            emit("string", value)
        elif c in rules.string_quotes:
            value, i = _read_quoted(sql, i, c, backslash=mysql)
            emit("string", value)
        elif c in rules.identifier_quotes:
            value, i = _read_quoted(sql, i, "]" if c == "[" else c, backslash=False)
            emit("identifier", value)
        elif rules.dollar_quoting and c == "$" and (m := _TAG.match(sql, i)):
            tag = m.group()
            close = sql.index(tag, m.end())
            emit("dollar", _tokens(sql[m.end() : close], rules, top=False))
            i = close + len(tag)
        elif rules.dollar_quoting and (m := re.match(r"\$[0-9]+", sql[i:])):
            code.append(m.group())  # $1 parameter
            i += m.end()
        elif c == ";" and top:
            emit(";", ";")
            i += 1
        elif _identchar(c):
            j = i
            while j < n and _identchar(sql[j]):
                j += 1
            code.append(sql[i:j])
            i = j
        else:
            code.append(c)
            i += 1
    if code:
        tokens.append(("code", "".join(code)))
    return tokens


def _read_quoted(sql: str, i: int, closer: str, backslash: bool) -> tuple[str, int]:
    """Decode the quoted token opening at sql[i]; return (value, index after it)."""
    out = []
    j = i + 1
    while True:
        c = sql[j]  # IndexError here means an unterminated token: a test failure
        if backslash and c == "\\":
            nxt = sql[j + 1]
            out.append(_MYSQL_ESCAPES.get(nxt, nxt))
            j += 2
        elif c == closer:
            if sql[j + 1 : j + 2] == closer:
                out.append(closer)
                j += 2
            else:
                return "".join(out), j + 1
        else:
            out.append(c)
            j += 1


# -- dialect flags added for Oracle PL/SQL and Snowflake/Redshift comments --------------------------------


def test_plsql_blocks_keep_their_final_semicolon_only_when_the_dialect_asks():
    from yamldb.manifest.quoting import QuotingRules

    text = (
        "BEGIN EXECUTE IMMEDIATE 'DROP USER \"{{name}}\" CASCADE'; EXCEPTION WHEN OTHERS THEN NULL; END;\n"
        "SELECT 1 FROM DUAL;"
    )
    oracle = QuotingRules(identifier_quotes=('"',), string_quotes=("'",), block_terminator=True)
    rendered = StatementTemplate.parse(text, oracle).render({"name": "u"})
    assert rendered == [
        "BEGIN EXECUTE IMMEDIATE 'DROP USER \"u\" CASCADE'; EXCEPTION WHEN OTHERS THEN NULL; END;",
        "SELECT 1 FROM DUAL",
    ]
    plain = QuotingRules(identifier_quotes=('"',), string_quotes=("'",))
    assert StatementTemplate.parse(text, plain).render({"name": "u"})[0].endswith("END")


def test_backslash_escapes_without_mysql_comments():
    from yamldb.manifest.quoting import QuotingRules

    snowflake = QuotingRules(
        identifier_quotes=('"',), string_quotes=("'",), backslash_escapes=True, mysql_comments=False
    )
    # '#' is an ordinary character and '--x' a comment, unlike MySQL.
    assert StatementTemplate.parse("SELECT '{{v}}' # not a comment", snowflake).render({"v": "a\\b"}) == [
        "SELECT 'a\\\\b' # not a comment"
    ]
    assert StatementTemplate.parse("SELECT 1 --x\n", snowflake).render({}) == ["SELECT 1 --x"]
