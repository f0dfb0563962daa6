"""The values Kubernetes, GCP, Helm and vLLM constrain, as pydantic types whose errors say what is allowed and the fix.

Every config field that ends up in an object uses one of these, so a value the API server, GCP or the engine would
refuse is refused before anything is registered. Where a maintained parser exists it is used instead of a regex of
our own: lightkube's `parse_quantity` for quantities, `docker-image-py` (a port of distribution/reference) for image
references, `semver` for release versions. The remaining patterns are the published grammars: Kubernetes'
apimachinery validation (DNS labels and subdomains, qualified names, label values, C identifiers), Gateway API's
HTTPRoute rules, and GCP's resource naming rules.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

import semver
from docker_image import reference as image_reference
from lightkube.utils.quantity import parse_quantity
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

# --- integers -------------------------------------------------------------------------------------------------------
INT32_MAX = 2**31 - 1
"""Kubernetes stores replicas, ports, probe thresholds and the like as int32."""
GO_MAX_DURATION_S = (2**63 - 1) // 10**9
"""The longest Go time.Duration (about 292 years), in seconds: the Pulumi engine parses custom timeouts as one."""

NonNegativeInt32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
PositiveInt32 = Annotated[int, Field(ge=1, le=INT32_MAX)]


def go_duration(seconds: int) -> str:
    """A Go duration string (`2460s`) for a whole number of seconds; ValueError beyond time.Duration's range."""
    if not 0 <= seconds <= GO_MAX_DURATION_S:
        raise ValueError(f"{seconds} s is beyond a Go duration (at most {GO_MAX_DURATION_S} s)")
    return f"{seconds}s"


# --- Kubernetes names -----------------------------------------------------------------------------------------------
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS_1123_LABEL_RE = re.compile(rf"^{_LABEL}$")
DNS_1123_SUBDOMAIN_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
DNS_1035_LABEL_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

MAX_PREFIX_LEN = 20
"""The install prefix leads every per-install name (a Service name with a pool and a role after it)."""
MAX_POOL_NAME_LEN = 20


def sanitize_prefix(stack_name: str) -> str:
    """A stack name made into a DNS-1035 label of at most MAX_PREFIX_LEN characters (Service names need 1035: a
    leading letter). `Dev_Stack.2` -> `dev-stack-2`, `9b` -> `s-9b`."""
    s = re.sub(r"[^a-z0-9-]+", "-", stack_name.lower())
    s = re.sub(r"-{2,}", "-", s).strip("-")
    if not s or not s[0].isalpha():
        s = f"s-{s}" if s else "llmd"
    return s[:MAX_PREFIX_LEN].rstrip("-")


_QUALIFIED_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_C_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _dns_label(v: str) -> str:
    if len(v) > 63 or not DNS_1123_LABEL_RE.match(v):
        raise ValueError(
            f"{v!r} is not a DNS-1123 label; use 1 to 63 lower-case letters, digits and '-', starting and ending "
            "with a letter or digit"
        )
    return v


def _dns_subdomain(v: str) -> str:
    if len(v) > 253 or not DNS_1123_SUBDOMAIN_RE.match(v):
        raise ValueError(
            f"{v!r} is not a DNS-1123 subdomain; use at most 253 lower-case letters, digits, '-' and '.', each "
            "dot-separated part starting and ending with a letter or digit (e.g. high-priority)"
        )
    return v


def qualified_name_problem(v: str) -> str | None:
    """Why `v` is not a Kubernetes qualified name (a label or annotation key: [prefix/]name), or None."""
    prefix, slash, name = v.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not DNS_1123_SUBDOMAIN_RE.match(prefix)):
        return f"its prefix {prefix!r} must be a DNS-1123 subdomain (lower-case, e.g. example.com)"
    if not name or len(name) > 63 or not _QUALIFIED_NAME_PART.match(name):
        return "its name must be 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
    return None


def _qualified_name(v: str) -> str:
    problem = qualified_name_problem(v)
    if problem:
        raise ValueError(f"{v!r} is not a qualified name (a label key such as example.com/gpu-type): {problem}")
    return v


def _label_value(v: str) -> str:
    if v and (len(v) > 63 or not _QUALIFIED_NAME_PART.match(v)):
        raise ValueError(
            f"{v!r} is not a label value; use at most 63 letters, digits, '-', '_' or '.', starting and ending "
            "with a letter or digit (or leave it empty)"
        )
    return v


def _env_var_name(v: str) -> str:
    if not _C_IDENTIFIER.match(v):
        raise ValueError(
            f"{v!r} is not an environment variable name; use letters, digits and '_', not starting with a digit "
            "(e.g. VLLM_LOGGING_LEVEL)"
        )
    return v


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
DnsSubdomain = Annotated[str, AfterValidator(_dns_subdomain)]
QualifiedName = Annotated[str, AfterValidator(_qualified_name)]
LabelValue = Annotated[str, AfterValidator(_label_value)]
EnvVarName = Annotated[str, AfterValidator(_env_var_name)]


# --- quantities and images ------------------------------------------------------------------------------------------
def _quantity(v: str) -> str:
    try:
        parsed = parse_quantity(v)
    except (ValueError, TypeError):
        parsed = None
    if parsed is None or v != v.strip():
        raise ValueError(f"{v!r} is not a Kubernetes quantity; write it like 8, 500m, 64Gi or 100G") from None
    return v


def _non_negative_quantity(v: str) -> str:
    _quantity(v)
    if parse_quantity(v) < 0:  # type: ignore[operator]
        raise ValueError(f"{v!r} is negative; resources and sizes must be 0 or more, e.g. 8, 500m or 64Gi")
    return v


Quantity = Annotated[str, AfterValidator(_quantity)]
NonNegativeQuantity = Annotated[str, AfterValidator(_non_negative_quantity)]


def _image(v: str) -> str:
    try:
        ref = image_reference.Reference.parse(v)
    except image_reference.InvalidReference as e:
        raise ValueError(
            f"{v!r} is not an image reference ({e}); write it as registry/repository:tag or "
            "registry/repository@sha256:<64 hex>, lower-case, without spaces"
        ) from None
    if not ref["tag"] and not ref["digest"]:
        raise ValueError(f"{v!r} has no tag; pin a release tag or a digest (repo:v1.2.3 or repo@sha256:...)")
    if ref["tag"] == "latest" and not ref["digest"]:
        raise ValueError(f"{v!r} uses 'latest'; pin a release tag or a digest so every pod runs the same build")
    return v


ImageRef = Annotated[str, AfterValidator(_image)]


# --- release versions -----------------------------------------------------------------------------------------------
def _version(v: str) -> str:
    if not semver.Version.is_valid(v.removeprefix("v")):
        raise ValueError(
            f"{v!r} is not a release version; write a semantic version such as 1.29.1 or v1.5.1 (no 'latest', "
            "paths or trailing text: it becomes part of a download URL)"
        )
    return v


def _commit(v: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{40}", v):
        raise ValueError(f"{v!r} is not a commit; write the full 40-character lower-case hex SHA")
    return v


Version = Annotated[str, AfterValidator(_version)]
"""A chart or CRD bundle release (becomes part of a download URL or a chart version)."""
CommitSha = Annotated[str, AfterValidator(_commit)]


# --- networks -------------------------------------------------------------------------------------------------------
def _ipv4_cidr(v: str) -> str:
    try:
        ipaddress.IPv4Network(v)
    except ValueError:
        raise ValueError(f"{v!r} is not an IPv4 CIDR block with its host bits zero, e.g. 10.0.0.0/20") from None
    return v


def _cidr(v: str) -> str:
    try:
        ipaddress.ip_network(v)
    except ValueError as e:
        raise ValueError(f"{v!r} is not a CIDR such as 10.0.0.0/8 ({e})") from None
    return v


Ipv4Cidr = Annotated[str, AfterValidator(_ipv4_cidr)]
Cidr = Annotated[str, AfterValidator(_cidr)]


# --- Gateway API (HTTPRoute matches) --------------------------------------------------------------------------------
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,256}$")
_PATH_CHARS = re.compile(r"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+$")


def _header_name(v: str) -> str:
    if not _HEADER_NAME.match(v):
        raise ValueError(
            f"{v!r} is not an HTTP header name; use 1 to 256 letters, digits and !#$%&'*+-.^_`|~ (no spaces or ':')"
        )
    return v


def _header_value(v: str) -> str:
    if not 1 <= len(v) <= 4096 or any(ord(c) < 32 or ord(c) == 127 for c in v):
        raise ValueError(f"{v!r} is not an HTTP header value; use 1 to 4096 characters without control characters")
    return v


def _path_prefix(v: str) -> str:
    problems = [
        what
        for bad, what in (
            (not v.startswith("/"), "start with '/'"),
            (len(v) > 1024, "be at most 1024 characters"),
            (not _PATH_CHARS.match(v), "use only URL path characters (letters, digits, -._~!$&'()*+,;=:@/ and %XX)"),
            ("//" in v or "/./" in v or "/../" in v, "not contain '//', '/./' or '/../'"),
            ("%2f" in v.lower() or "#" in v, "not contain '%2F' or '#'"),
            (v.endswith(("/..", "/.")), "not end with '/.' or '/..'"),
        )
        if bad
    ]
    if problems:
        raise ValueError(f"{v!r} is not a Gateway API path prefix; it must {', '.join(problems)} (e.g. /llama)")
    return v


HttpHeaderName = Annotated[str, AfterValidator(_header_name)]
HttpHeaderValue = Annotated[str, AfterValidator(_header_value)]
HttpPathPrefix = Annotated[str, AfterValidator(_path_prefix)]


# --- GCP ------------------------------------------------------------------------------------------------------------
_GCP_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
RESERVATION_RE = re.compile(
    r"^(projects/[a-z][-a-z0-9.:]*[a-z0-9]/reservations/)?[a-z]([-a-z0-9]*[a-z0-9])?"
    r"(/reservationBlocks/[a-z]([-a-z0-9]*[a-z0-9])?)?$"
)


def _gcp_project(v: str) -> str:
    if not re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", v):
        raise ValueError(
            f"{v!r} is not a GCP project id; use 6 to 30 lower-case letters, digits and '-', starting with a letter "
            "(the id, not the display name or number: `gcloud projects list`)"
        )
    return v


def _gcp_region(v: str) -> str:
    if not re.fullmatch(r"[a-z]+-[a-z]+[0-9]+", v):
        raise ValueError(f"{v!r} is not a GCP region; write it like us-central1 (`gcloud compute regions list`)")
    return v


def _gcp_zone(v: str) -> str:
    if not re.fullmatch(r"[a-z]+-[a-z]+[0-9]+-[a-z]", v):
        raise ValueError(f"{v!r} is not a GCP zone; write it like us-central1-b (`gcloud compute zones list`)")
    return v


def _gcp_name(v: str) -> str:
    if not _GCP_NAME.match(v):
        raise ValueError(
            f"{v!r} is not a GCP resource name; use 1 to 63 lower-case letters, digits and '-', starting with a "
            "letter (e.g. a3-ultragpu-8g)"
        )
    return v


def _reservation(v: str) -> str:
    if not RESERVATION_RE.match(v):
        raise ValueError(
            f"{v!r} is not a reservation; write its name, name/reservationBlocks/<block>, or "
            "projects/<project>/reservations/<name>[/reservationBlocks/<block>] (lower-case, no spaces)"
        )
    return v


GcpProjectId = Annotated[str, AfterValidator(_gcp_project)]
GcpRegion = Annotated[str, AfterValidator(_gcp_region)]
GcpZone = Annotated[str, AfterValidator(_gcp_zone)]
GcpResourceName = Annotated[str, AfterValidator(_gcp_name)]
GcpReservation = Annotated[str, AfterValidator(_reservation)]


# --- free text that becomes an argument or a JSON value -------------------------------------------------------------
def _token(v: str) -> str:
    if not v or v != v.strip() or any(ord(c) < 32 or ord(c) == 127 for c in v):
        raise ValueError(f"{v!r} must be non-empty, without control characters or surrounding spaces")
    return v


Token = Annotated[str, AfterValidator(_token)]


# --- pod scheduling shapes (Kubernetes core/v1) ---------------------------------------------------------------------
class KubeModel(BaseModel):
    """A Kubernetes object shape: camelCase keys as the API spells them, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)

    def to_api(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")

    def __iter__(self) -> Any:
        """`dict(shape)` is its API form, as when these fields were plain dicts."""
        yield from self.to_api().items()


class Toleration(KubeModel):
    key: QualifiedName | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: LabelValue | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | None = None

    @model_validator(mode="after")
    def _rules(self) -> Toleration:
        if not self.key and self.operator != "Exists":
            raise ValueError("a toleration without a key must use operator: Exists (it then tolerates every taint)")
        if self.operator == "Exists" and self.value:
            raise ValueError("operator Exists takes no value; remove value or use operator: Equal")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("tolerationSeconds applies only to effect: NoExecute; remove it or set that effect")
        return self


class _Requirement(KubeModel):
    key: QualifiedName
    values: list[Annotated[str, Field(max_length=63)]] | None = None

    def _check_values(self, operator: str) -> None:
        if operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {operator} needs at least one value")
        if operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {operator} takes no values; remove values")
        if operator in ("Gt", "Lt") and (len(self.values or []) != 1 or not (self.values or [""])[0].isdigit()):
            raise ValueError(f"operator {operator} needs exactly one integer value")


class NodeSelectorRequirement(_Requirement):
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]

    @model_validator(mode="after")
    def _rules(self) -> NodeSelectorRequirement:
        self._check_values(self.operator)
        return self


class LabelSelectorRequirement(_Requirement):
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]

    @model_validator(mode="after")
    def _rules(self) -> LabelSelectorRequirement:
        self._check_values(self.operator)
        for v in self.values or []:
            _label_value(v)
        return self


class NodeSelectorTerm(KubeModel):
    match_expressions: list[NodeSelectorRequirement] | None = None
    match_fields: list[NodeSelectorRequirement] | None = None


class NodeSelector(KubeModel):
    node_selector_terms: list[NodeSelectorTerm] = Field(min_length=1)


class PreferredSchedulingTerm(KubeModel):
    weight: Annotated[int, Field(ge=1, le=100)]
    preference: NodeSelectorTerm


class NodeAffinity(KubeModel):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] | None = None


class LabelSelector(KubeModel):
    match_labels: dict[QualifiedName, LabelValue] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


class PodAffinityTerm(KubeModel):
    label_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    namespaces: list[DnsLabel] | None = None
    topology_key: QualifiedName
    match_label_keys: list[QualifiedName] | None = None
    mismatch_label_keys: list[QualifiedName] | None = None


class WeightedPodAffinityTerm(KubeModel):
    weight: Annotated[int, Field(ge=1, le=100)]
    pod_affinity_term: PodAffinityTerm


class PodAffinity(KubeModel):
    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] | None = None
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] | None = None


class Affinity(KubeModel):
    node_affinity: NodeAffinity | None = None
    pod_affinity: PodAffinity | None = None
    pod_anti_affinity: PodAffinity | None = None


SHAPE_MODELS: tuple[type[BaseModel], ...] = (Toleration, Affinity)
"""Kubernetes shapes checked by these models; config errors inside them name the key, never the class."""
