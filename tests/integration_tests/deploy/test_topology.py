"""The compose file and the plain-process cluster (`make cluster`) are one topology:
the same versions, the same Aegra settings and environment names, the same balancer
config. Docker does not run here, so this reads the files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.integration_tests.deploy._cluster import ROOT, load_cluster_module

DEPLOY = ROOT / "deploy"
cluster = load_cluster_module()


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def _aegra_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in compose["services"].items() if k.startswith("aegra")}


def test_images_have_the_versions_of_cluster_env() -> None:
    settings = cluster.read_settings()
    services = _compose()["services"]
    assert services["postgres"]["image"] == f"postgres:{settings['POSTGRES_VERSION']}"
    assert services["redis"]["image"] == f"redis:{settings['REDIS_VERSION']}"
    assert services["haproxy"]["image"] == f"haproxy:{settings['HAPROXY_VERSION']}"
    for name, service in _aegra_services(_compose()).items():
        assert service["build"]["args"]["AEGRA_VERSION"] == settings["AEGRA_VERSION"], name
        assert service["image"].endswith(f":{settings['AEGRA_VERSION']}"), name
    dockerfile = (DEPLOY / "Dockerfile.aegra").read_text()
    assert re.search(r"^FROM python:3\.1[2-9]", dockerfile, re.M)
    assert '"aegra-api==${AEGRA_VERSION}"' in dockerfile


def test_two_aegra_instances_with_the_same_settings_and_env_names() -> None:
    services = _aegra_services(_compose())
    assert sorted(services) == ["aegra1", "aegra2"]
    local = cluster.Cluster(state=Path("/nonexistent"), instances=2)
    for name, service in services.items():
        assert service["env_file"][0] == "cluster.env", name
        assert set(service["environment"]) == set(cluster.INSTANCE_ENV), name
        assert service["environment"]["AEGRA_CONFIG"] == "/app/langgraph.json"
        assert service["environment"]["DATABASE_URL"].endswith("/aegra")
        # the swarm graph spreads its sub-agents over every instance
        ports = {s: services[s]["environment"]["PORT"] for s in services}
        assert service["environment"]["KIMI_SUBAGENT_URLS"].split(",") == [
            f"http://{s}:{p}" for s, p in sorted(ports.items())
        ]
        for index in range(2):
            env = local.instance_env(index)
            # what the local instances get: cluster.env's Aegra settings and the same names
            assert set(cluster.INSTANCE_ENV) <= set(env)
            assert cluster.aegra_settings(local.settings).items() <= env.items()
            assert env["AEGRA_CONFIG"] == str(ROOT / "langgraph.json")
            assert env["KIMI_SUBAGENT_URLS"].split(",") == local.instance_urls
    assert local.instance_env(0)["DATABASE_URL"].endswith("/aegra?sslmode=disable")


def test_cluster_env_holds_the_lease_settings_of_the_failover_contract() -> None:
    settings = cluster.read_settings()
    assert settings["REDIS_BROKER_ENABLED"] == "true"  # the multi-instance queue
    lease = int(settings["LEASE_DURATION_SECONDS"])
    beat = int(settings["HEARTBEAT_INTERVAL_SECONDS"])
    assert lease == 9 and lease > 2 * beat and int(settings["REAPER_INTERVAL_SECONDS"]) == 3
    assert not set(cluster.VERSION_KEYS) & set(cluster.aegra_settings(settings))


def test_one_balancer_config_for_both() -> None:
    service = _compose()["services"]["haproxy"]
    assert service["volumes"] == ["./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"]
    assert set(service["environment"]) == set(cluster.BALANCER_ENV)
    local = cluster.Cluster(state=Path("/nonexistent"), instances=2).balancer_env()
    assert set(cluster.BALANCER_ENV) <= set(local)
    used = set(re.findall(r'"\$\{(\w+)\}"', (DEPLOY / "haproxy.cfg").read_text()))
    assert used == set(cluster.BALANCER_ENV)
    # the compose instances are the ones the balancer names, on the port they listen on
    for i, name in enumerate(sorted(_aegra_services(_compose())), start=1):
        port = _compose()["services"][name]["environment"]["PORT"]
        assert service["environment"][f"AEGRA_{i}_ADDR"] == f"{name}:{port}"


def test_make_targets_run_the_cluster_script() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^cluster:.*\n\t.*deploy/cluster\.py up", makefile, re.M)
    assert re.search(r"^cluster-down:.*\n\t.*deploy/cluster\.py down", makefile, re.M)
