"""The Pulumi engine built by scripts/build-engine, driven through the Automation API (shared by scripts/stack,
scripts/bench and the end-to-end tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pulumi import automation as auto  # noqa: E402

PROJECT = "llm-d-pd"


def engine_bin() -> Path:
    out = subprocess.run([str(ROOT / "scripts/build-engine"), "--print"], check=True, capture_output=True, text=True)
    path = Path(out.stdout.strip())
    if not (path / "pulumi").exists() or not provider_binary(path).exists():
        raise RuntimeError(f"the engine is not built in {path}; run scripts/build-engine (or `make engine`)")
    return path


def provider_binary(bin_dir: Path) -> Path:
    """scripts/build-engine keeps the provider out of bin/ (which goes on PATH)."""
    return bin_dir.parent / "provider" / "pulumi-resource-kubernetes"


def engine_env(bin_dir: Path) -> dict[str, str]:
    env = {
        "PULUMI_HOME": os.environ.get("PULUMI_HOME", str(ROOT / ".pulumi-home")),
        "PULUMI_BACKEND_URL": os.environ.get("PULUMI_BACKEND_URL", f"file://{ROOT / '.pulumi-state'}"),
        "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", ""),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_SKIP_CONFIRMATIONS": "true",
        # Python policy packs run through scripts/shims/pulumi-analyzer-policy-python in this interpreter.
        "PATH": f"{ROOT / 'scripts' / 'shims'}{os.pathsep}{os.environ.get('PATH', '')}",
        "LLMD_POLICY_PYTHON": sys.executable,
    }
    Path(env["PULUMI_HOME"]).mkdir(parents=True, exist_ok=True)
    if env["PULUMI_BACKEND_URL"].startswith("file://"):
        Path(env["PULUMI_BACKEND_URL"].removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    install_provider(bin_dir, env)
    return env


def install_provider(bin_dir: Path, env: dict[str, str]) -> None:
    """Put the built provider in the plugin cache under the version the pulumi_kubernetes wheel asks for."""
    from importlib.metadata import version

    v = version("pulumi_kubernetes")
    plugin_dir = Path(env["PULUMI_HOME"]) / "plugins" / f"resource-kubernetes-v{v}"
    if (plugin_dir / "pulumi-resource-kubernetes").exists():
        return
    subprocess.run(
        [str(bin_dir / "pulumi"), "plugin", "install", "resource", "kubernetes", v, "--file",
         str(provider_binary(bin_dir))],
        check=True, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def open_stack(
    name: str,
    work_dir: Path = ROOT,
    extra_env: dict[str, str] | None = None,
    program: auto.PulumiFn | None = None,
) -> auto.Stack:
    """Create or select a stack of the project in `work_dir` (its Pulumi.yaml and Pulumi.<name>.yaml), with the
    program run inline by the Python SDK's language runtime."""
    from components.program import main

    bin_dir = engine_bin()
    env = {**engine_env(bin_dir), **(extra_env or {})}
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(work_dir),
        pulumi_home=env["PULUMI_HOME"],
        pulumi_command=auto.PulumiCommand(root=str(bin_dir.parent)),
        env_vars=env,
    )
    return auto.create_or_select_stack(stack_name=name, project_name=PROJECT, program=program or main, opts=opts)
