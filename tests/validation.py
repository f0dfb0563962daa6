"""Validating the objects the program builds: built-in kinds against the Kubernetes OpenAPI schema (strict, so an
unknown field fails), custom resources against the upstream CRDs' OpenAPI schemas and their CEL rules."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import kubernetes_validate
import yaml

from components.config import CRDS_DIR_ENV

KUBERNETES_SCHEMA_VERSION = "1.36.0"


def crds_dir() -> Path:
    d = os.environ.get(CRDS_DIR_ENV)
    if not d:
        raise RuntimeError(f"set {CRDS_DIR_ENV} to the directory of upstream CRD manifests (make test sets it)")
    return Path(d)


@dataclass(frozen=True)
class CrdVersion:
    group: str
    version: str
    kind: str
    schema: dict[str, Any]


@lru_cache(maxsize=8)
def crd_index(folders: tuple[str, ...] | None = None) -> dict[tuple[str, str], CrdVersion]:
    """(apiVersion, kind) -> schema of every served version of every CRD in the directory (or only in these
    folders of it: one release set's bundles, where two GAIE releases would otherwise overlap)."""
    index = {}
    paths = (
        sorted(crds_dir().rglob("*.yaml"))
        if folders is None
        else sorted(p for f in folders for p in (crds_dir() / f).glob("*.yaml"))
    )
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for v in spec["versions"]:
                if v.get("served", True):
                    api = f"{spec['group']}/{v['name']}"
                    index[(api, spec["names"]["kind"])] = CrdVersion(
                        spec["group"], v["name"], spec["names"]["kind"], v["schema"]["openAPIV3Schema"]
                    )
    return index


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """Structural schemas prune unknown fields silently; for tests, make an unknown field an error instead, and map
    Kubernetes extensions to JSON Schema."""
    s = copy.deepcopy(schema)

    def walk(node: dict[str, Any]) -> None:
        if node.get("x-kubernetes-int-or-string"):
            node.pop("type", None)
            node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            node.setdefault("additionalProperties", False)
        for p in node.get("properties", {}).values():
            walk(p)
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                walk(node[key])
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in node.get(key, []):
                walk(sub)

    walk(s)
    # metadata is validated by the API server's ObjectMeta, not the CRD schema.
    s.get("properties", {}).pop("metadata", None)
    return s


@dataclass
class CelReport:
    evaluated: int = 0
    failures: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    """Rules cel-python cannot compile or run (Kubernetes CEL extensions it lacks): reported, never ignored."""


_PROGRAMS: dict[str, Any] = {}


def _compiled(env: celpy.Environment, expr: str) -> Any:
    """A rule compiled once per test run (compiling dominates the cost of validating an object)."""
    if expr not in _PROGRAMS:
        _PROGRAMS[expr] = env.program(env.compile(expr))
    return _PROGRAMS[expr]


def _cel_rules(schema: dict[str, Any], value: Any, path: str, env: celpy.Environment, report: CelReport) -> None:
    if value is None:
        return
    for rule in schema.get("x-kubernetes-validations", []):
        expr = rule["rule"]
        if "oldSelf" in expr:  # transition rules do not run on create
            continue
        try:
            program = _compiled(env, expr)
            ok = program.evaluate({"self": celpy.json_to_cel(value)})
        except Exception as e:
            report.unsupported.append(f"{path}: {expr} ({type(e).__name__})")
            continue
        if isinstance(ok, celpy.CELEvalError):
            report.unsupported.append(f"{path}: {expr} ({ok})")
            continue
        report.evaluated += 1
        if not bool(ok):
            report.failures.append(f"{path}: {rule.get('message') or expr}")
    if isinstance(value, dict):
        for k, sub in schema.get("properties", {}).items():
            if k in value:
                _cel_rules(sub, value[k], f"{path}.{k}", env, report)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for k, v in value.items():
                _cel_rules(extra, v, f"{path}.{k}", env, report)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            _cel_rules(schema["items"], v, f"{path}[{i}]", env, report)


@cache
def _validator(key: tuple[str, str], folders: tuple[str, ...] | None = None) -> Any:
    """The strict schema of a custom kind, checked against its metaschema once (the check dominates a validation)."""
    schema = _strict(crd_index(folders)[key].schema)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_custom(obj: dict[str, Any], folders: tuple[str, ...] | None = None) -> CelReport:
    """Raise jsonschema.ValidationError or AssertionError when the CRD would reject the object."""
    key = (obj["apiVersion"], obj["kind"])
    crd = crd_index(folders).get(key)
    if crd is None:
        raise AssertionError(f"no CRD in {crds_dir()} serves {key}")
    body = {k: v for k, v in obj.items() if k != "metadata"}
    # apiVersion and kind were matched above (Istio's schemas do not declare them).
    _validator(key, folders).validate({k: v for k, v in body.items() if k not in ("apiVersion", "kind")})
    report = CelReport()
    _cel_rules(crd.schema, body, obj["kind"], celpy.Environment(), report)
    assert not report.failures, f"{obj['kind']} {obj['metadata'].get('name')}: CEL rules failed: {report.failures}"
    return report


def validate_builtin(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, KUBERNETES_SCHEMA_VERSION, strict=True)


def validate_object(obj: dict[str, Any], folders: tuple[str, ...] | None = None) -> CelReport | None:
    if (obj["apiVersion"], obj["kind"]) in crd_index(folders):
        return validate_custom(obj, folders)
    validate_builtin(obj)
    return None
