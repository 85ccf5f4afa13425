"""Connection URLs in Vault's formats and weakly typed config values (issue 4 §1, §3)."""

from __future__ import annotations

import pytest

from yamldb.engine.urls import connection_target, to_sqlalchemy_url
from yamldb.errors import ConfigError
from yamldb.lifecycle.config import ConnectionConfig
from yamldb.redact import mask_url, path_escape

PG = ("postgresql_url", "postgresql_dsn", "sqlalchemy")
MY = ("go_mysql_dsn", "sqlalchemy")


def test_path_escape_matches_go_url_path_escape():
    # Go keeps A-Z a-z 0-9 - _ . ~ $ & + : = @ and escapes the rest, uppercase hex.
    assert path_escape("a-b_c.d~e$f&g+h:i=j@k") == "a-b_c.d~e$f&g+h:i=j@k"
    assert path_escape("p/w?d#x y%z;,'\"") == "p%2Fw%3Fd%23x%20y%25z%3B%2C%27%22"


def target(template, username="", password="", driver="postgresql+psycopg", formats=PG, **kwargs):
    return connection_target(template, username, password, driver=driver, formats=formats, **kwargs).url


# Every character a URL, a key=value DSN or a Go DSN could read as structure, and non-ASCII text.
HOSTILE = "At@Pass-word1 /:?#%+&=[]'\"\\é🔥"
FORMS = [
    ("postgresql://{{username}}:{{password}}@127.0.0.1:5433/db?sslmode=disable", "postgresql+psycopg", PG),
    ("postgres://{{username}}:{{password}}@127.0.0.1:5433/db", "postgresql+psycopg", PG),
    ("host=127.0.0.1 port=5433 user={{username}} password={{password}} dbname=db", "postgresql+psycopg", PG),
    ("host=127.0.0.1 port=5433 user='{{username}}' password='{{password}}' dbname=db", "postgresql+psycopg", PG),
    ("{{username}}:{{password}}@tcp(127.0.0.1:5433)/db", "mysql+pymysql", MY),
    ("mysql://{{username}}:{{password}}@127.0.0.1:5433/db", "mysql+pymysql", MY),
]


@pytest.mark.parametrize(("template", "driver", "formats"), FORMS)
def test_any_username_and_password_land_whole_in_every_form(template, driver, formats):
    # issue 11 §1: the values are set on the parsed URL, never pasted into its text and re-parsed.
    url = target(template, "ad min@x:y/é", HOSTILE, driver, formats)
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "ad min@x:y/é",
        HOSTILE,
        "127.0.0.1",
        5433,
        "db",
    )


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("At@Pass-word1", "At@Pass-word1"),  # pgx splits the user information at the LAST '@'
        ("p%40ss", "p@ss"),  # written pre-escaped: decoded, as pgx does
        ("sp ace", "sp ace"),
    ],
)
def test_disable_escaping_pastes_the_password_raw_and_parses_it_as_pgx(password, expected):
    assert target(FORMS[0][0], "admin", password, disable_escaping=True).password == expected


@pytest.mark.parametrize("password", ["a/b", "a?b", "a#b", "x%zz"])
def test_disable_escaping_refuses_a_password_that_splits_the_url_and_never_quotes_it(password):
    with pytest.raises(ConfigError, match="connection_url") as err:
        target(FORMS[0][0], "admin", password, disable_escaping=True)
    assert password not in str(err.value) and password[1:] not in str(err.value)


def test_go_dsn_takes_user_and_password_literally_even_without_escaping():
    # go-sql-driver splits at the last '/', then the last '@', then the first ':'; it never decodes them.
    url = target(FORMS[4][0], "admin", "p%40s/s@x:y", "mysql+pymysql", MY, disable_escaping=True)
    assert (url.username, url.password, url.host) == ("admin", "p%40s/s@x:y", "127.0.0.1")


def test_a_literal_password_in_the_url_is_split_at_the_last_at_sign():
    url = target("postgresql://admin:At@Pass-word1@127.0.0.1:5432/db")
    assert (url.username, url.password, url.host) == ("admin", "At@Pass-word1", "127.0.0.1")


@pytest.mark.parametrize(
    ("template", "driver", "formats", "message"),
    [
        ("postgresql://u:p@h/db", "mysql+pymysql", MY, "is a postgresql:// URL"),
        ("mysql://u:p@h/db", "postgresql+psycopg", PG, "is a mysql:// URL"),
        ("u:p@tcp(h:3306)/", "postgresql+psycopg", PG, "is a Go MySQL DSN"),
        ("u:p@tcp(h:3306)/", "sqlite+pysqlite", ("sqlite_path", "sqlalchemy"), "is a Go MySQL DSN"),
        ("host=h user=u dbname=d", "mysql+pymysql", MY, "is a PostgreSQL key=value DSN"),
        ("host=h user=u dbname=d", "sqlite+pysqlite", ("sqlite_path", "sqlalchemy"), "is a PostgreSQL key=value DSN"),
        ("mssql+pymssql://u:p@h/db", "oracle+oracledb", ("sqlalchemy",), "is a mssql:// URL"),
    ],
)
def test_a_url_for_another_database_is_refused(template, driver, formats, message):
    # issue 11 §8: refused when the config is written, not at the first credential.
    with pytest.raises(ConfigError, match=message):
        target(template, "u", "p", driver, formats)


def test_mysql_connections_refuse_charsets_that_break_escaping():
    with pytest.raises(ConfigError, match="charset=gbk is not supported"):
        target("u:p@tcp(h:3306)/?charset=gbk", driver="mysql+pymysql", formats=MY)


def test_messages_mask_the_whole_user_information():
    url = target(FORMS[0][0], "admin", "At@Pass-word1")
    assert mask_url(url) == "postgresql+psycopg://***@127.0.0.1:5433/db?sslmode=disable"


def test_values_may_not_smuggle_placeholders():
    with pytest.raises(ConfigError):
        target("{{username}}:{{password}}@tcp(h:3306)/", "{{password}}", "x", "mysql+pymysql", MY)


def test_postgresql_url_forms():
    url = to_sqlalchemy_url("postgres://u:p%2Fw@h:5433/db?sslmode=require", "postgresql+psycopg", PG)
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database) == (
        "postgresql+psycopg",
        "u",
        "p/w",
        "h",
        5433,
        "db",
    )
    assert url.query["sslmode"] == "require"


def test_postgresql_key_value_dsn():
    url = to_sqlalchemy_url(
        "host=h port=5433 user=u password='p w' dbname=db sslmode=disable", "postgresql+psycopg", PG
    )
    assert (url.username, url.password, url.host, url.port, url.database) == ("u", "p w", "h", 5433, "db")
    assert url.query["sslmode"] == "disable"


def test_postgresql_keys_libpq_does_not_know_become_server_parameters_as_pgx_sends_them():
    url = to_sqlalchemy_url(
        "postgresql://u:p@h/db?options=-c%20work_mem%3D8MB&search_path=%22%24user%22%2C%20public&TimeZone=UTC"
        "&statement_cache_capacity=0&application_name=vault",
        "postgresql+psycopg",
        PG,
    )
    assert dict(url.query) == {
        "application_name": "vault",  # a libpq keyword: kept as it is
        "options": '-c work_mem=8MB -c search_path="$user",\\ public -c TimeZone=UTC',  # pgx's cache knob dropped
    }
    dsn = to_sqlalchemy_url("host=h user=u search_path='a\\\\b c'", "postgresql+psycopg", PG)
    assert dict(dsn.query) == {"options": "-c search_path=a\\\\b\\ c"}  # backslash and space escaped


@pytest.mark.parametrize("password", ["Se cr;et=1", "Se crkrbspn=1", "Se cret%zz"])
def test_disable_escaping_errors_never_quote_a_piece_of_the_password(password):
    # Pasted raw into a key=value DSN, a space splits the password into keys of their own; whatever the
    # parser then refuses, the message must not repeat any of it.
    with pytest.raises(ConfigError) as err:
        connection_target(
            "host=h user={{username}} password={{password}}",
            "vault",
            password,
            driver="postgresql+psycopg",
            formats=PG,
            disable_escaping=True,
        )
    assert "disable_escaping=true" in str(err.value)
    assert not any(piece in str(err.value) for piece in password.split() if len(piece) > 2)


@pytest.mark.parametrize(
    ("template", "driver", "formats"),
    [
        ("postgresql://{{username}}:{{password}}@h/db?search_path={{username}}", "postgresql+psycopg", PG),
        ("postgresql://{{username}}:{{password}}@h/db?options=-c%20role%3D{{username}}", "postgresql+psycopg", PG),
        ("host=h user={{username}} password={{password}} statement_timeout={{password}}", "postgresql+psycopg", PG),
        ("{{username}}:{{password}}@tcp(h:3306)/?time_zone={{password}}", "mysql+pymysql", MY),
    ],
)
def test_credentials_cannot_land_inside_composed_parameters(template, driver, formats):
    # libpq's options and MySQL's init_command are strings of their own syntax: a password with a space, a
    # backslash or a quote would change what they say. (application_name={{username}} stays fine: a keyword.)
    with pytest.raises(ConfigError, match="cannot be used in server or session parameters"):
        connection_target(template, "us er", "p' w\\d", driver=driver, formats=formats)
    url = target("postgresql://{{username}}:{{password}}@h/db?application_name={{username}}", "us er", "pw")
    assert url.query["application_name"] == "us er"


@pytest.mark.parametrize(("query", "message"), [("krbspn=x", "krbspn is not supported"), ("a%20b=1", "'a b' is not")])
def test_postgresql_keys_that_cannot_be_passed_on_are_named(query, message):
    with pytest.raises(ConfigError, match=message):
        to_sqlalchemy_url(f"postgresql://u:p@h/db?{query}", "postgresql+psycopg", PG)


def test_go_mysql_dsn_with_raw_password():
    url = to_sqlalchemy_url("u:p@ss:w/rd@tcp(10.0.0.1:3307)/app?charset=utf8mb4&parseTime=true", "mysql+pymysql", MY)
    assert (url.username, url.password, url.host, url.port, url.database) == ("u", "p@ss:w/rd", "10.0.0.1", 3307, "app")
    assert dict(url.query) == {"charset": "utf8mb4"}  # parseTime is Go-only


def test_go_mysql_dsn_without_database_or_port():
    url = to_sqlalchemy_url("u:p@tcp(db.internal)/", "mysql+pymysql", MY)
    assert url.host == "db.internal" and url.port is None and url.database is None


@pytest.mark.parametrize("text", ["u:p@/app", "u:p@tcp/app", "u:p@tcp()/app", "/app"])
def test_go_mysql_dsn_without_an_address_means_go_sql_drivers_default(text):
    # go-sql-driver's README opens with sql.Open("mysql", "user:password@/dbname"): tcp to 127.0.0.1:3306.
    url = to_sqlalchemy_url(text, "mysql+pymysql", MY)
    assert (url.host, url.port, url.database) == ("127.0.0.1", None, "app")
    assert url.username == ("u" if text.startswith("u") else None)


def test_go_mysql_dsn_options_are_session_variables_as_go_sql_driver_sets_them():
    url = to_sqlalchemy_url(
        "u:p@tcp(h)/?wait_timeout=1234&transaction_isolation=%27READ-COMMITTED%27&time_zone=%2B03:00&parseTime=true",
        "mysql+pymysql",
        MY,
    )
    assert url.query["init_command"] == (
        "SET SESSION wait_timeout = 1234, transaction_isolation = 'READ-COMMITTED', time_zone = '+03:00'"
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("character_set_client=gbk", "character_set_client cannot be set"),  # would move where quotes end
        ("a%3Bb=1", "option 'a;b' is not supported"),
        ("x=%27a%27b%27", "x: only letters"),
        ("x=1;DROP", "x: only letters"),
    ],
)
def test_go_mysql_dsn_options_that_cannot_be_session_variables_are_named(query, message):
    with pytest.raises(ConfigError, match=message):
        to_sqlalchemy_url(f"u:p@tcp(h)/?{query}", "mysql+pymysql", MY)


def test_go_mysql_dsn_with_an_unknown_network_names_it():
    with pytest.raises(ConfigError, match="network 'udp' is not supported"):
        to_sqlalchemy_url("u:p@udp(h:1)/app", "mysql+pymysql", MY)


def test_sqlalchemy_url_passes_and_plain_scheme_gets_the_driver():
    assert to_sqlalchemy_url("mysql://u:p@h/db", "mysql+pymysql", MY).drivername == "mysql+pymysql"
    assert to_sqlalchemy_url("mysql+mysqldb://u:p@h/db", "mysql+pymysql", MY).drivername == "mysql+mysqldb"


@pytest.mark.parametrize("text", ["", "   ", "not a url", "host=h user=u"])
def test_unusable_urls_are_clear_errors(text):
    with pytest.raises(ConfigError, match="connection_url"):
        to_sqlalchemy_url(text, "mysql+pymysql", MY)


def test_config_values_arrive_as_strings_from_the_cli():
    config = ConnectionConfig.parse(
        {
            "connection_url": "x",
            "max_open_connections": "5",
            "max_idle_connections": "2",
            "max_connection_lifetime": "1m30s",
            "disable_escaping": "true",
            "parameters": '{"schema": "app"}',
        }
    )
    assert config.pool_overrides == {
        "max_open_connections": 5,
        "max_idle_connections": 2,
        "max_connection_lifetime": 90.0,
    }
    assert config.disable_escaping is True and config.parameters == {"schema": "app"}


def test_zero_pool_sizes_mean_unset_as_in_vaults_sql_plugins():
    # connutil: max_open_connections 0 -> 4, max_idle_connections 0 -> max_open_connections; 0 must not mean
    # "keep no connection idle".
    from yamldb.manifest.model import PoolSettings

    config = ConnectionConfig.parse({"connection_url": "x", "max_open_connections": 0, "max_idle_connections": "0"})
    assert config.pool_overrides == {}
    pool = PoolSettings(
        **{
            "max_open_connections": 6,
            **ConnectionConfig.parse({"connection_url": "x", "max_idle_connections": 0}).pool_overrides,
        }
    )
    assert pool.idle == 6


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("max_open_connections", "five", "expected a whole number"),
        ("max_open_connections", "-1", "at least 0"),
        ("max_idle_connections", "-1", "at least 0"),
        ("disable_escaping", "maybe", "expected true or false"),
        ("max_connection_lifetime", "soon", "not a duration"),
        ("parameters", "[1]", "expected a mapping"),
        ("password_authentication", "md5", "not a valid password authentication type"),
    ],
)
def test_bad_config_values_name_the_key(key, value, message):
    with pytest.raises(ConfigError, match=message) as err:
        ConnectionConfig.parse({"connection_url": "x", key: value})
    assert key in str(err.value)


def test_every_key_is_read_once_tls_keys_and_secrets_included():
    config = ConnectionConfig.parse(
        {
            "connection_url": "x",
            "password": "pw-123",
            "tls_ca": "CA",
            "tls_certificate": "CERT",
            "private_key": "KEY-PEM",
            "tls_certificate_key": "BUNDLE-PEM",
            "tls_server_name": "db.internal",
            "tls_skip_verify": "true",
        }
    )
    tls = config.tls
    assert (tls.ca, tls.certificate, tls.private_key, tls.certificate_key, tls.server_name, tls.skip_verify) == (
        "CA",
        "CERT",
        "KEY-PEM",
        "BUNDLE-PEM",
        "db.internal",
        True,
    )
    assert set(config.secrets) == {"pw-123", "KEY-PEM", "BUNDLE-PEM"}
    assert config.pool_overrides == {}  # unset pool keys leave the manifest's values alone


def test_tls_skip_verify_goes_through_the_one_boolean_parser():
    assert ConnectionConfig.parse({"connection_url": "x", "tls_skip_verify": "on"}).tls.skip_verify is True
    with pytest.raises(ConfigError, match="tls_skip_verify: expected true or false"):
        ConnectionConfig.parse({"connection_url": "x", "tls_skip_verify": "sometimes"})


def test_durations_live_below_every_layer():
    from yamldb.durations import parse_duration

    assert parse_duration("1m30s") == 90.0 and parse_duration(5) == 5.0 and parse_duration("250ms") == 0.25
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")
