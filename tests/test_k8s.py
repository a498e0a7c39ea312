"""probes/k8s/: every manifest parses, is shaped like the Kubernetes object it says it is, and
calls commands, flags, files, ports and paths that voiceobs really has.

No cluster and no schema validator here: the structure is checked field by
field, each container's argv is resolved through the real click tree (types
and all), the files it names are keys of the ConfigMap mounted where it
looks and load with voiceobs's own loaders, and the probe paths are asked of
the real servers (``voiceobs collect`` is started and answers them).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import click
import httpx
import pytest
import yaml

from tests.helpers import command, free_port, wait_http
from voiceobs.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "probes" / "k8s"
#: The API group/version each kind the manifests use lives in.
API = {
    "CronJob": "batch/v1",
    "Job": "batch/v1",
    "Deployment": "apps/v1",
    "Service": "v1",
    "ConfigMap": "v1",
    "PersistentVolumeClaim": "v1",
}


def _docs() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                out.append((path.name, doc))
    return out


DOCS = _docs()


def _of(kind: str) -> list[dict[str, Any]]:
    return [d for _, d in DOCS if d["kind"] == kind]


def _pod(doc: dict[str, Any]) -> dict[str, Any]:
    """The pod template's spec of a workload."""
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return dict(spec["template"]["spec"])


def _workloads() -> list[dict[str, Any]]:
    return [d for _, d in DOCS if d["kind"] in ("CronJob", "Job", "Deployment")]


def _containers() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for doc in _workloads():
        for container in _pod(doc)["containers"]:
            yield doc, container


def _resolve(argv: list[str]) -> tuple[click.Command, click.Context]:
    """Parse ``argv`` through the real click tree (every subcommand, option and type), run nothing."""
    current: click.Command = cli
    rest, path = list(argv), ["voiceobs"]
    while isinstance(current, click.Group):
        assert rest, f"{' '.join(path)} needs a subcommand"
        name, *rest = rest
        sub = current.get_command(click.Context(current), name)
        assert sub is not None, f"no command {' '.join([*path, name])!r} (from {argv})"
        current, path = sub, [*path, name]
    return current, current.make_context(" ".join(path), rest)


def _config() -> dict[str, str]:
    [config] = [d for d in _of("ConfigMap") if d["metadata"]["name"] == "voiceobs-config"]
    return dict(config["data"])


def test_every_manifest_is_a_kubernetes_object_of_a_known_kind() -> None:
    assert {d["kind"] for _, d in DOCS} == set(API)
    names = set()
    for file, doc in DOCS:
        assert doc["apiVersion"] == API[doc["kind"]], file
        meta = doc["metadata"]
        assert isinstance(meta["name"], str) and len(meta["name"]) <= 52, (
            file
        )  # CronJob names <= 52
        assert "namespace" not in meta, "applied into the namespace the team chooses"
        assert isinstance(doc.get("data" if doc["kind"] == "ConfigMap" else "spec"), dict), file
        assert (doc["kind"], meta["name"]) not in names, f"{meta['name']} twice"
        names.add((doc["kind"], meta["name"]))


def test_workloads_select_their_own_pods_and_services_reach_them() -> None:
    for doc in _of("Deployment"):
        labels = doc["spec"]["template"]["metadata"]["labels"]
        assert doc["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for doc in _workloads():
        restart = _pod(doc).get("restartPolicy")
        if doc["kind"] != "Deployment":
            assert restart in ("Never", "OnFailure")
    for svc in _of("Service"):
        selected = [
            d
            for d in _of("Deployment")
            if svc["spec"]["selector"].items()
            <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(selected) == 1, svc["metadata"]["name"]
        ports = {
            p["name"]: p["containerPort"]
            for c in _pod(selected[0])["containers"]
            for p in c["ports"]
        }
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in ports
            assert port["port"] == ports[port["targetPort"]]


def test_every_container_runs_a_voiceobs_command_that_exists() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    seen = set()
    for _doc, container in _containers():
        assert container["command"] == ["voiceobs"] and "voiceobs" in scripts
        assert all(isinstance(a, str) for a in container["args"])
        _resolve(container["args"])
        seen.add(tuple(container["args"][:2]))
        assert container["image"] == "ghcr.io/example/voiceobs:0.1.0"
    assert {a[0] for a in seen} >= {"probe", "watch", "collect", "dashboard", "db"}


def test_every_container_reads_the_store_url_from_the_secret() -> None:
    for doc, container in _containers():
        [url] = [e for e in container["env"] if e["name"] == "VOICEOBS_DB_URL"]
        assert url["valueFrom"]["secretKeyRef"] == {"name": "voiceobs-db", "key": "url"}, doc[
            "metadata"
        ]["name"]


def test_files_the_commands_name_are_in_the_mounted_configmap_and_load() -> None:
    from voiceobs.probe import parse_spec

    data = _config()
    named: set[str] = set()
    for doc, container in _containers():
        pod = _pod(doc)
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        assert set(mounts.values()) <= set(volumes), doc["metadata"]["name"]
        for arg in container["args"]:
            if arg.startswith("/") and arg.endswith(".yaml"):
                where = PurePosixPath(arg)
                volume = volumes[mounts[str(where.parent)]]
                assert volume["configMap"]["name"] == "voiceobs-config"
                assert where.name in data, arg
                named.add(where.name)
    assert named == set(data), "every file in the ConfigMap is used"
    probes = {parse_spec(data[n], n).name for n in data if "turns:" in data[n]}
    assert len(probes) == 2


@pytest.fixture
def config_files(tmp_path: Path) -> Path:
    for name, text in _config().items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_the_slos_and_hooks_load_and_select_the_probes(config_files: Path) -> None:
    from voiceobs.failover import load_hooks
    from voiceobs.probe import load_spec
    from voiceobs.slo import load_slos

    slos = load_slos(config_files / "slos.yaml")
    hooks = load_hooks(config_files / "hooks.yaml")
    assert slos and hooks.hooks
    probes = {load_spec(config_files / n).name for n in ("agent.yaml", "load.yaml")}
    assert {s.selector.probe for s in slos} <= probes


def test_probe_cronjobs_never_overlap_and_the_load_probe_uses_workers(config_files: Path) -> None:
    from voiceobs.probe import load_spec
    from voiceobs.probe.workers import concurrent_calls

    for job in _of("CronJob"):
        assert job["spec"]["concurrencyPolicy"] == "Forbid"
        assert job["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0
    [load] = [j for j in _of("CronJob") if "--workers" in _pod(j)["containers"][0]["args"]]
    container = _pod(load)["containers"][0]
    _, ctx = _resolve(container["args"])
    workers = int(ctx.params["workers"])
    spec = load_spec(config_files / Path(container["args"][2]).name)
    # One process paces about 200 calls (benchmarks/probe/PACING.md): a worker per 200, a CPU each.
    assert workers * 200 >= concurrent_calls(spec)
    assert float(container["resources"]["limits"]["cpu"]) >= workers


def test_one_active_evaluator() -> None:
    [watch] = [d for d in _of("Deployment") if _pod(d)["containers"][0]["args"][0] == "watch"]
    assert watch["spec"]["replicas"] == 1
    assert watch["spec"]["strategy"] == {"type": "Recreate"}


def _served(args: str) -> tuple[dict[str, Any], dict[str, Any]]:
    [doc] = [d for d in _of("Deployment") if _pod(d)["containers"][0]["args"][0] == args]
    return doc, _pod(doc)["containers"][0]


def test_collect_listens_on_4318_on_every_interface() -> None:
    _, container = _served("collect")
    _, ctx = _resolve(container["args"])
    assert ctx.params["port"] == 4318 and ctx.params["host"] == "0.0.0.0"
    assert [p["containerPort"] for p in container["ports"]] == [4318]
    probes = [container["livenessProbe"], container["readinessProbe"]]
    assert [p["httpGet"]["path"] for p in probes] == ["/healthz", "/readyz"]
    assert all(p["httpGet"]["port"] == container["ports"][0]["name"] for p in probes)


@pytest.mark.slow
def test_collects_health_paths_answer_on_the_real_server(sqlite_url: str) -> None:
    _, container = _served("collect")
    port = free_port()
    args = [a if a != "4318" else str(port) for a in container["args"]]
    args = [a if a != "0.0.0.0" else "127.0.0.1" for a in args]
    with command(*args, "--db", sqlite_url) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + container["livenessProbe"]["httpGet"]["path"], proc, 60)
        assert (
            httpx.get(base + container["readinessProbe"]["httpGet"]["path"], timeout=5).status_code
            == 200
        )


def test_the_dashboard_serves_on_its_port_and_its_probe_path_is_streamlits_health_route() -> None:
    from streamlit.web.server.starlette.starlette_routes import create_health_routes

    _, container = _served("dashboard")
    _, ctx = _resolve(container["args"])
    assert ctx.params["port"] == container["ports"][0]["containerPort"] == 8501
    assert ctx.params["host"] == "0.0.0.0"
    paths = {route.path for route in create_health_routes(None, None)}  # type: ignore[arg-type, attr-defined]
    for probe in (container["readinessProbe"], container["livenessProbe"]):
        assert probe["httpGet"]["path"] in paths
    env = {e["name"] for e in container["env"]}
    # Settings the dashboard reads (voiceobs.users.users_file, dashkit.session's key).
    assert {"VOICEOBS_USERS_FILE", "VOICEOBS_DASHBOARD_SESSION_KEY"} <= env


def test_the_readme_says_how_to_make_the_secret_every_pod_reads() -> None:
    text = (K8S / "README.md").read_text()
    assert "kubectl create secret generic voiceobs-db" in text and "--from-literal=url=" in text
    for name in {p.name for p in K8S.glob("*.yaml")}:
        assert f"`{name}`" in text, f"{name} is not listed in probes/k8s/README.md"
