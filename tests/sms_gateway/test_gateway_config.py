"""config.py: SMPP_* parsing and validation."""
import pytest

from sms_gateway import GatewayConfig, GatewayConfigError
from sms_gateway import config as config_module

SMPP_ENV = {"SMPP_TRANSPORT": "smpp", "SMPP_HOST": "127.0.0.1", "SMPP_SYSTEM_ID": "mcrm",
            "SMPP_PASSWORD": "pw"}


def test_defaults_are_the_documented_ones():
    c = GatewayConfig.from_env({})
    assert (c.transport, c.port, c.bind, c.tps, c.window, c.batch_size, c.enquire_link_secs,
            c.reconnect_max_secs) == ("sandbox", 2775, "trx", 10, 10, 50, 30, 60)


def test_from_env_reads_and_types_every_variable():
    env = dict(SMPP_ENV, SMPP_PORT="2776", SMPP_BIND="tx+rx", SMPP_TPS="2.5", SMPP_WINDOW="100",
               SMPP_BATCH_SIZE="200", SMPP_ENQUIRE_LINK_SECS="15", SMPP_RECONNECT_MAX_SECS="30",
               SMPP_SOURCE_TON="5", SMPP_WORKER_ID="gw-2", SMPP_SYSTEM_TYPE="CMT")
    c = GatewayConfig.from_env(env)
    assert (c.port, c.bind, c.tps, c.window, c.batch_size, c.enquire_link_secs, c.reconnect_max_secs,
            c.source_ton, c.worker_id, c.system_type) == (
        2776, "tx+rx", 2.5, 100, 200, 15.0, 30.0, 5, "gw-2", "CMT")


def test_custom_prefix():
    c = GatewayConfig.from_env({"GW_TPS": "3"}, prefix="GW_")
    assert c.tps == 3


@pytest.mark.parametrize("env, variable", [
    ({"SMPP_PORT": "abc"}, "SMPP_PORT"),
    ({"SMPP_PORT": "70000"}, "SMPP_PORT"),
    ({"SMPP_TPS": "-1"}, "SMPP_TPS"),
    ({"SMPP_TPS": "nan"}, "SMPP_TPS"),
    ({"SMPP_WINDOW": "0"}, "SMPP_WINDOW"),
    ({"SMPP_BIND": "rx"}, "SMPP_BIND"),
    ({"SMPP_TRANSPORT": "carrier-pigeon"}, "SMPP_TRANSPORT"),
    ({"SMPP_TRANSPORT": "smpp"}, "SMPP_HOST"),
    ({"SMPP_TRANSPORT": "smpp", "SMPP_HOST": "h"}, "SMPP_SYSTEM_ID"),
    ({"SMPP_PASSWORD": "123456789"}, "SMPP_PASSWORD"),
    ({"SMPP_RECONNECT_MIN_SECS": "5", "SMPP_RECONNECT_MAX_SECS": "1"}, "SMPP_RECONNECT_MAX_SECS"),
    ({"SMPP_ENQUIRE_LINK_SECS": "0"}, "SMPP_ENQUIRE_LINK_SECS"),
    ({"SMPP_MO_REDELIVERY_SECS": "-1"}, "SMPP_MO_REDELIVERY_SECS"),
])
def test_bad_values_fail_at_start_naming_the_variable(env, variable):
    with pytest.raises(GatewayConfigError, match=variable):
        GatewayConfig.from_env(env)


def test_every_field_is_documented_in_the_module_docstring():
    doc = config_module.__doc__
    for name in GatewayConfig.__dataclass_fields__:
        var = "SMPP_" + name.upper()
        if name in ("source_npi", "dest_npi"):
            var = var.rsplit("_", 1)[0]          # documented as SMPP_SOURCE_TON / _NPI
        assert var in doc, var


def test_describe_masks_the_password():
    assert GatewayConfig.from_env(SMPP_ENV).describe()["password"] == "***"


@pytest.mark.parametrize("variable, value", [("SMPP_HOST", "smsc.example"), ("SMPP_SYSTEM_ID", "mcrm"),
                                             ("SMPP_PASSWORD", "pw")])
def test_smsc_settings_with_the_sandbox_transport_are_refused(variable, value):
    with pytest.raises(GatewayConfigError, match=f"{variable}=.*set, but SMPP_TRANSPORT is sandbox.*"
                                                 f"set SMPP_TRANSPORT=smpp, or unset {variable}"):
        GatewayConfig.from_env({variable: value})


def test_errors_never_show_the_password():
    with pytest.raises(GatewayConfigError) as error:
        GatewayConfig.from_env(dict(SMPP_ENV, SMPP_PASSWORD="toolong99"))
    assert "toolong99" not in str(error.value) and "SMPP_PASSWORD=***" in str(error.value)
