"""Strict validation of custom resources against the openAPIV3Schema of their CustomResourceDefinition
(vendored in data/prometheus-operator/, see its SOURCE.md), the way kubernetes-validate --strict
treats built-in kinds: a field the schema does not define is an error, not silently pruned.

The structural schema is turned into JSON Schema (draft 2020-12):
- every object schema without `additionalProperties` or `x-kubernetes-preserve-unknown-fields`
  gets `additionalProperties: false` (the API server would prune such fields: here they fail);
- `nullable: true` admits null; `x-kubernetes-int-or-string` admits an integer or a string;
- `x-kubernetes-list-type: map` (items unique by `x-kubernetes-list-map-keys`) and `set` (unique
  items) are checked, as the API server does;
- `metadata` is Kubernetes' own ObjectMeta from kubernetes-validate's strict schemas, plus the name
  rules the API server applies (DNS-1123 subdomain name, DNS-1123 label namespace).
Not evaluated: CEL rules (`x-kubernetes-validations`; the vendored CRDs have none) and `format`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
from jsonschema import validators
from referencing import Registry, Resource

DATA = Path(__file__).resolve().parent / "data" / "prometheus-operator"
OBJECT_META = "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class UnknownKind(LookupError):
    pass


def vendored() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the vendored document (crd, operator_version, openAPIV3Schema)."""
    out = {}
    for path in sorted(DATA.glob("*.json")):
        doc = json.loads(path.read_text())
        out[(f"{doc['group']}/{doc['version']}", doc["kind"])] = doc
    return out


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema equivalent of a structural OpenAPI v3 schema, with unknown fields refused."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: strict(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = strict(value)
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = [strict(sub) for sub in value]
        else:
            out[key] = value
    if schema.get("x-kubernetes-int-or-string") and "anyOf" not in schema:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (schema.get("type") == "object" and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def _list_type(validator: Any, list_type: str, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
    if not isinstance(instance, list):
        return
    if list_type == "set":
        seen: list[Any] = []
        for item in instance:
            if item in seen:
                yield jsonschema.ValidationError(f"duplicate item {item!r} in a list of type set")
            seen.append(item)
    elif list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys", [])
        seen_keys: set[str] = set()
        for item in instance:
            values = {k: item.get(k) for k in keys} if isinstance(item, dict) else {}
            key = json.dumps(values, sort_keys=True)
            if key in seen_keys:
                yield jsonschema.ValidationError(f"duplicate entry with {values} in a list of type map")
            seen_keys.add(key)


StrictValidator = validators.extend(jsonschema.Draft202012Validator, {"x-kubernetes-list-type": _list_type})


@cache
def _registry() -> Registry:
    version = kubernetes_validate.latest_version()
    name = f"v{version}-local-strict"
    base = Path(kubernetes_validate.__file__).resolve().parent / "kubernetes-json-schema" / name
    definitions = json.loads((base / "_definitions.json").read_text())
    return Resource.from_contents(definitions) @ Registry()  # type: ignore[no-any-return]


@cache
def _validator(api_version: str, kind: str) -> Any:
    docs = vendored()
    if (api_version, kind) not in docs:
        raise UnknownKind(f"no vendored CRD schema for {api_version} {kind} (have: {sorted(docs)})")
    schema = strict(docs[(api_version, kind)]["openAPIV3Schema"])
    schema["properties"]["metadata"] = {"$ref": OBJECT_META}
    schema["properties"]["apiVersion"] = {"const": api_version}
    schema["properties"]["kind"] = {"const": kind}
    schema["required"] = sorted({*schema.get("required", ()), "apiVersion", "kind", "metadata", "spec"})
    return StrictValidator(schema, registry=_registry())


def errors(obj: dict[str, Any]) -> list[str]:
    """Every problem of a custom resource, each as `path: message`; empty when it is valid."""
    validator = _validator(str(obj.get("apiVersion")), str(obj.get("kind")))
    found = [f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
             for e in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))]
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name, namespace = meta.get("name"), meta.get("namespace")
    if not isinstance(name, str) or len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        found.append(f"metadata.name: {name!r} is not a DNS-1123 subdomain")
    if namespace is not None and (not isinstance(namespace, str) or len(namespace) > 63
                                  or not DNS_LABEL.match(namespace)):
        found.append(f"metadata.namespace: {namespace!r} is not a DNS-1123 label")
    return found


def is_custom_resource(obj: dict[str, Any]) -> bool:
    return (str(obj.get("apiVersion")), str(obj.get("kind"))) in vendored()
