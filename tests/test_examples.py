"""The README's example commands and the files under probes/ work together, as the README shows them.

Every ``voiceobs ...`` line of the README's shell blocks, and every command in
the crontab and CronJob examples, must parse (command, arguments and flags
exist). The commands a newcomer runs first are then run for real, by the
installed CLI, against the reference servers started the way the README
starts them, on copies of probes/ whose ports point at those servers, and
their documented outcome is checked: exit codes and what they print.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import yaml

from tests.helpers import command, free_port, wait_http
from voiceobs.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
#: The ports the example specs name, by pipeline.
PORTS = {"agent": 8765, "echo": 8766, "codec": 8767}


def _readme_commands() -> list[str]:
    lines: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("voiceobs "):
                lines.append(line)
    return lines


def _parses(argv: list[str]) -> None:
    """Resolve ``argv`` through the real click tree the way a shell run would, without running it."""
    command: click.Command = cli
    rest = list(argv)
    path = ["voiceobs"]
    while isinstance(command, click.Group):
        assert rest, f"{' '.join(path)} needs a subcommand"
        name, *rest = rest
        sub = command.get_command(click.Context(command), name)
        assert sub is not None, f"no command {' '.join([*path, name])!r} (from {argv})"
        command, path = sub, [*path, name]
    # Parses options and arguments with their types (durations, choices, ranges), runs nothing.
    command.make_context(" ".join(path), rest)


def test_every_readme_command_parses() -> None:
    commands = _readme_commands()
    assert len(commands) >= 15
    for line in commands:
        argv = shlex.split(os.path.expandvars(line.replace("$GITHUB_STEP_SUMMARY", "summary.md")))[1:]
        _parses(argv)


def test_the_crontab_and_cronjob_call_commands_that_exist_on_specs_that_exist() -> None:
    specs = {p.name for p in (ROOT / "probes").glob("*.yaml")}
    cron = (ROOT / "probes" / "crontab.example").read_text()
    entries = [ln.split(None, 5) for ln in cron.splitlines() if ln[:1].isdigit() or ln[:1] == "*"]
    assert entries and all(len(e) == 6 and e[5].startswith("voiceobs ") for e in entries)
    for *_schedule, line in entries:
        argv = shlex.split(line.split(">")[0])[1:]
        _parses(argv)
        assert Path(argv[2]).name in specs
    job = yaml.safe_load((ROOT / "probes" / "k8s-cronjob.yaml").read_text())
    container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    _parses(container["args"])
    assert Path(container["args"][2]).name in specs


def test_the_slos_select_the_example_probes_and_the_hooks_bind_to_the_slos() -> None:
    from voiceobs.failover import load_hooks
    from voiceobs.failover.incidents import slo_labels
    from voiceobs.probe import load_spec
    from voiceobs.slo import load_slos

    probes = {load_spec(p).name for p in (ROOT / "probes").glob("*.yaml") if "turns:" in p.read_text()}
    slos = load_slos(ROOT / "probes" / "slos.yaml")
    assert {s.selector.probe for s in slos} == probes, "every SLO selects an example probe and back"
    hooks = load_hooks(ROOT / "probes" / "hooks.yaml")
    for hook in hooks.hooks:
        bound = [s for s in slos if any(hook.match.matches(s.name, slo_labels(s), sev) for sev in ("page", "ticket"))]
        assert bound, f"hook {hook.name} binds to no example SLO"


# -- run for real -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """`voiceobs serve --pipeline X --port P`, as the README starts them, on free ports."""
    ports = {name: free_port() for name in PORTS}
    workdir = tmp_path_factory.mktemp("servers")
    token = workdir / "admin-token"
    token.write_text("example-admin-token-123\n")
    token.chmod(0o600)
    with (
        command("serve", "--pipeline", "agent", "--port", str(ports["agent"]),
                "--admin-token-file", str(token)) as agent,
        command("serve", "--pipeline", "echo", "--port", str(ports["echo"])) as echo,
        command("serve", "--pipeline", "codec", "--port", str(ports["codec"])) as codec,
    ):  # fmt: skip
        for name, proc in (("agent", agent), ("echo", echo), ("codec", codec)):
            wait_http(f"http://127.0.0.1:{ports[name]}/readyz", proc, 180.0)
        yield ports


@pytest.fixture
def examples(tmp_path: Path, servers: dict[str, int]) -> Path:
    """A copy of probes/ whose targets point at the running servers (the only change)."""
    out = tmp_path / "probes"
    shutil.copytree(ROOT / "probes", out)
    for path in out.glob("*.yaml"):
        text = path.read_text()
        for name, port in PORTS.items():
            text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{servers[name]}")
        path.write_text(text)
    return tmp_path


def _voiceobs(cwd: Path, *argv: str, db: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VOICEOBS_DB_URL": db}
    return subprocess.run(
        [sys.executable, "-m", "voiceobs.cli.main", *argv],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def _readme(prefix: str) -> list[str]:
    [line] = [c for c in _readme_commands() if c.startswith(prefix)]
    return shlex.split(line.replace("$GITHUB_STEP_SUMMARY", "summary.md"))[1:]


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["echo", "codec", "agent"])
def test_each_example_probe_passes_against_its_reference_server(examples: Path, spec: str) -> None:
    db = f"sqlite:///{examples / 'store.db'}"
    done = _voiceobs(examples, *_readme(f"voiceobs probe run probes/{spec}.yaml"), db=db)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1/1 calls succeeded" in done.stdout


@pytest.mark.slow
def test_the_readme_gate_gates_the_agent_and_skips_what_no_probe_fed(examples: Path) -> None:
    db = f"sqlite:///{examples / 'store.db'}"
    assert _voiceobs(examples, "db", "upgrade", db=db).returncode == 0
    argv = _readme("voiceobs gate")
    done = _voiceobs(examples, *argv, db=db)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    cases = {c.get("name"): c for c in ET.parse(examples / "slo-report.xml").getroot().iter("testcase")}
    agent = [n for n in cases if n.startswith("agent-")]
    assert len(agent) == 3
    for name in agent:
        assert cases[name].find("failure") is None and cases[name].find("skipped") is None, name
    others = [n for n in cases if not n.startswith("agent-")]
    assert others and all(cases[n].find("skipped") is not None for n in others)
    assert "SLO gate: passed" in (examples / "summary.md").read_text()
    # The other README commands over what the gate stored.
    status = _voiceobs(examples, *_readme("voiceobs slo status"), db=db)
    assert status.returncode == 0 and "agent-latency" in status.stdout, status.stdout
    as_json = _voiceobs(examples, *_readme("voiceobs slo status"), "--json", db=db)
    standing = {r["name"]: r["standing"] for r in json.loads(as_json.stdout)}
    assert {standing[n] for n in agent} == {"met"}
    evaluate = _voiceobs(examples, *_readme("voiceobs evaluate"), "--dry-run", db=db)
    assert evaluate.returncode == 0, evaluate.stderr
