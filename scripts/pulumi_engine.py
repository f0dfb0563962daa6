"""The Pulumi engine built by scripts/build-engine, driven through the Automation API (shared by scripts/stack,
scripts/bench and the end-to-end tests)."""

from __future__ import annotations

import contextlib
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
        # Python policy packs and dynamic providers run through scripts/shims/ in this interpreter.
        "PATH": f"{ROOT / 'scripts' / 'shims'}{os.pathsep}{os.environ.get('PATH', '')}",
        "LLMD_POLICY_PYTHON": sys.executable,
        # Dynamic providers (scripts/shims/pulumi-resource-pulumi-python) import the project's modules.
        "LLMD_PROJECT_ROOT": str(ROOT),
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


def pending_create_imports(deployment: dict) -> list[tuple[str, str]]:
    """(URN, provider ID) of every Kubernetes object an interrupted update was creating. The inputs recorded with
    the pending operation hold the object's final name (auto-names included), so each can be imported instead of
    being created a second time, which would orphan an auto-named ConfigMap or Secret."""
    imports = []
    for op in deployment.get("pending_operations") or []:
        res = op.get("resource") or {}
        meta = (res.get("inputs") or {}).get("metadata") or {}
        if op.get("type") != "creating" or not res.get("type", "").startswith("kubernetes:") or not meta.get("name"):
            continue
        ns = meta.get("namespace")
        imports.append((res["urn"], f"{ns}/{meta['name']}" if ns else meta["name"]))
    return imports


def recover(stack: auto.Stack, on_output=print) -> tuple[list[tuple[str, str]], auto.UpResult]:
    """Converge after an interrupted `up` (killed CLI, lost runner): release the lock, import what the interrupted
    update had created (objects it never reached are dropped by the refresh), then `up`. That `up` forces
    server-side-apply ownership: the interrupted run's field manager still owns the fields it wrote, with the same
    values, and every object here belongs to this stack."""
    with contextlib.suppress(auto.CommandError):  # nothing to cancel
        stack.cancel()
    imports = pending_create_imports(dict(stack.export_stack().deployment or {}))
    args = ["refresh", "--yes", "--non-interactive", "--skip-preview", "--color", "never", "--stack", stack.name]
    for urn, object_id in imports:  # a flat list: URN, ID, URN, ID, ...
        args += [f"--import-pending-creates={urn}", f"--import-pending-creates={object_id}"]
    ws = stack.workspace
    assert isinstance(ws, auto.LocalWorkspace)
    ws.pulumi_command.run(args, ws.work_dir, ws.env_vars, on_output=on_output)
    env = ws.env_vars
    assert isinstance(env, dict)  # LocalWorkspace keeps a plain dict
    env["PULUMI_K8S_ENABLE_PATCH_FORCE"] = "true"
    try:
        result = stack.up(on_output=on_output, color="never")
    finally:
        del env["PULUMI_K8S_ENABLE_PATCH_FORCE"]
    return imports, result
