#!/usr/bin/env python3
"""Fake Kubernetes API server for orgsecrets tests (test fixture only).

Strict where clients can get things wrong (auth, TLS, validation, optimistic
concurrency, watch semantics); simple where the real server's behaviour does
not matter to orgsecrets. See README.md in this folder.
Standard library only.
"""

import argparse
import base64
import binascii
import bisect
import hashlib
import hmac
import json
import os
import random
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 3 * 1024 * 1024
MAX_HISTORY = 500000
SECRET_MAX = 1024 * 1024
ANNOTATIONS_MAX = 256 * 1024

# ---------------------------------------------------------------------------
# Resource registry


class Resource:
    def __init__(self, group, version, plural, kind, namespaced, short=(),
                 status=False, generation=False, custom=False,
                 field_selectors=(), unconditional=None, create_on_update=False):
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
        self.short = list(short)
        self.status = status            # has a /status subresource
        self.generation = generation    # server maintains metadata.generation
        self.custom = custom            # behaves like a CRD-backed resource
        # PUT without metadata.resourceVersion: refused (422) for CRs and Leases, as upstream
        self.unconditional = (not custom) if unconditional is None else unconditional
        self.create_on_update = create_on_update
        self.field_selectors = set(field_selectors) | {
            "metadata.name", "metadata.namespace"}
        self.key = (group or "core") + "/" + plural
        self.api_version = (group + "/" + version) if group else version
        self.singular = kind.lower()

    def qualified(self):
        """Resource name as used in Status messages: secrets, leases.coordination.k8s.io."""
        return self.plural if not self.group else self.plural + "." + self.group


RESOURCES = [
    Resource("", "v1", "namespaces", "Namespace", False, ["ns"],
             field_selectors=["status.phase"]),
    Resource("", "v1", "secrets", "Secret", True, field_selectors=["type"]),
    Resource("", "v1", "configmaps", "ConfigMap", True, ["cm"]),
    Resource("", "v1", "events", "Event", True, ["ev"],
             field_selectors=["involvedObject.kind", "involvedObject.namespace",
                              "involvedObject.name", "involvedObject.uid",
                              "involvedObject.apiVersion",
                              "involvedObject.resourceVersion",
                              "involvedObject.fieldPath", "reason",
                              "reportingComponent", "source", "type"]),
    Resource("coordination.k8s.io", "v1", "leases", "Lease", True, unconditional=False,
             create_on_update=True),
    Resource("apps", "v1", "deployments", "Deployment", True, ["deploy"],
             status=True, generation=True),
    Resource("apps", "v1", "statefulsets", "StatefulSet", True, ["sts"],
             status=True, generation=True),
    Resource("apps", "v1", "daemonsets", "DaemonSet", True, ["ds"],
             status=True, generation=True),
    Resource("events.k8s.io", "v1", "events", "Event", True, ["ev"],
             field_selectors=["regarding.kind", "regarding.namespace",
                              "regarding.name", "regarding.uid",
                              "reason", "reportingController", "type"]),
    Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions",
             "CustomResourceDefinition", False, ["crd", "crds"]),
    Resource("orgsecrets.io", "v1", "organizations", "Organization", False,
             status=True, generation=True, custom=True),
    Resource("orgsecrets.io", "v1", "orgsecrets", "OrgSecret", False,
             status=True, generation=True, custom=True),
]
BY_GV_PLURAL = {(r.group, r.version, r.plural): r for r in RESOURCES}
BY_KEY = {r.key: r for r in RESOURCES}
GROUP_VERSIONS = {}
for _r in RESOURCES:
    GROUP_VERSIONS.setdefault(_r.group, [])
    if _r.version not in GROUP_VERSIONS[_r.group]:
        GROUP_VERSIONS[_r.group].append(_r.version)
NAMESPACES = BY_GV_PLURAL[("", "v1", "namespaces")]

# ---------------------------------------------------------------------------
# Errors as Status objects


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self):
        st = {"kind": "Status", "apiVersion": "v1", "metadata": {},
              "status": "Failure", "message": self.message,
              "reason": self.reason, "code": self.code}
        if self.details is not None:
            st["details"] = self.details
        return st


def res_details(res, name):
    d = {"name": name, "kind": res.plural}
    if res.group:
        d["group"] = res.group
    return d


def not_found(res, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (res.qualified(), name),
                    res_details(res, name))


def already_exists(res, name):
    return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (res.qualified(), name),
                    res_details(res, name))


def conflict(res, name, why=None):
    why = why or ("the object has been modified; please apply your changes "
                  "to the latest version and try again")
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": %s'
                    % (res.qualified(), name, why), res_details(res, name))


def bad_request(msg):
    return ApiError(400, "BadRequest", msg)


def gone(msg):
    return ApiError(410, "Expired", msg)


class Invalid:
    """Collects field errors; raise() builds a 422 like the real server."""

    def __init__(self, res, name):
        self.res = res
        self.name = name
        self.causes = []

    def add(self, field, value, detail, reason="FieldValueInvalid", shown=None):
        if reason == "FieldValueRequired":
            msg = "Required value" + (": " + detail if detail else "")
        elif reason == "FieldValueTooLong":
            msg = "Too long: " + detail
        elif reason == "FieldValueForbidden":
            msg = "Forbidden: " + detail
        elif reason == "FieldValueNotSupported":
            msg = "Unsupported value: %s: %s" % (json.dumps(value), detail)
        elif reason == "FieldValueDuplicate":
            msg = "Duplicate value: %s" % json.dumps(value)
        else:
            msg = "Invalid value: %s: %s" % (shown or json.dumps(value), detail)
        self.causes.append({"reason": reason, "message": msg, "field": field})

    def check(self):
        if not self.causes:
            return
        text = ", ".join("%s: %s" % (c["field"], c["message"]) for c in self.causes)
        if len(self.causes) > 1:
            text = "[" + text + "]"
        d = {"name": self.name or "", "kind": self.res.kind, "causes": self.causes}
        if self.res.group:
            d["group"] = self.res.group
        kind = self.res.kind + ("." + self.res.group if self.res.group else "")
        raise ApiError(422, "Invalid", '%s "%s" is invalid: %s'
                       % (kind, self.name or "", text), d)


# ---------------------------------------------------------------------------
# Validation

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
MICROTIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
B64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
B64_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n")

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                 "characters, '-' or '.', and must start and end with an alphanumeric "
                 "character (e.g. 'example.com', regex used for validation is "
                 "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
             "or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
             "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
CONFIG_KEY_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
                  "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation "
                  "is '[-._a-zA-Z0-9]+')")


def is_subdomain(s):
    return isinstance(s, str) and 0 < len(s) <= 253 and DNS1123_SUBDOMAIN.match(s) is not None


def is_label(s):
    return isinstance(s, str) and 0 < len(s) <= 63 and DNS1123_LABEL.match(s) is not None


def qualified_name_errors(key):
    if not isinstance(key, str) or not key:
        return "name part must be non-empty"
    parts = key.split("/")
    if len(parts) > 2:
        return ("a qualified name must consist of alphanumeric characters, '-', '_' or '.', "
                "and must start and end with an alphanumeric character, with an optional "
                "DNS subdomain prefix and '/'")
    name = parts[-1]
    if len(parts) == 2:
        if not parts[0]:
            return "prefix part must be non-empty"
        if not is_subdomain(parts[0]):
            return "prefix part " + SUBDOMAIN_MSG
    if len(name) > 63:
        return "name part must be no more than 63 characters"
    if not QUALIFIED_NAME.match(name):
        return ("name part must consist of alphanumeric characters, '-', '_' or '.', and must "
                "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  "
                "or '123-abc', regex used for validation is "
                "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
    return None


def require_string_map(obj, path):
    if obj is None:
        return
    if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
        raise bad_request("json: cannot unmarshal %s into Go struct field %s of type map[string]string"
                          % (type(obj).__name__, path))


def decode_b64(value, field, kind):
    """Go's encoding/json []byte decoding: StdEncoding, padding required, CR/LF ignored."""
    if not isinstance(value, str):
        raise bad_request("%s in version \"v1\" cannot be handled as a %s: json: cannot unmarshal "
                          "%s into Go value of type []uint8" % (kind, kind, type(value).__name__))
    v = value.replace("\r", "").replace("\n", "")
    if len(v) % 4 != 0 or not B64.match(v):
        bad = next((i for i, ch in enumerate(value) if ch not in B64_CHARS), None)
        if bad is None:
            bad = len(value) - len(value) % 4 if len(value) % 4 else max(0, value.find("="))
        raise bad_request("%s in version \"v1\" cannot be handled as a %s: illegal base64 data "
                          "at input byte %d" % (kind, kind, bad))
    try:
        return base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("%s in version \"v1\" cannot be handled as a %s: illegal base64 data "
                          "(field %s)" % (kind, kind, field))


def check_config_key(inv, field, key):
    if len(key) > 253:
        inv.add(field, key, "must be no more than 253 characters")
    elif not CONFIG_KEY.match(key):
        inv.add(field, key, CONFIG_KEY_MSG)
    elif key in (".", "..") or key.startswith(".."):
        inv.add(field, key, "must not be '.' or '..' or start with '..'")


def validate_meta(res, obj, inv, creating):
    meta = obj["metadata"]
    name = meta.get("name")
    if not name:
        if not (creating and meta.get("generateName")):
            inv.add("metadata.name", "", "name or generateName is required", "FieldValueRequired")
    elif res is NAMESPACES:
        if not is_label(name):
            inv.add("metadata.name", name, LABEL_MSG if len(name) <= 63
                    else "must be no more than 63 characters")
    elif not is_subdomain(name):
        inv.add("metadata.name", name, SUBDOMAIN_MSG if len(name) <= 253
                else "must be no more than 253 characters")
    labels = meta.get("labels") or {}
    require_string_map(labels, "ObjectMeta.metadata.labels")
    for k, v in labels.items():
        err = qualified_name_errors(k)
        if err:
            inv.add("metadata.labels", k, err)
        if len(v) > 63:
            inv.add("metadata.labels", v, "must be no more than 63 characters")
        elif not LABEL_VALUE.match(v):
            inv.add("metadata.labels", v,
                    "a valid label must be an empty string or consist of alphanumeric characters, "
                    "'-', '_' or '.', and must start and end with an alphanumeric character "
                    "(e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
                    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
    ann = meta.get("annotations") or {}
    require_string_map(ann, "ObjectMeta.metadata.annotations")
    total = 0
    for k, v in ann.items():
        err = qualified_name_errors(k.lower())
        if err:
            inv.add("metadata.annotations", k, err)
        total += len(k) + len(v)
    if total > ANNOTATIONS_MAX:
        inv.add("metadata.annotations", "", "must have at most %d bytes" % ANNOTATIONS_MAX,
                "FieldValueTooLong")
    if "finalizers" in meta and not isinstance(meta["finalizers"], list):
        raise bad_request("metadata.finalizers must be a list")


def validate_secret(obj, inv, old):
    string_data = obj.pop("stringData", None)
    data = obj.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise bad_request("Secret in version \"v1\" cannot be handled as a Secret: "
                          "data must be an object")
    total = 0
    for k in list(data):
        check_config_key(inv, "data[%s]" % k, k)
        # stored as bytes upstream: null becomes empty, line breaks vanish, output is canonical
        raw = decode_b64(data[k], "data[%s]" % k, "Secret") if data[k] is not None else b""
        data[k] = base64.b64encode(raw).decode("ascii")
        total += len(raw)
    if string_data is not None:
        require_string_map(string_data, "Secret.stringData")
        for k, v in string_data.items():
            check_config_key(inv, "stringData[%s]" % k, k)
            raw = v.encode("utf-8")
            if k in data:
                total -= len(base64.b64decode(data[k]))
            data[k] = base64.b64encode(raw).decode("ascii")
            total += len(raw)
    if data:
        obj["data"] = data
    else:
        obj.pop("data", None)
    if total > SECRET_MAX:
        inv.add("data", "", "must have at most %d bytes" % SECRET_MAX, "FieldValueTooLong")
    if not obj.get("type"):
        obj["type"] = "Opaque"
    stype = obj["type"]
    if not isinstance(stype, str):
        raise bad_request("Secret.type must be a string")
    if stype == "kubernetes.io/tls":
        for k in ("tls.crt", "tls.key"):
            if k not in data:
                inv.add("data[%s]" % k, "", "", "FieldValueRequired")
    elif stype == "kubernetes.io/dockerconfigjson" and ".dockerconfigjson" not in data:
        inv.add("data[.dockerconfigjson]", "", "", "FieldValueRequired")
    if old is not None:
        if old.get("type", "Opaque") != stype:
            inv.add("type", stype, "field is immutable")
        if old.get("immutable") is True:
            if old.get("data") != obj.get("data"):
                inv.add("data", None, "field is immutable when `immutable` is set",
                        "FieldValueForbidden")
            if obj.get("immutable") is not True:
                inv.add("immutable", None, "field is immutable when `immutable` is set",
                        "FieldValueForbidden")


def validate_configmap(obj, inv, old):
    data = obj.get("data") or {}
    require_string_map(data, "ConfigMap.data")
    binary = obj.get("binaryData") or {}
    if not isinstance(binary, dict):
        raise bad_request("ConfigMap.binaryData must be an object")
    total = 0
    for k, v in data.items():
        check_config_key(inv, "data[%s]" % k, k)
        total += len(k) + len(v.encode("utf-8"))
    for k, v in binary.items():
        check_config_key(inv, "binaryData[%s]" % k, k)
        if k in data:
            inv.add("data[%s]" % k, k, "duplicate of key present in binaryData", "FieldValueInvalid")
        total += len(k) + len(decode_b64(v, "binaryData[%s]" % k, "ConfigMap"))
    if total > SECRET_MAX:
        inv.add("data", "", "must have at most %d bytes" % SECRET_MAX, "FieldValueTooLong")
    if old is not None and old.get("immutable") is True:
        if old.get("data") != obj.get("data") or old.get("binaryData") != obj.get("binaryData"):
            inv.add("data", None, "field is immutable when `immutable` is set", "FieldValueForbidden")


def check_microtime(value, field, kind):
    if value is None:
        return
    if not isinstance(value, str) or not MICROTIME.match(value):
        raise bad_request('%s in version "v1" cannot be handled as a %s: parsing time %s as '
                          '"2006-01-02T15:04:05.000000Z07:00": cannot parse (field %s)'
                          % (kind, kind, json.dumps(value), field))


def check_time(value, field, kind):
    if value is None:
        return
    if not isinstance(value, str) or not TIME.match(value):
        raise bad_request('%s in version "v1" cannot be handled as a %s: parsing time %s as '
                          '"2006-01-02T15:04:05Z07:00": cannot parse (field %s)'
                          % (kind, kind, json.dumps(value), field))


def validate_lease(obj, inv):
    spec = obj.get("spec") or {}
    if not isinstance(spec, dict):
        raise bad_request("Lease.spec must be an object")
    for f in ("acquireTime", "renewTime"):
        check_microtime(spec.get(f), "spec." + f, "Lease")
    for f in ("leaseDurationSeconds", "leaseTransitions"):
        v = spec.get(f)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
            raise bad_request("Lease in version \"v1\" cannot be handled as a Lease: "
                              "spec.%s must be an integer" % f)
    if spec.get("leaseDurationSeconds") is not None and spec["leaseDurationSeconds"] <= 0:
        inv.add("spec.leaseDurationSeconds", spec["leaseDurationSeconds"], "must be greater than 0")
    if spec.get("leaseTransitions") is not None and spec["leaseTransitions"] < 0:
        inv.add("spec.leaseTransitions", spec["leaseTransitions"], "must be greater than or equal to 0")
    if spec.get("holderIdentity") is not None and not isinstance(spec["holderIdentity"], str):
        raise bad_request("Lease.spec.holderIdentity must be a string")


def validate_new_style_event(inv, ns, io_ns, controller, instance, action, reason, note):
    """Events with eventTime set (upstream legacyValidateEvent, second branch)."""
    if not io_ns and ns not in ("default", "kube-system"):
        inv.add("involvedObject.namespace", io_ns, "does not match event.namespace")
    if not controller:
        inv.add("reportingController", None, "", "FieldValueRequired")
    else:
        err = qualified_name_errors(controller)
        if err:
            inv.add("reportingController", controller, err)
    if not instance:
        inv.add("reportingInstance", None, "", "FieldValueRequired")
    elif len(instance) > 128:
        inv.add("reportingInstance", "", "can have at most 128 characters")
    if not action:
        inv.add("action", None, "", "FieldValueRequired")
    elif len(action) > 128:
        inv.add("action", "", "can have at most 128 characters")
    if not reason:
        inv.add("reason", None, "", "FieldValueRequired")
    elif len(reason) > 128:
        inv.add("reason", "", "can have at most 128 characters")
    if note and len(note) > 1024:
        inv.add("note", "", "can have at most 1024 characters")


def event_strings(obj, kind, *fields):
    for f in fields:
        if obj.get(f) is not None and not isinstance(obj[f], str):
            raise bad_request('%s in version "v1" cannot be handled as a %s: %s must be a string'
                              % (kind, kind, f))
    return [obj.get(f) or "" for f in fields]


def validate_core_event(obj, inv, ns):
    check_microtime(obj.get("eventTime"), "eventTime", "Event")
    for f in ("firstTimestamp", "lastTimestamp"):
        check_time(obj.get(f), f, "Event")
    inv_obj = obj.get("involvedObject")
    if not isinstance(inv_obj, dict):
        inv_obj = {}
    io_ns = inv_obj.get("namespace") or ""
    controller, instance, action, reason, message = event_strings(
        obj, "Event", "reportingComponent", "reportingInstance", "action", "reason", "message")
    if not obj.get("eventTime"):
        known = [r for r in RESOURCES if r.kind == inv_obj.get("kind")
                 and r.api_version == inv_obj.get("apiVersion")]
        if known and known[0].namespaced and not io_ns:
            inv.add("involvedObject.namespace", None, "required for kind %s" % known[0].kind,
                    "FieldValueRequired")
        elif known and not known[0].namespaced and io_ns:
            inv.add("involvedObject.namespace", io_ns, "not allowed for kind %s" % known[0].kind)
        if io_ns == "":
            if ns not in ("", "default"):
                inv.add("involvedObject.namespace", io_ns, "does not match event.namespace")
        elif io_ns != ns:
            inv.add("involvedObject.namespace", io_ns, "does not match event.namespace")
    else:
        validate_new_style_event(inv, ns, io_ns, controller, instance, action, reason, message)
    t = obj.get("type")
    if t and t not in ("Normal", "Warning"):
        inv.add("type", t, "has invalid value: %s" % t)


def validate_events_v1(obj, inv, ns):
    check_microtime(obj.get("eventTime"), "eventTime", "Event")
    if not obj.get("eventTime"):
        inv.add("eventTime", None, "", "FieldValueRequired")
    t = obj.get("type")
    if t not in ("Normal", "Warning"):
        inv.add("type", "", "has invalid value: %s" % t)
    for f in ("deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount",
              "deprecatedSource"):
        if obj.get(f):
            inv.add(f, "", "needs to be unset")
    reg = obj.get("regarding")
    if not isinstance(reg, dict):
        reg = {}
    controller, instance, action, reason, note = event_strings(
        obj, "Event", "reportingController", "reportingInstance", "action", "reason", "note")
    validate_new_style_event(inv, ns, reg.get("namespace") or "", controller, instance, action,
                             reason, note)


def validate(res, obj, ns, old, creating, schema=None):
    name = obj["metadata"].get("name") or obj["metadata"].get("generateName")
    inv = Invalid(res, name)
    validate_meta(res, obj, inv, creating)
    if schema is not None:
        validate_by_schema(schema, obj, inv)
    if res.key == CRDS_KEY:
        validate_crd(obj, inv)
    if res.key == "core/secrets":
        validate_secret(obj, inv, old)
    elif res.key == "core/configmaps":
        validate_configmap(obj, inv, old)
    elif res.key == "coordination.k8s.io/leases":
        validate_lease(obj, inv)
    elif res.key == "core/events":
        validate_core_event(obj, inv, ns)
    elif res.key == "events.k8s.io/events":
        validate_events_v1(obj, inv, ns)
    for f in ("spec", "status"):
        if f in obj and obj[f] is not None and not isinstance(obj[f], dict):
            raise bad_request("%s in version \"%s\" cannot be handled as a %s: %s must be an object"
                              % (res.kind, res.version, res.kind, f))
    inv.check()


# ---------------------------------------------------------------------------
# Custom resources: the CRD's structural schema (when a CRD is stored) prunes and validates

CRDS_KEY = "apiextensions.k8s.io/customresourcedefinitions"
_GO_RE_CACHE = {}


def go_regex(pattern):
    """Compile an RE2 pattern for Python: '$' must mean end of text, as in Go."""
    rx = _GO_RE_CACHE.get(pattern)
    if rx is None:
        out, i, in_class = [], 0, False
        while i < len(pattern):
            ch = pattern[i]
            if ch == "\\":
                out.append(pattern[i:i + 2])
                i += 2
                continue
            if in_class:
                if ch == "]":
                    in_class = False
            elif ch == "[":
                in_class = True
            elif ch == "$":
                ch = "\\Z"
            out.append(ch)
            i += 1
        try:
            rx = re.compile("".join(out))
        except re.error:
            rx = re.compile(re.escape(pattern))
        _GO_RE_CACHE[pattern] = rx
    return rx


def go_type(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def schema_type_ok(t, v):
    got = go_type(v)
    return got == t or (t == "number" and got == "integer")


RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)\Z")


def schema_prune(schema, value, path, unknown):
    """Drops fields the structural schema does not declare (and non-nullable nulls);
    applies defaults. Mutates value; records dropped paths in unknown."""
    if isinstance(value, dict):
        props = schema.get("properties")
        addl = schema.get("additionalProperties")
        keep = schema.get("x-kubernetes-preserve-unknown-fields") is True or addl is True
        for k in list(value):
            sub = (props or {}).get(k)
            if sub is None and isinstance(addl, dict):
                sub = addl
            v = value[k]
            if v is None and not (sub or {}).get("nullable"):
                del value[k]
                continue
            if sub is not None:
                schema_prune(sub, v, path + "." + k if path else k, unknown)
            elif not keep:
                unknown.append(path + "." + k if path else k)
                del value[k]
        for k, sub in (props or {}).items():
            if k not in value and isinstance(sub, dict) and "default" in sub:
                value[k] = copy_json(sub["default"])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            schema_prune(schema["items"], v, "%s[%d]" % (path, i), unknown)


def schema_check(schema, value, path, inv):
    if value is None:
        return
    t = schema.get("type")
    if t and not schema_type_ok(t, value):
        inv.add(path, go_type(value), "%s in body must be of type %s: %s"
                % (path, t, json.dumps(go_type(value))))
        return
    if "enum" in schema and value not in schema["enum"]:
        inv.add(path, value, "supported values: " + ", ".join(json.dumps(e) for e in schema["enum"]),
                "FieldValueNotSupported")
    if isinstance(value, str):
        n = len(value)
        if "maxLength" in schema and n > schema["maxLength"]:
            inv.add(path, "", "may not be more than %d bytes" % schema["maxLength"],
                    "FieldValueTooLong")
        if "minLength" in schema and n < schema["minLength"]:
            inv.add(path, value, "%s in body should be at least %d chars long"
                    % (path, schema["minLength"]))
        if "pattern" in schema and not go_regex(schema["pattern"]).search(value):
            inv.add(path, value, "%s in body should match '%s'" % (path, schema["pattern"]))
        if schema.get("format") == "date-time" and not RFC3339.match(value):
            inv.add(path, value, "%s in body must be of type date-time: %s"
                    % (path, json.dumps(value)))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema:
            if value < schema["minimum"] or (schema.get("exclusiveMinimum")
                                             and value == schema["minimum"]):
                inv.add(path, value, "%s in body should be greater than %s%s" % (
                    path, "" if schema.get("exclusiveMinimum") else "or equal to ",
                    schema["minimum"]))
        if "maximum" in schema:
            if value > schema["maximum"] or (schema.get("exclusiveMaximum")
                                             and value == schema["maximum"]):
                inv.add(path, value, "%s in body should be less than %s%s" % (
                    path, "" if schema.get("exclusiveMaximum") else "or equal to ",
                    schema["maximum"]))
        fmt = schema.get("format")
        if fmt in ("int32", "int64") and isinstance(value, int):
            bits = 31 if fmt == "int32" else 63
            if not -(1 << bits) <= value < (1 << bits):
                inv.add(path, value, "%s in body must be of type %s" % (path, fmt))
    elif isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            inv.add(path, len(value), "%s in body should have at least %d items"
                    % (path, schema["minItems"]))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            inv.add(path, len(value), "must have at most %d items" % schema["maxItems"],
                    "FieldValueTooMany")
        items = schema.get("items") if isinstance(schema.get("items"), dict) else None
        for i, v in enumerate(value):
            if items:
                schema_check(items, v, "%s[%d]" % (path, i), inv)
        lt = schema.get("x-kubernetes-list-type")
        if lt == "set":
            seen = []
            for i, v in enumerate(value):
                if v in seen:
                    inv.add("%s[%d]" % (path, i), v, "", "FieldValueDuplicate")
                seen.append(v)
        elif lt == "map":
            keys = schema.get("x-kubernetes-list-map-keys") or []
            seen = []
            for i, v in enumerate(value):
                if not isinstance(v, dict):
                    continue
                k = {f: v.get(f) for f in keys}
                if k in seen:
                    inv.add("%s[%d]" % (path, i), k, "", "FieldValueDuplicate")
                seen.append(k)
    elif isinstance(value, dict):
        for req in schema.get("required") or []:
            if req not in value:
                inv.add(path + "." + req if path else req, None, "", "FieldValueRequired")
        props = schema.get("properties") or {}
        addl = schema.get("additionalProperties")
        for k, v in value.items():
            sub = props.get(k) if k in props else (addl if isinstance(addl, dict) else None)
            if sub is not None:
                schema_check(sub, v, path + "." + k if path else k, inv)
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            inv.add(path, len(value), "must have at most %d items" % schema["maxProperties"],
                    "FieldValueTooMany")


def validate_by_schema(schema, obj, inv):
    props = schema.get("properties") or {}
    for k in (set(obj) | set(schema.get("required") or [])) - {"apiVersion", "kind", "metadata"}:
        if k not in obj:
            inv.add(k, None, "", "FieldValueRequired")
        elif k in props:
            schema_check(props[k], obj[k], k, inv)
    meta_props = (props.get("metadata") or {}).get("properties") or {}
    for f in ("name", "generateName"):
        if f in meta_props and obj["metadata"].get(f):
            schema_check(meta_props[f], obj["metadata"][f], "metadata." + f, inv)


def crd_schema_of(crd, version):
    for v in (crd.get("spec") or {}).get("versions") or []:
        if isinstance(v, dict) and v.get("name") == version:
            return ((v.get("schema") or {}).get("openAPIV3Schema")) or None
    return None


def validate_crd(obj, inv):
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    want = "%s.%s" % (names.get("plural", ""), spec.get("group", ""))
    if obj["metadata"].get("name") != want:
        inv.add("metadata.name", obj["metadata"].get("name"),
                'must be spec.names.plural+"."+spec.group')
    if spec.get("scope") not in ("Cluster", "Namespaced"):
        inv.add("spec.scope", spec.get("scope"), 'supported values: "Cluster", "Namespaced"',
                "FieldValueNotSupported")


def prune_by_schema(schema, obj):
    """Top level of a custom resource: everything but apiVersion/kind/metadata is pruned."""
    unknown = []
    props = schema.get("properties") or {}
    for k in list(obj):
        if k in ("apiVersion", "kind", "metadata"):
            continue
        if obj[k] is None and not (props.get(k) or {}).get("nullable"):
            del obj[k]
        elif k in props:
            schema_prune(props[k], obj[k], k, unknown)
        elif schema.get("x-kubernetes-preserve-unknown-fields") is not True:
            unknown.append(k)
            del obj[k]
    return unknown


# ---------------------------------------------------------------------------
# Selectors


class LabelSelector:
    """Parses the label selector grammar of k8s.io/apimachinery/pkg/labels."""

    def __init__(self, text):
        self.reqs = []
        text = (text or "").strip()
        if not text:
            return
        for part in self.split(text):
            self.reqs.append(self.parse(part.strip(), text))

    @staticmethod
    def split(text):
        parts, depth, cur = [], 0, []
        for ch in text:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append("".join(cur))
                cur = []
            else:
                cur.append(ch)
        parts.append("".join(cur))
        return parts

    @staticmethod
    def parse(part, text):
        def bad(why):
            return bad_request("unable to parse requirement: %s (in selector %r)" % (why, text))

        def key_ok(k):
            if qualified_name_errors(k):
                raise bad("invalid label key %r" % k)
            return k

        def val_ok(v):
            if len(v) > 63 or not LABEL_VALUE.match(v):
                raise bad("invalid label value %r" % v)
            return v
        if not part:
            raise bad("empty requirement")
        m = re.match(r"^!\s*([^\s=!()]+)$", part)
        if m:
            return ("!", key_ok(m.group(1)), None)
        m = re.match(r"^([^\s=!()]+)\s+(in|notin)\s*\((.*)\)$", part)
        if m:
            vals = [v.strip() for v in m.group(3).split(",")]
            vals = [val_ok(v) for v in vals if v != "" or len(vals) == 1]
            return (m.group(2), key_ok(m.group(1)), set(vals))
        m = re.match(r"^([^\s=!()]+)\s*(==|=|!=)\s*([^\s=!(),]*)$", part)
        if m:
            op = "!=" if m.group(2) == "!=" else "="
            return (op, key_ok(m.group(1)), val_ok(m.group(3)))
        m = re.match(r"^([^\s=!()]+)$", part)
        if m:
            return ("exists", key_ok(m.group(1)), None)
        raise bad("found '%s', expected: key, '!', 'in', 'notin', '=', '==' or '!='" % part)

    def empty(self):
        return not self.reqs

    def matches(self, labels):
        labels = labels or {}
        for op, k, v in self.reqs:
            has = k in labels
            if op == "=":
                if not has or labels[k] != v:
                    return False
            elif op == "!=":
                if has and labels[k] == v:
                    return False
            elif op == "in":
                if not has or labels[k] not in v:
                    return False
            elif op == "notin":
                if has and labels[k] in v:
                    return False
            elif op == "exists":
                if not has:
                    return False
            elif op == "!":
                if has:
                    return False
        return True


def dotted(obj, path):
    cur = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(p)
    if cur is None:
        return ""
    if isinstance(cur, dict):
        return ""
    return str(cur)


class FieldSelector:
    def __init__(self, res, text):
        self.reqs = []
        text = (text or "").strip()
        if not text:
            return
        for part in text.split(","):
            m = re.match(r"^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
            if not m:
                raise bad_request("invalid selector: '%s'; can't understand '%s'" % (text, part))
            field = m.group(1)
            if field not in res.field_selectors:
                raise bad_request('"%s" is not a known field selector: only %s' % (
                    field, ", ".join('"%s"' % f for f in sorted(res.field_selectors))))
            self.reqs.append((field, m.group(2) != "!=", m.group(3)))

    def empty(self):
        return not self.reqs

    def matches(self, obj):
        for field, eq, val in self.reqs:
            if field == "source" and "source" in obj:
                got = dotted(obj, "source.component")
            else:
                got = dotted(obj, field)
            if (got == val) != eq:
                return False
        return True


# ---------------------------------------------------------------------------
# Patches


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def strategic_merge_patch(target, patch):
    """Merge patch plus the directives kubectl emits; lists are replaced, not merged by key."""
    if not isinstance(patch, dict):
        return patch
    if patch.get("$patch") == "replace":
        return {k: v for k, v in patch.items() if not k.startswith("$")}
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$"):
            continue
        if v is None or (isinstance(v, dict) and v.get("$patch") == "delete"):
            result.pop(k, None)
        else:
            result[k] = strategic_merge_patch(result.get(k), v)
    for k, v in patch.items():
        if k.startswith("$deleteFromPrimitiveList/") and isinstance(v, list):
            field = k.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = [x for x in result[field] if x not in v]
    return result


class PatchFailed(Exception):
    pass


def pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchFailed("invalid JSON pointer %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def ptr_parent(doc, parts):
    cur = doc
    for p in parts[:-1]:
        if isinstance(cur, dict):
            if p not in cur:
                raise PatchFailed("doc is missing path: %s" % "/".join(parts))
            cur = cur[p]
        elif isinstance(cur, list):
            try:
                i = int(p)
            except ValueError:
                raise PatchFailed("invalid array index %r" % p)
            if not 0 <= i < len(cur):
                raise PatchFailed("array index out of bounds: %d" % i)
            cur = cur[i]
        else:
            raise PatchFailed("doc is missing path: %s" % "/".join(parts))
    return cur


def ptr_get(doc, parts):
    if not parts:
        return doc
    parent = ptr_parent(doc, parts)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchFailed("doc is missing key: /%s" % "/".join(parts))
        return parent[last]
    if isinstance(parent, list):
        try:
            i = int(last)
        except ValueError:
            raise PatchFailed("invalid array index %r" % last)
        if not 0 <= i < len(parent):
            raise PatchFailed("array index out of bounds: %d" % i)
        return parent[i]
    raise PatchFailed("doc is missing path")


def ptr_remove(doc, parts):
    if not parts:
        raise PatchFailed("cannot remove the whole document")
    parent = ptr_parent(doc, parts)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchFailed("unable to remove nonexistent key: %s: missing value" % last)
        return parent.pop(last)
    if isinstance(parent, list):
        try:
            i = int(last)
        except ValueError:
            raise PatchFailed("invalid array index %r" % last)
        if not 0 <= i < len(parent):
            raise PatchFailed("unable to remove: index out of bounds: %d" % i)
        return parent.pop(i)
    raise PatchFailed("unable to remove nonexistent path")


def ptr_add(doc, parts, value, replace=False):
    if not parts:
        return value
    parent = ptr_parent(doc, parts)
    last = parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchFailed("replace operation does not apply: doc is missing key: /%s"
                              % "/".join(parts))
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(value)
        else:
            try:
                i = int(last)
            except ValueError:
                raise PatchFailed("invalid array index %r" % last)
            if replace:
                if not 0 <= i < len(parent):
                    raise PatchFailed("replace operation does not apply: index out of bounds")
                parent[i] = value
            else:
                if not 0 <= i <= len(parent):
                    raise PatchFailed("add operation does not apply: index out of bounds")
                parent.insert(i, value)
    else:
        raise PatchFailed("add operation does not apply: doc is missing path: /%s" % "/".join(parts))
    return doc


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise bad_request("json patch must be a list of operations")
    doc = json.loads(json.dumps(doc))
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchFailed("invalid operation %s" % json.dumps(op))
        kind = op["op"]
        parts = pointer(op["path"])
        if kind == "add":
            if "value" not in op:
                raise PatchFailed("add operation missing value")
            doc = ptr_add(doc, parts, json.loads(json.dumps(op["value"])))
        elif kind == "remove":
            ptr_remove(doc, parts)
        elif kind == "replace":
            if "value" not in op:
                raise PatchFailed("replace operation missing value")
            if not parts:
                doc = op["value"]
            else:
                doc = ptr_add(doc, parts, json.loads(json.dumps(op["value"])), replace=True)
        elif kind == "test":
            try:
                got = ptr_get(doc, parts)
            except PatchFailed:
                got = None
            if got != op.get("value"):
                raise PatchFailed("testing value %s failed: test failed" % op["path"])
        elif kind in ("move", "copy"):
            src = pointer(op.get("from", ""))
            if kind == "move":
                val = ptr_remove(doc, src)
            else:
                val = json.loads(json.dumps(ptr_get(doc, src)))
            doc = ptr_add(doc, parts, val)
        else:
            raise PatchFailed("unexpected kind: %s" % kind)
    return doc


# ---------------------------------------------------------------------------
# Store


def now_rfc3339():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def copy_json(o):
    return json.loads(json.dumps(o))


META_FIELDS = {"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion",
               "generation", "creationTimestamp", "deletionTimestamp",
               "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences",
               "finalizers", "managedFields"}
KNOWN_FIELDS = {
    "core/secrets": {"data", "stringData", "type", "immutable"},
    "core/configmaps": {"data", "binaryData", "immutable"},
    "core/namespaces": {"spec", "status"},
    "core/events": {"involvedObject", "reason", "message", "source", "firstTimestamp",
                    "lastTimestamp", "count", "type", "eventTime", "series", "action", "related",
                    "reportingComponent", "reportingInstance"},
    "coordination.k8s.io/leases": {"spec"},
    "apps/deployments": {"spec", "status"},
    "apps/statefulsets": {"spec", "status"},
    "apps/daemonsets": {"spec", "status"},
    "events.k8s.io/events": {"eventTime", "series", "reportingController", "reportingInstance",
                             "action", "reason", "regarding", "related", "note", "type",
                             "deprecatedSource", "deprecatedFirstTimestamp",
                             "deprecatedLastTimestamp", "deprecatedCount"},
}
LEASE_SPEC_FIELDS = {"acquireTime", "holderIdentity", "leaseDurationSeconds", "leaseTransitions",
                     "renewTime", "preferredHolder", "strategy"}

GEN_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


class Store:
    """All objects plus the event history. One lock; watchers wait on cond."""

    def __init__(self, start_rv=0, start_uid=0):
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.objects = {r.key: {} for r in RESOURCES}   # key -> {(ns, name): obj}
        self.sorted_keys = {}                            # key -> sorted list cache
        self.rv = start_rv          # never goes backwards, even across /fake/reset
        self.uid_counter = start_uid
        self.history = []        # (rv, res_key, type, obj, old)
        self.history_rvs = []
        self.compacted_rv = start_rv
        self.compact_gen = 0
        self.close_gen = 0       # bumped by /fake/watches/close
        self.close_abrupt = False
        self.uids = {}           # uid -> (res_key, key)
        self.owners = {}         # owner uid -> {(res_key, key)} of dependents
        self.rand = random.Random(1)
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.create(NAMESPACES, "", {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": ns}})

    # --- helpers (lock held) ---
    def _next_rv(self):
        self.rv += 1
        return self.rv

    def _record(self, res, etype, obj, old):
        self.history.append((self.rv, res.key, etype, obj, old))
        self.history_rvs.append(self.rv)
        if len(self.history) > MAX_HISTORY:
            cut = len(self.history) // 2
            self.compacted_rv = self.history_rvs[cut - 1]
            del self.history[:cut]
            del self.history_rvs[:cut]
        self.cond.notify_all()

    def _index(self, res, key, obj, add):
        meta = obj["metadata"]
        if add:
            self.uids[meta["uid"]] = (res.key, key)
        else:
            self.uids.pop(meta["uid"], None)
        for ref in meta.get("ownerReferences") or []:
            uid = ref.get("uid") if isinstance(ref, dict) else None
            if not uid:
                continue
            deps = self.owners.setdefault(uid, set())
            if add:
                deps.add((res.key, key))
            else:
                deps.discard((res.key, key))
                if not deps:
                    del self.owners[uid]

    def _put(self, res, key, obj):
        table = self.objects[res.key]
        old = table.get(key)
        if old is None:
            self.sorted_keys.pop(res.key, None)
        else:
            self._index(res, key, old, False)
        table[key] = obj
        self._index(res, key, obj, True)

    def _del(self, res, key):
        old = self.objects[res.key].pop(key)
        self._index(res, key, old, False)
        self.sorted_keys.pop(res.key, None)

    def _keys(self, res):
        keys = self.sorted_keys.get(res.key)
        if keys is None:
            keys = sorted(self.objects[res.key])
            self.sorted_keys[res.key] = keys
        return keys

    def crd_schema(self, res):
        """The openAPIV3Schema of a stored CRD for res, or None (then anything goes)."""
        if not res.custom:
            return None
        crd = self.objects[CRDS_KEY].get(("", res.plural + "." + res.group))
        return crd_schema_of(crd, res.version) if crd else None

    def _check_ns(self, res, ns):
        if res.namespaced and ("", ns) not in self.objects[NAMESPACES.key]:
            raise not_found(NAMESPACES, ns)

    # --- verbs ---
    def get(self, res, ns, name):
        with self.lock:
            obj = self.objects[res.key].get((ns, name))
        if obj is None:
            raise not_found(res, name)
        return obj

    def list(self, res, ns, lsel, fsel, limit, cont):
        with self.lock:
            rv = self.rv
            start = None
            if cont:
                try:
                    tok = json.loads(base64.urlsafe_b64decode(cont.encode() + b"==="))
                    rv = int(tok["rv"])
                    start = tuple(tok["start"])
                except (ValueError, KeyError, TypeError, binascii.Error):
                    raise bad_request("continue key is not valid: illegal base64 data")
                if rv < self.compacted_rv:
                    raise gone("The provided continue parameter is too old to display a "
                               "consistent list result. You can start a new list without the "
                               "continue parameter.")
            keys = self._keys(res)
            table = self.objects[res.key]
            if ns is not None and res.namespaced:
                lo = bisect.bisect_left(keys, (ns, ""))
                hi = bisect.bisect_left(keys, (ns + "\x00", ""))
            else:
                lo, hi = 0, len(keys)
            if start is not None:
                lo = max(lo, bisect.bisect_right(keys, start))
            items, last, more = [], None, 0
            for i in range(lo, hi):
                obj = table[keys[i]]
                if not lsel.empty() and not lsel.matches(obj["metadata"].get("labels")):
                    continue
                if not fsel.empty() and not fsel.matches(obj):
                    continue
                if limit and len(items) >= limit:
                    more = 1
                    # count the rest for remainingItemCount only when cheap (no selector)
                    if lsel.empty() and fsel.empty():
                        more = hi - i
                    break
                items.append(obj)
                last = keys[i]
        meta = {"resourceVersion": str(rv)}
        if more:
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(
                {"rv": rv, "start": list(last)}).encode()).decode().rstrip("=")
            if lsel.empty() and fsel.empty():
                meta["remainingItemCount"] = more
        return meta, items

    def _stamp_new(self, res, ns, obj):
        meta = obj["metadata"]
        if not meta.get("name"):
            suffix = "".join(self.rand.choice(GEN_ALPHABET) for _ in range(5))
            meta["name"] = meta["generateName"] + suffix
        if res.namespaced:
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        self.uid_counter += 1
        meta["uid"] = "%08x-0000-4000-8000-%012x" % (self.uid_counter, self.uid_counter)
        meta["creationTimestamp"] = now_rfc3339()
        for f in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink",
                  "managedFields", "resourceVersion"):
            meta.pop(f, None)
        if res.generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if res is NAMESPACES:
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
        if res.status and res is not NAMESPACES:
            obj.pop("status", None)

    def create(self, res, ns, obj, dry_run=False):
        schema = self.crd_schema(res)
        if schema is not None:
            prune_by_schema(schema, obj)
        validate(res, obj, ns, None, True, schema)
        with self.lock:
            self._check_ns(res, ns)
            self._stamp_new(res, ns, obj)
            name = obj["metadata"]["name"]
            if not res.namespaced:
                ns = ""
            if (ns, name) in self.objects[res.key]:
                raise already_exists(res, name)
            if dry_run:
                return obj
            obj["metadata"]["resourceVersion"] = str(self._next_rv())
            self._put(res, (ns, name), obj)
            self._record(res, "ADDED", obj, None)
            return obj

    def update(self, res, ns, name, new, subresource=None, dry_run=False, expect_old=None):
        """Replace an object. new is a fresh dict owned by the store from now on."""
        key = (ns if res.namespaced else "", name)
        with self.lock:
            old = self.objects[res.key].get(key)
            if old is None:
                raise not_found(res, name)
            if expect_old is not None and expect_old is not old:
                raise _Retry()
        meta = new["metadata"]
        body_rv = meta.get("resourceVersion")
        if body_rv in (None, "") and not res.unconditional:
            inv = Invalid(res, name)
            inv.add("metadata.resourceVersion", 0, "must be specified for an update", shown="0x0")
            inv.check()
        if body_rv not in (None, "") and body_rv != old["metadata"]["resourceVersion"]:
            raise conflict(res, name)
        body_uid = meta.get("uid")
        if body_uid not in (None, "") and body_uid != old["metadata"]["uid"]:
            raise conflict(res, name, "Precondition failed: UID in precondition: %s, UID in "
                           "object meta: %s" % (body_uid, old["metadata"]["uid"]))
        schema = self.crd_schema(res)
        if schema is not None:
            prune_by_schema(schema, new)
        if subresource == "status":
            status = new.get("status")
            new = copy_json(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
            if schema is not None:
                validate(res, new, key[0], old, False, schema)
        else:
            if res.status and res is not NAMESPACES:
                if "status" in old:
                    new["status"] = copy_json(old["status"])
                else:
                    new.pop("status", None)
            validate(res, new, key[0], old, False, schema)
            m, om = new["metadata"], old["metadata"]
            for f in ("uid", "creationTimestamp", "generateName"):
                if f in om:
                    m[f] = om[f]
                else:
                    m.pop(f, None)
            for f in ("selfLink", "managedFields", "deletionTimestamp",
                      "deletionGracePeriodSeconds"):
                m.pop(f, None)
                if f in om and f.startswith("deletion"):
                    m[f] = om[f]
            if om.get("deletionTimestamp"):
                added = set(m.get("finalizers") or []) - set(om.get("finalizers") or [])
                if added:
                    inv = Invalid(res, name)
                    inv.add("metadata.finalizers", None, "no new finalizers can be added if the "
                            "object is being deleted, found new finalizers %s"
                            % json.dumps(sorted(added)), "FieldValueForbidden")
                    inv.check()
            if res.namespaced:
                m["namespace"] = key[0]
            else:
                m.pop("namespace", None)
            if res is NAMESPACES:
                m.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
                new["status"] = copy_json(old.get("status", {"phase": "Active"}))
            if res.generation:
                gen = om.get("generation", 1)
                if res.custom:
                    changed = ({k: v for k, v in new.items() if k not in ("metadata", "status")}
                               != {k: v for k, v in old.items() if k not in ("metadata", "status")})
                else:
                    changed = new.get("spec") != old.get("spec")
                m["generation"] = gen + 1 if changed else gen
            else:
                m.pop("generation", None)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old or dry_run:
            return old if new == old else new
        with self.lock:
            cur = self.objects[res.key].get(key)
            if cur is None:
                raise not_found(res, name)
            if cur is not old:
                # Lost a race with another writer: same outcome as a stale resourceVersion
                # when the client sent one, otherwise retry on the fresh object.
                if body_rv not in (None, "") and expect_old is None:
                    raise conflict(res, name)
                raise _Retry()      # a patch is re-applied to the fresh object
            if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
                return self._remove_locked(res, key, True, final=new)
            new["metadata"]["resourceVersion"] = str(self._next_rv())
            self._put(res, key, new)
            self._record(res, "MODIFIED", new, old)
            return new

    def delete(self, res, ns, name, pre_uid=None, pre_rv=None, dry_run=False, cascade=True):
        key = (ns if res.namespaced else "", name)
        with self.lock:
            old = self.objects[res.key].get(key)
            if old is None:
                raise not_found(res, name)
            if pre_uid and pre_uid != old["metadata"]["uid"]:
                raise conflict(res, name, "Precondition failed: UID in precondition: %s, UID in "
                               "object meta: %s" % (pre_uid, old["metadata"]["uid"]))
            if pre_rv and pre_rv != old["metadata"]["resourceVersion"]:
                raise conflict(res, name, "Precondition failed: ResourceVersion in precondition: "
                               "%s, ResourceVersion in object meta: %s"
                               % (pre_rv, old["metadata"]["resourceVersion"]))
            if dry_run:
                return old
            if res is NAMESPACES:
                for r in RESOURCES:
                    if not r.namespaced:
                        continue
                    for k in [k for k in self.objects[r.key] if k[0] == name]:
                        self._remove_locked(r, k, cascade)
                return self._remove_locked(res, key, cascade)
            return self._delete_locked(res, key, cascade)

    def _delete_locked(self, res, key, cascade=True):
        """Deletes now, or only marks deletionTimestamp while finalizers remain."""
        old = self.objects[res.key][key]
        if not old["metadata"].get("finalizers"):
            return self._remove_locked(res, key, cascade)
        if old["metadata"].get("deletionTimestamp"):
            return old
        new = copy_json(old)
        meta = new["metadata"]
        meta["deletionTimestamp"] = now_rfc3339()
        meta["deletionGracePeriodSeconds"] = 0
        if meta.get("generation"):
            meta["generation"] += 1
        meta["resourceVersion"] = str(self._next_rv())
        self._put(res, key, new)
        self._record(res, "MODIFIED", new, old)
        return new

    def _remove_locked(self, res, key, cascade=True, final=None):
        old = self.objects[res.key][key]
        if final is None:
            final = dict(old)
            final["metadata"] = dict(old["metadata"])
            if res is NAMESPACES:
                final["metadata"]["deletionTimestamp"] = now_rfc3339()
                final["status"] = {"phase": "Terminating"}
        final["metadata"]["resourceVersion"] = str(self._next_rv())
        self._del(res, key)
        self._record(res, "DELETED", final, old)
        if cascade:
            self._collect_locked(old["metadata"]["uid"])
        return final

    def _collect_locked(self, uid):
        """Garbage collector, run at once: dependents none of whose owners still exist go."""
        for rkey, key in sorted(self.owners.get(uid, ())):
            obj = self.objects[rkey].get(key)
            if obj is None:
                continue
            refs = obj["metadata"].get("ownerReferences") or []
            if any(isinstance(r, dict) and r.get("uid") in self.uids for r in refs):
                continue
            self._delete_locked(BY_KEY[rkey], key)

    def compact(self):
        with self.lock:
            self.compacted_rv = self.rv
            self.history = []
            self.history_rvs = []
            self.compact_gen += 1
            self.cond.notify_all()
            return self.rv

    def dump(self):
        with self.lock:
            out = []
            for r in RESOURCES:
                table = self.objects[r.key]
                for k in self._keys(r):
                    out.append(with_type(r, table[k]))
            return {"resourceVersion": str(self.rv), "items": out}


class _Retry(Exception):
    pass


def with_type(res, obj):
    if obj.get("kind") == res.kind and obj.get("apiVersion") == res.api_version:
        return obj
    o = dict(obj)
    o["kind"] = res.kind
    o["apiVersion"] = res.api_version
    return o


# ---------------------------------------------------------------------------
# Protobuf request bodies (typed clients such as `kubectl create secret|ns|configmap` send them)

PROTOBUF = "application/vnd.kubernetes.protobuf"
# A schema maps a field number to (json name, kind); kinds: "str", "bytes" (base64 in JSON),
# "int", "bool", "strlist", "strmap", "bytesmap", "time", a nested schema dict, or
# ("list", schema) for repeated messages.
_OWNER_REF = {1: ("kind", "str"), 3: ("name", "str"), 4: ("uid", "str"),
              5: ("apiVersion", "str"), 6: ("controller", "bool"),
              7: ("blockOwnerDeletion", "bool")}
_OBJECT_META = {1: ("name", "str"), 2: ("generateName", "str"), 3: ("namespace", "str"),
                5: ("uid", "str"), 6: ("resourceVersion", "str"), 7: ("generation", "int"),
                10: ("deletionGracePeriodSeconds", "int"), 11: ("labels", "strmap"),
                12: ("annotations", "strmap"), 13: ("ownerReferences", ("list", _OWNER_REF)),
                14: ("finalizers", "strlist")}
PROTO_SCHEMAS = {
    "core/secrets": {1: ("metadata", _OBJECT_META), 2: ("data", "bytesmap"), 3: ("type", "str"),
                     4: ("stringData", "strmap"), 5: ("immutable", "bool")},
    "core/configmaps": {1: ("metadata", _OBJECT_META), 2: ("data", "strmap"),
                        3: ("binaryData", "bytesmap"), 4: ("immutable", "bool")},
    "core/namespaces": {1: ("metadata", _OBJECT_META),
                        2: ("spec", {1: ("finalizers", "strlist")})},
}
DELETE_OPTIONS_SCHEMA = {1: ("gracePeriodSeconds", "int"),
                         2: ("preconditions", {1: ("uid", "str"), 2: ("resourceVersion", "str")}),
                         3: ("orphanDependents", "bool"), 4: ("propagationPolicy", "str"),
                         5: ("dryRun", "strlist")}


def _pb_fields(buf):
    i, n = 0, len(buf)

    def varint():
        nonlocal i
        shift = result = 0
        while True:
            if i >= n or shift > 63:
                raise bad_request("malformed protobuf body")
            b = buf[i]
            i += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result
    while i < n:
        tag = varint()
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            yield num, varint()
        elif wt == 2:
            size = varint()
            if i + size > n:
                raise bad_request("malformed protobuf body")
            yield num, buf[i:i + size]
            i += size
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
        else:
            raise bad_request("malformed protobuf body")


def _pb_decode(buf, schema):
    out = {}
    for num, val in _pb_fields(buf):
        if num not in schema:
            continue
        name, kind = schema[num]
        # Go's JSON omits empty scalars (omitempty); protobuf sends them, so drop them here.
        if kind == "str":
            if val:
                out[name] = val.decode("utf-8")
        elif kind == "int":
            if val:
                out[name] = val if val < (1 << 63) else val - (1 << 64)
        elif kind == "bool":
            if val:
                out[name] = True
        elif kind == "strlist":
            out.setdefault(name, []).append(val.decode("utf-8"))
        elif kind in ("strmap", "bytesmap"):
            entry = dict(_pb_fields(val))
            k = entry.get(1, b"").decode("utf-8")
            v = entry.get(2, b"")
            out.setdefault(name, {})[k] = (v.decode("utf-8") if kind == "strmap"
                                           else base64.b64encode(v).decode("ascii"))
        elif isinstance(kind, tuple):
            out.setdefault(name, []).append(_pb_decode(val, kind[1]))
        elif isinstance(kind, dict):
            out[name] = _pb_decode(val, kind)
    return out


def decode_k8s_protobuf(body, schema):
    """The Kubernetes envelope: 'k8s\\0' + runtime.Unknown{typeMeta, raw, ...}."""
    if not body.startswith(b"k8s\x00"):
        raise bad_request("protobuf body lacks the k8s envelope")
    env = dict(_pb_fields(body[4:]))
    tm = dict(_pb_fields(env.get(1, b"")))
    obj = _pb_decode(env.get(2, b""), schema)
    if tm.get(1):
        obj["apiVersion"] = tm[1].decode("utf-8")
    if tm.get(2):
        obj["kind"] = tm[2].decode("utf-8")
    return obj


# ---------------------------------------------------------------------------
# Faults, tokens, request log


class Control:
    def __init__(self, tokens, token_files):
        self.lock = threading.Lock()
        self.faults = []
        self.requests = []
        self.static_tokens = list(tokens)
        self.token_files = list(token_files)
        self.extra_tokens = []

    def tokens(self):
        out = list(self.static_tokens)
        for path in self.token_files:
            try:
                with open(path, "r") as f:
                    t = f.read().strip()
                if t:
                    out.append(t)
            except OSError:
                pass
        with self.lock:
            out.extend(self.extra_tokens)
        return out

    def take_fault(self, method, path, query):
        with self.lock:
            full = path + ("?" + query if query else "")
            for f in self.faults:
                if f["remaining"] <= 0:
                    continue
                if f["method"] and f["method"] != method:
                    continue
                if not (f["re"].search(path) or f["re"].search(full)):
                    continue
                f["remaining"] -= 1
                f["hits"] += 1
                return dict(f)
        return None

    def log(self, entry):
        with self.lock:
            self.requests.append(entry)
            if len(self.requests) > 200000:
                del self.requests[:100000]


# ---------------------------------------------------------------------------
# HTTP


def parse_qs(query):
    out = {}
    for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True):
        out[k] = v
    return out


def truthy(v):
    return v is not None and v.lower() in ("1", "true", "yes")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeapi"
    sys_version = ""
    timeout = 300

    def log_message(self, fmt, *args):
        logf = self.server.logf
        if logf:
            with self.server.log_lock:
                logf.write("%s %s\n" % (time.strftime("%H:%M:%S"), fmt % args))
                logf.flush()

    # --- plumbing ---
    def send_json(self, code, obj, headers=None):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.status_sent = code
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        for w in self.warnings:
            self.send_header("Warning", w)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def send_error_status(self, err):
        self.send_json(err.code, err.status(), err.headers)

    def read_body(self):
        self.body_read = True
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    self.close_connection = True    # the rest of the stream is unread
                    raise ApiError(413, "RequestEntityTooLarge",
                                   "Request entity too large: limit is %d" % MAX_BODY)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(chunks)
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            raise bad_request("invalid Content-Length")
        if n > MAX_BODY:
            # Drain moderately large bodies so the client reads the 413 rather than a reset.
            if n <= 8 * MAX_BODY:
                left = n
                while left > 0:
                    got = self.rfile.read(min(left, 65536))
                    if not got:
                        break
                    left -= len(got)
            else:
                self.close_connection = True
            raise ApiError(413, "RequestEntityTooLarge",
                           "Request entity too large: limit is %d" % MAX_BODY)
        return self.rfile.read(n) if n else b""

    def json_body(self, body):
        try:
            return json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise bad_request("invalid JSON in request body: %s" % e)

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        self.status_sent = 0
        self.body_read = False
        self.warnings = []
        self.auth_kind = self.token_id = ""
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, url.query
        self.field_validation = parse_qs(query).get("fieldValidation", "")
        started = time.time()
        self.req_method, self.req_path = method, path
        self.req_query, self.req_started = query, started
        # control requests (/fake/...) are not logged
        self.request_logged = path.startswith("/fake/")
        if path.startswith("/fake/"):
            try:
                self.control(method, path, self.read_body())
            except ApiError as e:
                self.send_error_status(e)
            return
        try:
            self.api(method, path, query)
        except ApiError as e:
            if self.status_sent == 0:
                if not self.body_read:
                    self.read_body_quietly()    # keep the connection usable
                self.send_error_status(e)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True
        finally:
            self.log_request_once()

    def send_response(self, code, message=None):
        # The request is logged before its answer leaves: a client that has
        # its answer and then reads or clears the log must see it there.
        self.log_request_once(code)
        super().send_response(code, message)

    def log_request_once(self, code=None):
        if getattr(self, "request_logged", True):
            return
        self.request_logged = True
        self.server.control.log({
            "method": self.req_method, "path": self.req_path,
            "query": self.req_query,
            "status": self.status_sent if code is None else code,
            "contentType": self.headers.get("Content-Type") or "",
            "auth": getattr(self, "auth_kind", ""),
            "tokenId": getattr(self, "token_id", ""),
            "time": self.req_started})

    def authenticate(self):
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Bearer "):
            tok = auth[7:].strip()
            for t in self.server.control.tokens():
                if hmac.compare_digest(tok.encode(), t.encode()):
                    self.auth_kind = "token"
                    self.token_id = hashlib.sha256(tok.encode()).hexdigest()[:12]
                    return True
            return False    # a bad token is refused even with a client cert, like the real server
        try:
            cert = self.connection.getpeercert()
        except (AttributeError, ValueError):
            cert = None
        if cert:
            self.auth_kind = "cert"
            return True
        return False

    def api(self, method, path, query):
        fault = self.server.control.take_fault(method, path, query)
        if fault:
            if fault.get("delayMs"):
                time.sleep(fault["delayMs"] / 1000.0)
            if fault.get("drop"):
                self.close_connection = True
                self.status_sent = -1
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            code = fault.get("status") or 0
            if code and fault.get("body") is not None:
                # a raw answer, for clients that must survive malformed responses
                try:
                    self.read_body()
                except ApiError:
                    pass
                return self.send_raw(code, fault["body"].encode(), "application/json")
            if code:
                reasons = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
                           504: "Timeout", 409: "Conflict", 410: "Expired", 403: "Forbidden",
                           401: "Unauthorized", 404: "NotFound", 400: "BadRequest"}
                headers = {}
                if code == 429 or fault.get("retryAfter") is not None:
                    headers["Retry-After"] = str(fault.get("retryAfter") or 1)
                err = ApiError(code, fault.get("reason") or reasons.get(code, "InternalError"),
                               fault.get("message") or "fake fault injected", headers=headers)
                if code == 429:
                    err.details = {"causes": [{"reason": "", "message": ""}],
                                   "retryAfterSeconds": int(fault.get("retryAfter") or 1)}
                # the request body is consumed so the connection stays usable
                try:
                    self.read_body()
                except ApiError:
                    pass
                raise err
        if path in ("/healthz", "/livez", "/readyz", "/version"):
            if path == "/version":
                self.send_json(200, self.server.version)
            else:
                self.send_raw(200, b"ok", "text/plain")
            return
        if not self.authenticate():
            self.read_body_quietly()
            raise ApiError(401, "Unauthorized", "Unauthorized")
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] not in ("api", "apis"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if parts[0] == "api":
            if len(parts) == 1:
                return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                            "serverAddressByClientCIDRs": [
                                                {"clientCIDR": "0.0.0.0/0",
                                                 "serverAddress": "127.0.0.1:%d" % self.server.port}]})
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) == 1:
                return self.send_json(200, api_group_list())
            if len(parts) == 2:
                if parts[1] not in GROUP_VERSIONS or parts[1] == "":
                    raise ApiError(404, "NotFound", "the server could not find the requested resource")
                return self.send_json(200, api_group(parts[1]))
            group, version, rest = parts[1], parts[2], parts[3:]
        if version not in GROUP_VERSIONS.get(group, []):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")
            return self.send_json(200, api_resource_list(group, version, self.server.store))
        ns, res, name, sub = None, None, None, None
        if (rest[0] == "namespaces" and len(rest) >= 3
                and (group, version, rest[2]) in BY_GV_PLURAL
                and BY_GV_PLURAL[(group, version, rest[2])].namespaced):
            ns = rest[1]
            res = BY_GV_PLURAL[(group, version, rest[2])]
            rest = rest[3:]
        else:
            res = BY_GV_PLURAL.get((group, version, rest[0]))
            rest = rest[1:]
        if res is None or len(rest) > 2:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if rest:
            name = urllib.parse.unquote(rest[0])
        if len(rest) == 2:
            sub = rest[1]
            if sub != "status" or not res.status:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if ns is not None:
            ns = urllib.parse.unquote(ns)
        if res.namespaced and ns is None and name is not None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        q = parse_qs(query)
        dry_run = q.get("dryRun") == "All"
        return self.verb(method, self.server.store, res, ns, name, sub, q, dry_run)

    def read_body_quietly(self):
        try:
            self.read_body()
        except ApiError:
            pass

    def send_raw(self, code, body, ctype):
        self.status_sent = code
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def verb(self, method, store, res, ns, name, sub, q, dry_run):
        if method == "GET":
            if name is None:
                if truthy(q.get("watch")):
                    return self.watch(store, res, ns, q)
                return self.list(store, res, ns, q)
            return self.send_json(200, with_type(res, store.get(res, ns or "", name)))
        if method == "POST":
            if name is not None or (res.namespaced and ns is None):
                self.read_body_quietly()
                raise ApiError(405, "MethodNotAllowed",
                               "the server does not allow this method on the requested resource")
            obj = self.object_body(res, ns)
            if res.namespaced:
                bns = obj["metadata"].get("namespace")
                if bns and bns != ns:
                    raise bad_request("the namespace of the provided object does not match the "
                                      "namespace sent on the request")
            if obj["metadata"].get("resourceVersion"):
                # etcd3 storage refuses it; clients that copy a fetched object into a create hit this
                raise ApiError(500, "InternalError",
                               "resourceVersion should not be set on objects to be created")
            out = store.create(res, ns or "", obj, dry_run)
            return self.send_json(201, with_type(res, out))
        if method == "PUT":
            if name is None:
                self.read_body_quietly()
                raise ApiError(405, "MethodNotAllowed",
                               "the server does not allow this method on the requested resource")
            obj = self.object_body(res, ns)
            self.check_name_ns(res, ns, name, obj)
            try:
                for attempt in range(50):
                    try:
                        out = store.update(res, ns or "", name, copy_json(obj), sub, dry_run)
                        break
                    except _Retry:
                        continue    # an unconditional update raced another writer
                else:
                    raise ApiError(500, "InternalError", "too many concurrent updates")
            except ApiError as e:
                # Leases may be created with PUT (AllowCreateOnUpdate), as upstream.
                if not (e.code == 404 and res.create_on_update and sub is None
                        and e.details and e.details.get("name") == name):
                    raise
                if obj["metadata"].get("resourceVersion"):
                    raise ApiError(500, "InternalError",
                                   "resourceVersion should not be set on objects to be created")
                out = store.create(res, ns or "", obj, dry_run)
                return self.send_json(201, with_type(res, out))
            return self.send_json(200, with_type(res, out))
        if method == "PATCH":
            if name is None:
                self.read_body_quietly()
                raise ApiError(405, "MethodNotAllowed",
                               "the server does not allow this method on the requested resource")
            return self.patch(store, res, ns, name, sub, dry_run)
        if method == "DELETE":
            body = self.read_body()
            if body.strip() and self.content_type() == PROTOBUF:
                opts = decode_k8s_protobuf(body, DELETE_OPTIONS_SCHEMA)
            else:
                opts = self.json_body(body) if body.strip() else {}
            if not isinstance(opts, dict):
                raise bad_request("DeleteOptions must be an object")
            pre = opts.get("preconditions") or {}
            if name is None:
                return self.delete_collection(store, res, ns, q, dry_run)
            if sub:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")
            out = store.delete(res, ns or "", name, pre.get("uid"), pre.get("resourceVersion"),
                               dry_run, cascade=(opts.get("propagationPolicy")
                                                 or q.get("propagationPolicy")) != "Orphan")
            if res.custom or res is NAMESPACES or out["metadata"].get("finalizers"):
                return self.send_json(200, with_type(res, out))
            return self.send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                        "status": "Success",
                                        "details": dict(res_details(res, name),
                                                        uid=out["metadata"]["uid"])})
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")

    def content_type(self):
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def object_body(self, res, ns):
        ctype = self.content_type()
        body = self.read_body()
        if ctype not in ("", "application/json", "*/*", PROTOBUF):
            raise ApiError(415, "UnsupportedMediaType",
                           'the body of the request was in an unknown format - accepted media '
                           'types include: application/json, application/vnd.kubernetes.protobuf')
        if ctype == PROTOBUF:
            if res.key not in PROTO_SCHEMAS:
                raise ApiError(415, "UnsupportedMediaType",
                               "fakeapi decodes protobuf only for %s"
                               % ", ".join(sorted(PROTO_SCHEMAS)))
            obj = decode_k8s_protobuf(body, PROTO_SCHEMAS[res.key])
        else:
            obj = self.json_body(body)
        return self.check_object(res, obj)

    def check_object(self, res, obj):
        if not isinstance(obj, dict):
            raise bad_request("the body of the request must be a JSON object")
        av, kind = obj.get("apiVersion"), obj.get("kind")
        if av and av != res.api_version:
            raise bad_request("the API version in the data (%s) does not match the expected API "
                              "version (%s)" % (av, res.api_version))
        if kind and kind != res.kind:
            raise bad_request("%s in version \"%s\" cannot be handled as a %s: the kind in the "
                              "data (%s) does not match the expected kind (%s)"
                              % (res.kind, res.version, res.kind, kind, res.kind))
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        for f in ("name", "namespace", "generateName", "resourceVersion", "uid"):
            if f in meta and meta[f] is not None and not isinstance(meta[f], str):
                raise bad_request("json: cannot unmarshal %s into Go struct field "
                                  "ObjectMeta.metadata.%s of type string"
                                  % (type(meta[f]).__name__, f))
        self.prune_unknown(res, obj)
        obj["kind"] = res.kind
        obj["apiVersion"] = res.api_version
        return obj

    def prune_unknown(self, res, obj):
        """Unknown fields of built-in types are dropped with a Warning header, or refused with
        ?fieldValidation=Strict, as the real server does (metadata for every type)."""
        unknown = []
        fields = KNOWN_FIELDS.get(res.key)
        if fields is not None:
            for k in list(obj):
                if k not in fields and k not in ("apiVersion", "kind", "metadata"):
                    unknown.append(k)
                    obj.pop(k)
            sub = obj.get("spec")
            if res.key == "coordination.k8s.io/leases" and isinstance(sub, dict):
                for k in list(sub):
                    if k not in LEASE_SPEC_FIELDS:
                        unknown.append("spec." + k)
                        sub.pop(k)
        if res.custom:
            schema = self.server.store.crd_schema(res)
            if schema is not None:
                unknown += prune_by_schema(schema, obj)
        meta = obj["metadata"]
        for k in list(meta):
            if k not in META_FIELDS:
                unknown.append("metadata." + k)
                meta.pop(k)
        if not unknown:
            return
        mode = (self.field_validation or "").lower()
        if mode == "strict":
            raise bad_request("strict decoding error: " + ", ".join(
                'unknown field "%s"' % u for u in unknown))
        if mode != "ignore":
            for u in unknown:
                self.warnings.append('299 - "unknown field \\"%s\\""' % u)

    def check_name_ns(self, res, ns, name, obj):
        meta = obj["metadata"]
        if meta.get("name") and meta["name"] != name:
            raise bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                              % (meta["name"], name))
        if not meta.get("name"):
            meta["name"] = name
        if res.namespaced and meta.get("namespace") and meta["namespace"] != ns:
            raise bad_request("the namespace of the provided object does not match the namespace "
                              "sent on the request")

    def patch(self, store, res, ns, name, sub, dry_run):
        ctype = self.content_type()
        body = self.read_body()
        if ctype == "application/strategic-merge-patch+json" and res.custom:
            raise ApiError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media "
                           "types include: application/json-patch+json, "
                           "application/merge-patch+json, application/apply-patch+yaml")
        if ctype not in ("application/merge-patch+json", "application/strategic-merge-patch+json",
                         "application/json-patch+json"):
            raise ApiError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media "
                           "types include: application/json-patch+json, "
                           "application/merge-patch+json, application/strategic-merge-patch+json")
        patch = self.json_body(body)
        for attempt in range(50):
            self.warnings = []
            old = store.get(res, ns or "", name)
            if ctype == "application/json-patch+json":
                try:
                    new = json_patch(old, patch)
                except PatchFailed as e:
                    raise ApiError(422, "Invalid", str(e))
            else:
                if not isinstance(patch, dict):
                    raise bad_request("merge patch must be a JSON object")
                if ctype == "application/strategic-merge-patch+json":
                    new = strategic_merge_patch(copy_json(old), patch)
                else:
                    new = merge_patch(copy_json(old), patch)
            if not isinstance(new, dict):
                raise ApiError(422, "Invalid", "the patch does not result in an object")
            if isinstance(new.get("metadata"), dict) and not new["metadata"].get("resourceVersion"):
                new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            new = self.check_object(res, copy_json(new))
            self.check_name_ns(res, ns, name, new)
            try:
                out = store.update(res, ns or "", name, new, sub, dry_run, expect_old=old)
            except _Retry:
                continue
            return self.send_json(200, with_type(res, out))
        raise ApiError(500, "InternalError", "too many concurrent updates")

    def delete_collection(self, store, res, ns, q, dry_run):
        lsel = LabelSelector(q.get("labelSelector"))
        fsel = FieldSelector(res, q.get("fieldSelector"))
        meta, items = store.list(res, ns, lsel, fsel, 0, None)
        out = []
        for obj in items:
            try:
                out.append(store.delete(res, obj["metadata"].get("namespace", ""),
                                        obj["metadata"]["name"], dry_run=dry_run))
            except ApiError:
                pass
        return self.send_json(200, list_doc(res, meta, out))

    def list(self, store, res, ns, q):
        lsel = LabelSelector(q.get("labelSelector"))
        fsel = FieldSelector(res, q.get("fieldSelector"))
        try:
            limit = int(q.get("limit") or 0)
        except ValueError:
            raise bad_request("invalid limit")
        meta, items = store.list(res, ns, lsel, fsel, max(limit, 0), q.get("continue"))
        self.send_json(200, list_doc(res, meta, items))

    # --- watch ---
    def watch(self, store, res, ns, q):
        lsel = LabelSelector(q.get("labelSelector"))
        fsel = FieldSelector(res, q.get("fieldSelector"))
        bookmarks = truthy(q.get("allowWatchBookmarks"))
        send_initial = truthy(q.get("sendInitialEvents"))
        cap = self.server.watch_timeout_max
        try:
            timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else cap
        except ValueError:
            raise bad_request("invalid timeoutSeconds")
        timeout = max(0.0, min(timeout, cap))
        rv_param = q.get("resourceVersion", "")
        if rv_param not in ("", "0"):
            try:
                start_rv = int(rv_param)
            except ValueError:
                raise bad_request('invalid resource version "%s"' % rv_param)
        else:
            start_rv = None
        ns_filter = ns if (res.namespaced and ns is not None) else None

        def visible(obj):
            if obj is None:
                return False
            if ns_filter is not None and obj["metadata"].get("namespace") != ns_filter:
                return False
            if not lsel.empty() and not lsel.matches(obj["metadata"].get("labels")):
                return False
            if not fsel.empty() and not fsel.matches(obj):
                return False
            return True

        pending = []
        with store.lock:
            gen = store.compact_gen
            close_gen = store.close_gen
            if start_rv is not None and start_rv < store.compacted_rv and not send_initial:
                expired = (start_rv, store.compacted_rv)
            else:
                expired = None
                if start_rv is None or send_initial:
                    table = store.objects[res.key]
                    for k in store._keys(res):
                        obj = table[k]
                        if visible(obj):
                            pending.append(("ADDED", obj))
                    last_rv = store.rv
                else:
                    last_rv = start_rv
        self.status_sent = 200
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if expired:
            self.write_event(res, "ERROR", gone_status(*expired))
            self.end_chunks()
            return
        for etype, obj in pending:
            self.write_event(res, etype, obj)
        if send_initial:
            self.write_event(res, "BOOKMARK", {"metadata": {
                "resourceVersion": str(last_rv),
                "annotations": {"k8s.io/initial-events-end": "true"}}})
        pending = []
        deadline = time.monotonic() + timeout
        next_bookmark = time.monotonic() + 1.0
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            idle_check = now + 1.0
            bookmark_rv = None
            closing = None
            with store.lock:
                while True:
                    if store.close_gen != close_gen:
                        closing = "abrupt" if store.close_abrupt else "clean"
                        break
                    if store.compact_gen != gen or last_rv < store.compacted_rv:
                        expired = (last_rv, store.compacted_rv)
                        break
                    if store.rv > last_rv:
                        break
                    now = time.monotonic()
                    wait_until = min(deadline, next_bookmark if bookmarks else deadline)
                    if now >= wait_until or now >= idle_check:
                        break
                    store.cond.wait(min(wait_until, idle_check) - now)
                if not expired and not closing and store.rv > last_rv:
                    i = bisect.bisect_right(store.history_rvs, last_rv)
                    for rv, key, etype, obj, old in store.history[i:]:
                        if key != res.key:
                            continue
                        new_vis = visible(obj) if etype != "DELETED" else False
                        old_vis = visible(old)
                        if etype == "ADDED" and new_vis:
                            pending.append(("ADDED", obj))
                        elif etype == "DELETED" and old_vis:
                            pending.append(("DELETED", obj))
                        elif etype == "MODIFIED":
                            if new_vis and old_vis:
                                pending.append(("MODIFIED", obj))
                            elif new_vis:
                                pending.append(("ADDED", obj))
                            elif old_vis:
                                pending.append(("DELETED", obj))
                    last_rv = store.rv
                if bookmarks and time.monotonic() >= next_bookmark:
                    bookmark_rv = last_rv if store.rv <= last_rv else None
                    next_bookmark = time.monotonic() + 1.0
            if closing == "abrupt":
                self.close_connection = True
                self.status_sent = -1
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if closing:
                break
            for etype, obj in pending:
                self.write_event(res, etype, obj)
            pending = []
            if expired:
                self.write_event(res, "ERROR", gone_status(*expired))
                break
            if bookmark_rv is not None:
                self.write_event(res, "BOOKMARK", {"metadata": {"resourceVersion": str(bookmark_rv)}})
            elif time.monotonic() >= idle_check and self.client_gone():
                self.close_connection = True
                return
        self.end_chunks()

    def client_gone(self):
        """True when the watching client has closed its end (so its thread can end early)."""
        sock = self.connection
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        if not readable:
            return False
        try:
            sock.settimeout(0.05)
            return sock.recv(1) == b""
        except (ssl.SSLWantReadError, socket.timeout, BlockingIOError):
            return False
        except OSError:
            return True
        finally:
            try:
                sock.settimeout(self.timeout)
            except OSError:
                pass

    def write_event(self, res, etype, obj):
        if etype != "ERROR":
            obj = with_type(res, obj)
        data = json.dumps({"type": etype, "object": obj}, separators=(",", ":")).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def end_chunks(self):
        self.wfile.write(b"0\r\n\r\n")

    # --- test control ---
    def control(self, method, path, body):
        ctl = self.server.control
        store = self.server.store
        if path == "/fake/healthz":
            return self.send_json(200, {"ok": True, "resourceVersion": str(store.rv)})
        if path == "/fake/faults":
            if method == "POST":
                f = self.json_body(body)
                if not isinstance(f, dict):
                    raise bad_request("fault must be an object")
                try:
                    regex = re.compile(f.get("path") or ".*")
                except re.error as e:
                    raise bad_request("bad path regex: %s" % e)
                fault = {"method": (f.get("method") or "").upper(), "path": f.get("path") or ".*",
                         "re": regex, "status": int(f.get("status") or 0),
                         "remaining": int(f.get("count", 1)), "hits": 0,
                         "retryAfter": f.get("retryAfter"), "drop": bool(f.get("drop")),
                         "delayMs": int(f.get("delayMs") or 0), "message": f.get("message"),
                         "reason": f.get("reason"), "body": f.get("body")}
                if fault["body"] is not None and (not isinstance(fault["body"], str) or not fault["status"]):
                    raise bad_request("body must be a string and needs a status")
                with ctl.lock:
                    ctl.faults.append(fault)
                return self.send_json(201, {k: v for k, v in fault.items() if k != "re"})
            if method == "GET":
                with ctl.lock:
                    return self.send_json(200, [{k: v for k, v in f.items() if k != "re"}
                                                for f in ctl.faults])
            if method == "DELETE":
                with ctl.lock:
                    ctl.faults = []
                return self.send_json(200, [])
        if path == "/fake/requests":
            if method == "GET":
                with ctl.lock:
                    return self.send_json(200, list(ctl.requests))
            if method == "DELETE":
                with ctl.lock:
                    ctl.requests = []
                return self.send_json(200, [])
        if path == "/fake/reset" and method == "POST":
            with store.lock:
                store.close_gen += 1
                store.close_abrupt = False
                store.cond.notify_all()
                fresh = Store(store.rv, store.uid_counter)
            load_state(fresh, self.server.state_items)
            self.server.store = fresh
            with ctl.lock:
                ctl.faults = []
                ctl.requests = []
                ctl.extra_tokens = []
            return self.send_json(200, {"resourceVersion": str(self.server.store.rv)})
        if path == "/fake/watches/close" and method == "POST":
            opts = self.json_body(body) if body.strip() else {}
            with store.lock:
                store.close_gen += 1
                store.close_abrupt = bool(isinstance(opts, dict) and opts.get("abrupt"))
                store.cond.notify_all()
            return self.send_json(200, {"closed": True})
        if path == "/fake/compact" and method == "POST":
            return self.send_json(200, {"compactedResourceVersion": str(store.compact())})
        if path == "/fake/tokens":
            if method == "POST":
                t = self.json_body(body)
                toks = t.get("tokens") if isinstance(t, dict) else None
                if not isinstance(toks, list) or not all(isinstance(x, str) for x in toks):
                    raise bad_request('expected {"tokens":[...]}')
                with ctl.lock:
                    ctl.extra_tokens = list(toks)
                return self.send_json(200, {"tokens": len(toks)})
            if method == "GET":
                with ctl.lock:
                    return self.send_json(200, {"tokens": len(ctl.extra_tokens)})
        if path == "/fake/version" and method == "POST":
            v = self.json_body(body)
            try:
                self.server.version = version_doc(v.get("gitVersion", "") if isinstance(v, dict) else "")
            except ValueError as e:
                raise bad_request(str(e))
            return self.send_json(200, self.server.version)
        if path == "/fake/dump" and method == "GET":
            return self.send_json(200, store.dump())
        if path == "/fake/objects" and method == "POST":
            doc = self.json_body(body)
            items = doc.get("items") if isinstance(doc, dict) and "items" in doc else [doc]
            out = [load_object(store, o) for o in items]
            return self.send_json(201, out[0] if not (isinstance(doc, dict) and "items" in doc)
                                  else {"items": out})
        raise ApiError(404, "NotFound", "no such control endpoint: %s %s" % (method, path))


def load_object(store, obj):
    if not isinstance(obj, dict):
        raise bad_request("object must be a JSON object")
    av, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    group, _, version = av.rpartition("/")
    res = None
    for r in RESOURCES:
        if r.group == group and r.version == version and r.kind == kind:
            res = r
    if res is None:
        raise bad_request("unknown apiVersion/kind %s/%s" % (av, kind))
    ns = (obj.get("metadata") or {}).get("namespace") or ("default" if res.namespaced else "")
    status = obj.get("status")
    out = store.create(res, ns, copy_json(obj))
    if status is not None and res.status and res is not NAMESPACES:
        new = copy_json(out)
        new["status"] = status
        out = store.update(res, ns, out["metadata"]["name"], new, "status")
    return with_type(res, out)


def read_manifests(path):
    """Objects from a JSON or YAML file, or from every such file in a folder."""
    if os.path.isdir(path):
        out = []
        for name in sorted(os.listdir(path)):
            if name.endswith((".json", ".yaml", ".yml")):
                out += read_manifests(os.path.join(path, name))
        return out
    with open(path) as f:
        text = f.read()
    try:
        doc = json.loads(text)
        docs = doc.get("items", [doc]) if isinstance(doc, dict) and doc.get("kind", "").endswith(
            "List") else (doc if isinstance(doc, list) else [doc])
    except ValueError:
        try:
            import yaml  # optional: only to read YAML manifests
        except ImportError:
            sys.exit("fakeapi: %s is not JSON and PyYAML is not installed" % path)
        docs = [d for d in yaml.safe_load_all(text) if d]
    return [d for d in docs if isinstance(d, dict)]


def load_state(store, items):
    order = {"CustomResourceDefinition": 0, "Namespace": 1}
    items = sorted(items, key=lambda o: order.get(o.get("kind"), 2))
    for o in items:
        if o.get("kind") == "Namespace" and (o.get("metadata") or {}).get("name") in (
                "default", "kube-system", "kube-public", "kube-node-lease"):
            continue
        load_object(store, o)


def version_doc(git_version):
    """The /version document of a server of git_version ("v1.20.2")."""
    m = re.match(r"v(\d+)\.(\d+)", git_version)
    if not m:
        raise ValueError("a version like v1.20.2: %r" % git_version)
    return {"major": m.group(1), "minor": m.group(2), "gitVersion": git_version,
            "gitCommit": "0000000", "gitTreeState": "clean",
            "buildDate": "2024-12-11T00:00:00Z", "goVersion": "go1.23",
            "compiler": "gc", "platform": "linux/amd64"}


def gone_status(start, compacted):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "too old resource version: %d (%d)" % (start, compacted),
            "reason": "Expired", "code": 410}


def list_doc(res, meta, items):
    if res.custom:
        items = [with_type(res, o) for o in items]
    else:
        items = [strip_type(o) for o in items]
    return {"kind": res.kind + "List", "apiVersion": res.api_version, "metadata": meta,
            "items": items}


def strip_type(obj):
    if "kind" not in obj and "apiVersion" not in obj:
        return obj
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def api_resource_list(group, version, store):
    out = []
    for r in RESOURCES:
        if r.group != group or r.version != version:
            continue
        e = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
             "kind": r.kind, "verbs": VERBS}
        if r.short:
            e["shortNames"] = r.short
        if r.custom:
            # short names and categories come from the stored CRD, as on a real cluster
            crd = store.objects[CRDS_KEY].get(("", r.plural + "." + r.group))
            names = ((crd or {}).get("spec") or {}).get("names") or {}
            if names.get("shortNames"):
                e["shortNames"] = names["shortNames"]
            if names.get("categories"):
                e["categories"] = names["categories"]
        out.append(e)
        if r.status:
            out.append({"name": r.plural + "/status", "singularName": "", "namespaced": r.namespaced,
                        "kind": r.kind, "verbs": ["get", "patch", "update"]})
    gv = group + "/" + version if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}


def api_group(g):
    vs = [{"groupVersion": g + "/" + v, "version": v} for v in GROUP_VERSIONS[g]]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": g, "versions": vs,
            "preferredVersion": vs[0]}


def api_group_list():
    groups = [api_group(g) for g in GROUP_VERSIONS if g]
    for g in groups:
        del g["kind"], g["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True

    def finish_request(self, request, client_address):
        # TLS handshake runs in the connection's own thread, never in the accept loop.
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        request.settimeout(30)
        try:
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            request.close()
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass


# ---------------------------------------------------------------------------
# TLS material and kubeconfig


def run_openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def ensure_tls(d):
    os.makedirs(d, exist_ok=True)
    p = lambda n: os.path.join(d, n)  # noqa: E731
    if not (os.path.exists(p("ca.crt")) and os.path.exists(p("ca.key"))):
        run_openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", p("ca.key"), "-out", p("ca.crt"), "-days", "3650",
                    "-subj", "/CN=fakeapi-ca", "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, subj, ext in (
            ("server", "/CN=fakeapi",
             "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
             "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"),
            ("client", "/O=system:masters/CN=orgsecrets-test",
             "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n"
             "keyUsage=critical,digitalSignature,keyEncipherment\n")):
        if os.path.exists(p(name + ".crt")) and os.path.exists(p(name + ".key")):
            continue
        run_openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", p(name + ".key"), "-out", p(name + ".csr"), "-subj", subj)
        with open(p(name + ".ext"), "w") as f:
            f.write(ext)
        run_openssl("x509", "-req", "-in", p(name + ".csr"), "-CA", p("ca.crt"), "-CAkey",
                    p("ca.key"), "-CAcreateserial", "-out", p(name + ".crt"), "-days", "3650",
                    "-extfile", p(name + ".ext"))
        for junk in (name + ".csr", name + ".ext"):
            os.unlink(p(junk))
    for n in ("ca.key", "server.key", "client.key"):
        os.chmod(p(n), 0o600)


def write_atomic(path, data, mode=0o644):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".fakeapi.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def b64file(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def kubeconfig(url, tls_dir, token, token_file):
    ca = b64file(os.path.join(tls_dir, "ca.crt"))
    users = []
    if token:
        users.append('- name: fakeapi-token\n  user:\n    token: %s\n' % json.dumps(token))
    elif token_file:
        users.append('- name: fakeapi-token\n  user:\n    tokenFile: %s\n'
                     % json.dumps(os.path.abspath(token_file)))
    users.append('- name: fakeapi-cert\n  user:\n    client-certificate-data: %s\n'
                 '    client-key-data: %s\n'
                 % (b64file(os.path.join(tls_dir, "client.crt")),
                    b64file(os.path.join(tls_dir, "client.key"))))
    ctxs = []
    if token or token_file:
        ctxs.append('- name: fakeapi\n  context:\n    cluster: fakeapi\n    user: fakeapi-token\n'
                    '    namespace: default\n')
    ctxs.append('- name: fakeapi-cert\n  context:\n    cluster: fakeapi\n    user: fakeapi-cert\n'
                '    namespace: default\n')
    current = "fakeapi" if (token or token_file) else "fakeapi-cert"
    return ("apiVersion: v1\nkind: Config\nclusters:\n- name: fakeapi\n  cluster:\n"
            "    server: %s\n    certificate-authority-data: %s\n"
            "contexts:\n%scurrent-context: %s\nusers:\n%spreferences: {}\n"
            % (url, ca, "".join(ctxs), current, "".join(users)))


def watch_pid(pid):
    while True:
        time.sleep(0.5)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass


def main(argv=None):
    ap = argparse.ArgumentParser(description="fake Kubernetes API server for tests")
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--tls-dir", required=True)
    ap.add_argument("--token", action="append", default=[])
    ap.add_argument("--token-file", action="append", default=[])
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--watch-timeout-max", type=float, default=60.0)
    ap.add_argument("--state")
    ap.add_argument("--kubeconfig-out")
    ap.add_argument("--server-version", default="v1.32.0-fakeapi",
                    help="gitVersion /version reports (default v1.32.0-fakeapi)")
    ap.add_argument("--crd", action="append", default=[],
                    help="CustomResourceDefinition file or folder (JSON; YAML needs PyYAML)")
    ap.add_argument("--exit-with-pid", type=int,
                    help="exit when this process is gone (no orphan servers after a crashed test)")
    args = ap.parse_args(argv)

    ensure_tls(args.tls_dir)
    host, _, port = args.listen.rpartition(":")
    store = Store()
    state_items = []
    if args.state:
        with open(args.state) as f:
            doc = json.load(f)
        state_items = doc.get("items", []) if isinstance(doc, dict) else doc
    for path in args.crd:
        state_items = read_manifests(path) + state_items
    load_state(store, state_items)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.path.join(args.tls_dir, "server.crt"),
                        os.path.join(args.tls_dir, "server.key"))
    ctx.load_verify_locations(os.path.join(args.tls_dir, "ca.crt"))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])

    srv = Server((host or "127.0.0.1", int(port or 0)), Handler)
    srv.ssl_ctx = ctx
    srv.store = store
    srv.state_items = state_items
    srv.control = Control(args.token, args.token_file)
    srv.watch_timeout_max = args.watch_timeout_max
    srv.version = version_doc(args.server_version)
    srv.port = srv.server_address[1]
    srv.logf = open(args.log, "a") if args.log else None
    srv.log_lock = threading.Lock()
    url = "https://127.0.0.1:%d" % srv.port
    if args.kubeconfig_out:
        write_atomic(args.kubeconfig_out,
                     kubeconfig(url, args.tls_dir, args.token[0] if args.token else None,
                                args.token_file[0] if args.token_file else None), 0o600)
    if args.port_file:
        write_atomic(args.port_file, "%d\n" % srv.port)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    if args.exit_with_pid:
        threading.Thread(target=watch_pid, args=(args.exit_with_pid,), daemon=True).start()
    sys.stderr.write("fakeapi listening on %s\n" % url)
    sys.stderr.flush()
    try:
        srv.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
