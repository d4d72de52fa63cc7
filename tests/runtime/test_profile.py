"""Connection profiles (labkit.runtime.profile), without a broker: what a good one reads as, the
clear error for each way one is wrong, kafka-python's options, a repr without the
password, and the explanation of a failed connection from kafka-python's causes."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from labkit.runtime import profile
from labkit.runtime.profile import Profile, ProfileError

SECRET = "s3cret-Pa55word-xyz"


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    """A real CA certificate (made as the secured broker makes one), in PEM."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "ca.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def fields(**changes: object) -> dict:
    base = {
        "bootstrap_servers": "127.0.0.1:19092,127.0.0.1:19093",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "username": "learner-01",
        "password": SECRET,
        "ca_file": "ca.crt",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None or k == "ca_file"}


def written(tmp_path: Path, data: dict | str, mode: int = 0o600) -> Path:
    path = tmp_path / "learner.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    os.chmod(path, mode)
    return path


def test_a_good_profile_loads_with_its_ca_beside_it(tmp_path, ca_file):
    loaded = profile.load(written(tmp_path, fields()))
    assert loaded.bootstrap_servers == ("127.0.0.1:19092", "127.0.0.1:19093")
    assert loaded.bootstrap == "127.0.0.1:19092,127.0.0.1:19093"
    assert (loaded.security_protocol, loaded.sasl_mechanism, loaded.username) == (
        "SASL_SSL",
        "SCRAM-SHA-512",
        "learner-01",
    )
    assert loaded.password == SECRET and loaded.ca_file == ca_file.resolve()
    assert profile.kafka_python_options(loaded) == {
        "bootstrap_servers": ["127.0.0.1:19092", "127.0.0.1:19093"],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "learner-01",
        "sasl_plain_password": SECRET,
        "ssl_cafile": str(ca_file.resolve()),
        "ssl_check_hostname": True,
    }


def test_write_then_load_is_the_same_profile_and_private(tmp_path, ca_file):
    made = Profile(("127.0.0.1:9093",), "SASL_SSL", "SCRAM-SHA-256", "bob", SECRET, ca_file.resolve())
    path = profile.write(tmp_path / "out" / "bob.json", made)
    assert path.stat().st_mode & 0o777 == 0o600
    assert profile.load(path) == made


def test_without_a_ca_file_the_system_authorities_are_trusted(tmp_path):
    loaded = profile.load(written(tmp_path, fields(ca_file=None)))
    assert loaded.ca_file is None
    assert "ssl_cafile" not in profile.kafka_python_options(loaded)


def test_the_password_is_never_shown(tmp_path, ca_file):
    loaded = profile.load(written(tmp_path, fields()))
    for text in (repr(loaded), str(loaded), json.dumps(loaded.shown())):
        assert SECRET not in text
    assert loaded.shown()["password"] == "******" and loaded.shown()["username"] == "learner-01"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"password": None}, "is missing password"),
        ({"username": "", "bootstrap_servers": None}, "is missing bootstrap_servers, username"),
        (
            {"sasl_mechanism": "GSSAPI"},
            r"sasl_mechanism 'GSSAPI' is not one .*SCRAM-SHA-512, SCRAM-SHA-256, PLAIN",
        ),
        ({"security_protocol": "PLAINTEXT"}, "security_protocol 'PLAINTEXT' is not one labkit connects with"),
        ({"bootstrap_servers": "127.0.0.1"}, "bootstrap server '127.0.0.1' is not host:port"),
        ({"pasword": "typo"}, "unknown field.*pasword"),
        ({"ca_file": "missing.crt"}, r"ca_file .*missing.crt cannot be read \(No such file or directory\)"),
        ({"username": 7}, "username must be a string"),
    ],
)
def test_a_wrong_field_is_a_clear_error(tmp_path, ca_file, data, message):
    with pytest.raises(ProfileError, match=message) as caught:
        profile.load(written(tmp_path, fields(**data)))
    assert SECRET not in str(caught.value)


def test_a_ca_file_that_is_no_certificate_is_a_clear_error(tmp_path):
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----\n")
    with pytest.raises(ProfileError, match="ca.crt holds no PEM certificate"):
        profile.load(written(tmp_path, fields()))


def test_a_file_other_users_may_read_is_refused(tmp_path, ca_file):
    path = written(tmp_path, fields(), mode=0o644)
    with pytest.raises(ProfileError, match=r"other users may open it \(mode -rw-r--r--\): `chmod 600"):
        profile.load(path)


def test_a_missing_file_or_bad_json_is_a_clear_error(tmp_path):
    with pytest.raises(ProfileError, match="No connection profile at"):
        profile.load(tmp_path / "nope.json")
    with pytest.raises(ProfileError, match=r"not valid JSON \(line 1, column 2"):
        profile.load(written(tmp_path, "{oops"))
    with pytest.raises(ProfileError, match="must be a JSON object"):
        profile.load(written(tmp_path, "[1, 2]"))


def test_a_failed_connection_is_explained_without_the_password(tmp_path, ca_file):
    from kafka.errors import KafkaConnectionError, SaslAuthenticationFailedError

    loaded = profile.load(written(tmp_path, fields()))
    login = SaslAuthenticationFailedError(f"Authentication failed due to invalid credentials {SECRET}")
    said = profile.explain(loaded, [KafkaConnectionError("socket disconnected"), login])
    assert said.startswith("Kafka at 127.0.0.1:19092,127.0.0.1:19093 refused the login of 'learner-01'")
    assert SECRET not in said
    tls = KafkaConnectionError(
        "Handshake failed: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: x"
    )
    assert "is not one the profile's ca_file" in profile.explain(loaded, [tls])
    assert profile.explain(loaded, [KafkaConnectionError("111 ECONNREFUSED")]).startswith(
        "Nothing listens at"
    )
    hung_up = profile.explain(loaded, [KafkaConnectionError("socket disconnected")])
    assert "refused the login of 'learner-01' (SCRAM-SHA-512): wrong user name or password" in hung_up
    assert "in time" in profile.explain(loaded, [])


# --- a lab that connects through a profile: the option builders ---------------------------

SHADED_SCRAM = "org.apache.flink.kafka.shaded.org.apache.kafka.common.security.scram.ScramLoginModule"


def test_flinks_kafka_options_log_in_with_the_shaded_module_and_trust_the_pem_ca(tmp_path, ca_file):
    loaded = profile.load(written(tmp_path, fields()))
    assert profile.flink_kafka_options(loaded) == {
        "properties.security.protocol": "SASL_SSL",
        "properties.sasl.mechanism": "SCRAM-SHA-512",
        "properties.sasl.jaas.config": (
            f'{SHADED_SCRAM} required username="learner-01" password="{SECRET}";'
        ),
        "properties.ssl.endpoint.identification.algorithm": "https",
        "properties.ssl.truststore.type": "PEM",
        "properties.ssl.truststore.location": str(ca_file.resolve()),
    }
    shown = profile.shown_options(profile.flink_kafka_options(loaded))
    assert shown["properties.sasl.jaas.config"] == "******" and SECRET not in repr(shown)
    # a plain Java client (Kafka Streams) names Kafka's own class
    assert profile.jaas_config(loaded, shaded=False).startswith(
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
    )


def test_the_jaas_config_quotes_what_a_password_may_hold_and_names_plains_module(tmp_path):
    odd = profile.parse(fields(password='a"b\\c d;', ca_file=None, sasl_mechanism="PLAIN"))
    assert profile.jaas_config(odd) == (
        "org.apache.flink.kafka.shaded.org.apache.kafka.common.security.plain.PlainLoginModule "
        'required username="learner-01" password="a\\"b\\\\c d;";'
    )
    # no CA file: the JVM's own authorities (a cloud Kafka), so no trust store options
    assert not any("truststore" in k for k in profile.java_options(odd))


def test_labkits_client_options_hold_the_password_as_a_secret_that_never_shows(tmp_path, ca_file):
    loaded = profile.load(written(tmp_path, fields()))
    options = profile.client_options(loaded)
    password = options["sasl_plain_password"]
    assert password == SECRET and isinstance(password, str)
    assert password.encode() == SECRET.encode() and "\0".join(["u", password]) == f"u\0{SECRET}"
    assert SECRET not in repr(options) and "'******'" in repr(options)
    assert {k: v for k, v in options.items() if k != "sasl_plain_password"} == {
        k: v for k, v in profile.kafka_python_options(loaded).items() if k != "sasl_plain_password"
    }


def test_a_labs_endpoints_name_the_profile_by_path_and_it_is_read_again_when_it_changes(tmp_path, ca_file):
    from labkit.runtime.state import Endpoints

    assert profile.of_endpoints(Endpoints("local", "127.0.0.1:9092", "127.0.0.1:9092")) is None
    assert profile.of_endpoints(None) is None
    path = written(tmp_path, fields())
    endpoints = Endpoints("remote", "127.0.0.1:19092", "127.0.0.1:19092", kafka_profile=str(path))
    first = profile.of_endpoints(endpoints)
    assert first is not None and first is profile.of_endpoints(endpoints)  # not read again
    written(tmp_path, fields(username="learner-02"))
    os.utime(path, ns=(1, 1))  # a different mtime whatever the clock's resolution
    changed = profile.of_endpoints(endpoints)
    assert changed is not None and changed.username == "learner-02"
    os.chmod(path, 0o644)
    with pytest.raises(ProfileError, match="other users may open it"):
        profile.of_endpoints(endpoints)
    path.unlink()
    with pytest.raises(ProfileError, match="No connection profile at"):
        profile.of_endpoints(endpoints)


def test_a_state_file_from_before_profiles_still_loads(tmp_path, monkeypatch):
    from labkit.runtime.state import State

    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    old = {"endpoints": {"backend": "local", "bootstrap_servers": "a:1", "flink_bootstrap_servers": "a:1"}}
    (tmp_path / "state.json").write_text(json.dumps(old))
    loaded = State.load()
    assert loaded is not None and loaded.endpoints.kafka_profile is None


class _Tables:
    """A TableEnvironment stand-in that keeps the DDL it is given."""

    def __init__(self) -> None:
        self.executed: list[str] = []

    def execute_sql(self, ddl: str) -> None:
        self.executed.append(ddl)


def test_kafka_table_adds_the_login_and_returns_its_ddl_masked(tmp_path, ca_file):
    from labkit.flink.helpers import FlinkHelpers
    from labkit.runtime.state import Endpoints

    password = "it's-" + SECRET  # a quote: SQL doubles it
    path = written(tmp_path, fields(password=password))

    class Handle(FlinkHelpers):
        endpoints = Endpoints("remote", "127.0.0.1:19092", "127.0.0.1:19092", kafka_profile=str(path))
        flink_bootstrap_servers = "127.0.0.1:19092"  # type: ignore[assignment]

    tables = _Tables()
    shown = Handle().kafka_table(
        tables, "t", "n INT", topic="clicks", **{"properties.sasl.mechanism": "PLAIN"}
    )
    (ddl,) = tables.executed
    assert f"password=\"it''s-{SECRET}\";'" in ddl  # what Flink gets
    assert "'properties.security.protocol' = 'SASL_SSL'" in ddl
    assert "'properties.sasl.mechanism' = 'PLAIN'" in ddl  # the caller's option wins
    assert SECRET not in shown and "'properties.sasl.jaas.config' = '******'" in shown
    assert shown.replace("'******'", "") == ddl.replace(
        f"'{profile.jaas_config(profile.load(path)).replace(chr(39), chr(39) * 2)}'", ""
    )


def test_a_datastream_jobs_properties_are_the_shaded_java_options_printed_masked(tmp_path, ca_file):
    loaded = profile.load(written(tmp_path, fields()))
    props = profile.datastream_properties(loaded)
    assert props == profile.java_options(loaded, shaded=True)  # the values py4j hands over
    assert props["sasl.jaas.config"].startswith(profile.FLINK_SHADED)
    assert SECRET not in repr(props) and "'sasl.jaas.config': '******'" in repr(props)


def test_a_jaas_file_holds_the_unshaded_login_readable_by_its_owner_only(tmp_path, ca_file):
    loaded = profile.load(written(tmp_path, fields(password='a"b\\c')))
    path = profile.write_jaas_file(tmp_path / "sub" / "login.jaas", loaded)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text() == (
        "KafkaClient {\n  org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="learner-01" password="a\\"b\\\\c";\n};\n'
    )


def test_masked_hides_the_password_raw_jaas_quoted_and_sql_quoted(tmp_path, ca_file):
    loaded = profile.load(written(tmp_path, fields(password="it's\"x")))
    jaas = profile.jaas_config(loaded)
    said = f"raw {loaded.password} jaas {jaas} sql {jaas.replace(chr(39), chr(39) * 2)}"
    shown = profile.masked(said, loaded)
    assert "it's" not in shown and "it''s" not in shown and "it's\\\"x" not in shown
    assert shown.count(profile.HIDDEN) == 3
    assert profile.masked(said, None) == said


def _handle(path: Path | None):
    from labkit.flink.helpers import FlinkHelpers
    from labkit.runtime.state import Endpoints

    class Handle(FlinkHelpers):
        endpoints = Endpoints(
            "remote", "127.0.0.1:19092", "127.0.0.1:19092", kafka_profile=str(path) if path else None
        )
        flink_bootstrap_servers = "127.0.0.1:19092"  # type: ignore[assignment]

    return Handle()


def test_kafka_options_and_the_cells_connection_carry_the_login_and_show_it_masked(tmp_path, ca_file):
    secured = _handle(written(tmp_path, fields()))
    options = secured.kafka_options("clicks", bounded=True)
    assert "'properties.security.protocol' = 'SASL_SSL'" in options and SECRET in options
    assert "'scan.bounded.mode' = 'latest-offset'" in options
    assert SECRET not in repr(options) and "'properties.sasl.jaas.config' = '******'" in repr(options)
    connection = secured.flink_kafka_connection
    assert connection.startswith("'properties.bootstrap.servers' = '127.0.0.1:19092',\n")
    assert connection in options and SECRET not in repr(connection)
    # the SQL benchmark's tables go through kafka_options too
    from labkit.sql import bench as sql_bench

    ddl = sql_bench.table_ddl(secured, "c", "clicks", bounded=True)
    assert ddl.startswith("CREATE TABLE c (user_id STRING, page STRING) WITH (") and options in ddl
    # a plain lab: the address alone, as before
    plain = _handle(None)
    assert plain.flink_kafka_connection == "'properties.bootstrap.servers' = '127.0.0.1:19092'"
    assert plain.kafka_client_properties() == {}
    assert "security" not in plain.kafka_options("clicks")


def test_a_cell_fills_a_login_in_once_and_shows_its_errors_masked(tmp_path, ca_file):
    import dataclasses

    from labkit.errors import FlinkSqlError, LabError
    from labkit.sql.magic import FlinkSql
    from labkit.sql.statements import fill

    # a value filled in is not read again: braces in a password reach Flink as they are
    class Odd:
        flink_kafka_connection = "p{{a}}{b}"

    assert fill("x {lab.flink_kafka_connection} {{y}}", {"lab": Odd()}) == "x p{{a}}{b} {y}"
    secured = _handle(written(tmp_path, fields()))
    cell = FlinkSql(dataclasses.replace(secured.endpoints, sql_gateway="127.0.0.1:9"))
    statement = f"CREATE TABLE t (n INT) WITH ({secured.kafka_options('t')})"
    error = cell.masked_error(FlinkSqlError(f"bad {SECRET}", statement, f"trace {SECRET}"))
    assert isinstance(error, FlinkSqlError) and SECRET not in f"{error} {error.statement} {error.details}"
    assert "'properties.sasl.jaas.config' = '******'" in error.statement
    other = cell.masked_error(LabError(f"not finished:\n{statement}"))
    assert SECRET not in str(other) and "'******'" in str(other)
    untouched = LabError("nothing secret")
    assert cell.masked_error(untouched) is untouched


def test_kafka_streams_gets_the_login_but_its_properties_file_no_password(tmp_path, ca_file):
    from labkit.runtime import streams_proc

    loaded = profile.load(written(tmp_path, fields()))
    settings = streams_proc.login_settings(loaded)
    assert settings == {
        k: v for k, v in profile.java_options(loaded, shaded=False).items() if k != "sasl.jaas.config"
    }
    assert settings["ssl.truststore.location"] == str(ca_file.resolve())
    text = profile.properties_text({"a b": " x\\y\né", "k": "v😀"})
    assert text == "a\\ b=\\ x\\\\y\\né\nk=v\\ud83d\\ude00\n"
    text.encode("latin-1")  # what Properties.load(InputStream) reads


def test_a_prefix_names_the_learners_own_topics_and_leaves_shared_ones(tmp_path):
    base = profile.Profile(("127.0.0.1:9092",), "SASL_SSL", "SCRAM-SHA-512", "learner-01", "pw")
    named = dataclasses.replace(base, topic_prefix="learner-01.", shared_prefix="shared.")
    assert profile.kafka_name(named, "l01-clicks") == "learner-01.l01-clicks"
    assert profile.kafka_name(named, "learner-01.l01-clicks") == "learner-01.l01-clicks"  # once only
    assert profile.kafka_name(named, "shared.payments") == "shared.payments"
    assert profile.kafka_name(base, "l01-clicks") == "l01-clicks"
    assert profile.kafka_name(None, "l01-clicks") == "l01-clicks"
    # the file round trip keeps them; a bad prefix is a clear error
    path = profile.write(tmp_path / "p.json", named)
    assert profile.load(path).topic_prefix == "learner-01." and profile.load(path).shared_prefix == "shared."
    data = {**profile.to_json(named), "topic_prefix": "bad prefix!"}
    with pytest.raises(profile.ProfileError, match="topic_prefix is letters"):
        profile.parse(data)
