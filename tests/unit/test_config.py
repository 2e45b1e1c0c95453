"""Config loading: file < environment < overrides, one error listing every problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from damselfly.common.config import env_overrides, load_config, merge
from damselfly.core.errors import InvalidArgument
from damselfly.daemon.config import DaemonConfig
from damselfly.scheduler.config import SchedulerConfig


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, {}),
        ({"DAMSELFLY_DAEMON__STORAGE__DIR": "/x"}, {"storage": {"dir": "/x"}}),
        ({"DAMSELFLY_DAEMON__LOG_LEVEL": "DEBUG"}, {"log_level": "DEBUG"}),
        ({"DAMSELFLY_DAEMON__SEED_PEER__ENABLE": "true"}, {"seed_peer": {"enable": True}}),
        ({"DAMSELFLY_DAEMON__SERVER__PORT": "8"}, {"server": {"port": 8}}),
        (
            {"DAMSELFLY_DAEMON__DOWNLOAD__PIECE_TIMEOUT_S": "2.5"},
            {"download": {"piece_timeout_s": 2.5}},
        ),
        (
            {"DAMSELFLY_DAEMON__SCHEDULER__ADDRESSES": "[a:1, b:2]"},
            {"scheduler": {"addresses": ["a:1", "b:2"]}},
        ),
        ({"DAMSELFLY_DAEMON__READY_FILE": ""}, {"ready_file": ""}),
        (
            {
                "DAMSELFLY_DAEMON__SERVER__PORT": "1",
                "DAMSELFLY_DAEMON__SERVER__UPLOAD_PORT": "2",
            },
            {"server": {"port": 1, "upload_port": 2}},
        ),
        # Other components and unrelated variables are ignored.
        ({"DAMSELFLY_SCHEDULER__SERVER__PORT": "1", "HOME": "/root"}, {}),
        ({"DAMSELFLY_DAEMONX__PORT": "1"}, {}),
    ],
)
def test_env_overrides(environ: dict[str, str], expected: dict[str, Any]) -> None:
    assert env_overrides("daemon", environ) == expected


def test_merge_is_deep_and_does_not_touch_inputs() -> None:
    base: dict[str, Any] = {"a": {"b": 1, "c": 2}, "d": 3}
    merged = merge(base, {"a": {"c": 20, "e": 5}, "f": 6})
    assert merged == {"a": {"b": 1, "c": 20, "e": 5}, "d": 3, "f": 6}
    assert base == {"a": {"b": 1, "c": 2}, "d": 3}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_defaults_without_file_or_environment() -> None:
    config = load_config(SchedulerConfig, "scheduler", environ={})
    assert config == SchedulerConfig.model_validate({})
    assert config.server.port == 8002


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    config = load_config(SchedulerConfig, "scheduler", write(tmp_path, ""), environ={})
    assert config == SchedulerConfig.model_validate({})


def test_precedence_file_then_env_then_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "storage:\n  dir: /from/file\n"
        "server:\n  port: 1111\n  upload_port: 2222\n"
        "log_level: WARNING\n",
    )
    environ = {
        "DAMSELFLY_DAEMON__SERVER__PORT": "3333",
        "DAMSELFLY_DAEMON__LOG_LEVEL": "ERROR",
    }
    config = load_config(
        DaemonConfig, "daemon", path, overrides={"log_level": "DEBUG"}, environ=environ
    )
    assert config.storage.dir == "/from/file"  # file only
    assert config.server.upload_port == 2222  # file, sibling of an env-set key survives
    assert config.server.port == 3333  # env beats file
    assert config.log_level == "DEBUG"  # overrides beat env and file


def test_env_sets_nested_key() -> None:
    config = load_config(
        DaemonConfig,
        "daemon",
        environ={
            "DAMSELFLY_DAEMON__STORAGE__DIR": "/data",
            "DAMSELFLY_DAEMON__SEED_PEER__ENABLE": "yes",
        },
    )
    assert config.storage.dir == "/data"
    assert config.seed_peer.enable is True


def test_scheduler_env_uses_its_own_prefix() -> None:
    environ = {
        "DAMSELFLY_SCHEDULER__SCHEDULING__CANDIDATE_PARENT_LIMIT": "7",
        "DAMSELFLY_DAEMON__SERVER__PORT": "not even a number",
    }
    config = load_config(SchedulerConfig, "scheduler", environ=environ)
    assert config.scheduling.candidate_parent_limit == 7


def test_every_problem_in_one_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "storage:\n  dirr: /typo\ndownload:\n  concurrent_pieces: 0\nbogus: 1\n",
    )
    environ = {"DAMSELFLY_DAEMON__SERVER__PORT": "70000"}
    with pytest.raises(InvalidArgument) as info:
        load_config(DaemonConfig, "daemon", path, environ=environ)
    message = str(info.value)
    assert str(path) in message
    for where in ("storage.dirr", "download.concurrent_pieces", "bogus", "server.port"):
        assert where in message


def test_bad_override_value_is_reported() -> None:
    with pytest.raises(InvalidArgument, match=r"scheduling\.retry_interval_s"):
        load_config(
            SchedulerConfig,
            "scheduler",
            overrides={"scheduling": {"retry_interval_s": -1}},
            environ={},
        )


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(InvalidArgument, match="does not exist") as info:
        load_config(DaemonConfig, "daemon", missing, environ={})
    assert str(missing) in str(info.value)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_non_mapping_file(tmp_path: Path, text: str) -> None:
    with pytest.raises(InvalidArgument, match="must hold a mapping"):
        load_config(DaemonConfig, "daemon", write(tmp_path, text), environ={})


def test_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="not valid YAML") as info:
        load_config(DaemonConfig, "daemon", write(tmp_path, "a: [1, 2\n"), environ={})
    # One line, saying where: PyYAML's own text spans several, with a caret drawing.
    assert "\n" not in str(info.value)
    assert "(line 2, column 1)" in str(info.value)


def test_invalid_yaml_in_the_environment() -> None:
    environ = {"DAMSELFLY_DAEMON__DOWNLOAD__CONCURRENT_PIECES": "[1, 2"}
    with pytest.raises(InvalidArgument, match="DAMSELFLY_DAEMON__DOWNLOAD__CONCURRENT_PIECES"):
        load_config(DaemonConfig, "daemon", None, environ=environ)


@pytest.mark.parametrize(("content", "reason"), [(None, "Is a directory"), (b"\xff\xfe", "UTF-8")])
def test_a_config_file_that_cannot_be_read(
    tmp_path: Path, content: bytes | None, reason: str
) -> None:
    path = tmp_path / "config.yaml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(InvalidArgument, match=f"cannot read config file .*{reason}"):
        load_config(DaemonConfig, "daemon", path, environ={})


@pytest.mark.parametrize("address", ["nonsense", "127.0.0.1:99999", ":8002", "host:", "h:0"])
def test_a_scheduler_address_that_is_not_host_port(address: str) -> None:
    overrides = {"scheduler": {"addresses": [address]}}
    with pytest.raises(InvalidArgument) as info:
        load_config(DaemonConfig, "daemon", None, overrides, environ={})
    assert f"scheduler address {address!r} is not host:port" in str(info.value)
    assert "Value error" not in str(info.value)


def test_scheduler_addresses_that_are_host_port() -> None:
    addresses = ["127.0.0.1:8002", "[::1]:8002", "scheduler.example:65535"]
    config = load_config(
        DaemonConfig, "daemon", None, {"scheduler": {"addresses": addresses}}, environ={}
    )
    assert config.scheduler.addresses == addresses
