// Shared helpers for the install checks: loading YAML the way Kubernetes
// reads it, validating objects against the Kubernetes OpenAPI schemas
// (kubernetes-models), and a tiny pass/fail reporter.
"use strict";

const fs = require("fs");
const path = require("path");
const YAML = require("yaml");

const ROOT = path.resolve(__dirname, "..", "..", "..");

// Kubernetes decodes YAML with YAML 1.1 rules (defaultMode: 0400 is octal).
function parseDocs(text, file) {
  const docs = YAML.parseAllDocuments(text, { version: "1.1", prettyErrors: true, uniqueKeys: true });
  const out = [];
  for (const d of docs) {
    if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
    const v = d.toJS({ maxAliasCount: -1 });
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

function readDocs(file) {
  return parseDocs(fs.readFileSync(file, "utf8"), path.relative(ROOT, file)).map((obj) => ({
    obj,
    file: path.relative(ROOT, file),
  }));
}

function walkYaml(dir, { skip = () => false } = {}) {
  const out = [];
  for (const ent of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = path.join(dir, ent.name);
    if (skip(p, ent)) continue;
    if (ent.isDirectory()) out.push(...walkYaml(p, { skip }));
    else if (/\.ya?ml$/.test(ent.name)) out.push(p);
  }
  return out;
}

const MODEL_PACKAGES = {
  "cert-manager.io": "@kubernetes-models/cert-manager/cert-manager.io",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator/monitoring.coreos.com",
};

// kubernetes-models' schemas accept unknown fields (the OpenAPI documents
// do not forbid them), but the API server refuses them under strict field
// validation. The typed models of @kubernetes/client-node list every field
// of every built-in type; this walks obj along them and returns the paths
// of fields no type declares. Kinds without a model there (cert-manager,
// Prometheus Operator) return null: not checked.
let k8sClient = null;
function unknownFields(obj) {
  if (!k8sClient) k8sClient = require("@kubernetes/client-node");
  const top = k8sClient[`V1${obj.kind}`];
  if (!top || !top.getAttributeTypeMap || !/^(v1|[a-z.]+\.k8s\.io\/v1|apps\/v1|policy\/v1)$/.test(obj.apiVersion)) return null;
  const out = [];
  const walk = (value, type, p) => {
    if (value === null || value === undefined) return;
    let m;
    if ((m = /^Array<(.+)>$/.exec(type))) {
      if (Array.isArray(value)) value.forEach((v, i) => walk(v, m[1], `${p}[${i}]`));
      return;
    }
    if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
      for (const [k, v] of Object.entries(value)) walk(v, m[1], `${p}.${k}`);
      return;
    }
    const cls = k8sClient[type];
    if (!cls || !cls.getAttributeTypeMap || typeof value !== "object") return;
    const known = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
    for (const [k, v] of Object.entries(value)) {
      if (!known.has(k)) out.push(`${p}.${k}`);
      else walk(v, known.get(k), `${p}.${k}`);
    }
  };
  walk(obj, `V1${obj.kind}`, "");
  return out;
}

// Validates obj against the OpenAPI schema of its apiVersion/kind; throws
// with the first schema error, or the unknown fields. Unknown kinds are
// errors, not skipped.
function validateK8s(obj) {
  const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : ["", obj.apiVersion];
  const modPath = group === "" ? `kubernetes-models/${version}` : `${MODEL_PACKAGES[group] || `kubernetes-models/${group}`}/${version}`;
  let mod;
  try {
    mod = require(modPath);
  } catch (e) {
    throw new Error(`no schema for ${obj.apiVersion} (${modPath})`);
  }
  const Model = mod[obj.kind];
  if (!Model) throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}`);
  const m = new Model(JSON.parse(JSON.stringify(obj)));
  m.validate();
  const unknown = unknownFields(obj);
  if (unknown && unknown.length) throw new Error(`unknown field(s): ${unknown.join(", ")}`);
}

function id(obj) {
  const ns = obj.metadata && obj.metadata.namespace ? `${obj.metadata.namespace}/` : "";
  return `${obj.kind} ${ns}${obj.metadata && obj.metadata.name}`;
}

class Reporter {
  constructor(title) {
    this.title = title;
    this.passed = 0;
    this.failed = 0;
  }
  check(name, fn) {
    try {
      fn();
      this.passed++;
      console.log(`ok   ${name}`);
    } catch (e) {
      this.failed++;
      console.log(`FAIL ${name}\n     ${String(e.message).split("\n").join("\n     ")}`);
    }
  }
  skip(name, why) {
    console.log(`skip ${name}: ${why}`);
  }
  finish() {
    console.log(`${this.title}: ${this.passed} passed, ${this.failed} failed`);
    process.exitCode = this.failed ? 1 : 0;
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

function assertEqual(actual, expected, what) {
  const a = JSON.stringify(canonical(actual));
  const e = JSON.stringify(canonical(expected));
  if (a !== e) throw new Error(`${what}:\n  got      ${a}\n  expected ${e}`);
}

// Key-sorted deep copy, so that comparisons ignore map key order only.
function canonical(v) {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === "object") {
    const out = {};
    for (const k of Object.keys(v).sort()) out[k] = canonical(v[k]);
    return out;
  }
  return v;
}

module.exports = { unknownFields, ROOT, parseDocs, readDocs, walkYaml, validateK8s, id, Reporter, assert, assertEqual, canonical };
