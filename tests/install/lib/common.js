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

// Validates obj against the OpenAPI schema of its apiVersion/kind; throws
// with the first schema error. Unknown kinds are errors, not skipped.
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

module.exports = { ROOT, parseDocs, readDocs, walkYaml, validateK8s, id, Reporter, assert, assertEqual, canonical };
