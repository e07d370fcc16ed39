// CRD schema checks: the structural-schema rules the API server enforces on
// a CustomResourceDefinition, and an ajv validator that behaves like the API
// server on a custom resource (including strict field validation, which
// kubectl uses by default and which refuses unknown fields).
"use strict";

const Ajv = require("ajv");
const addFormats = require("ajv-formats");

const TYPES = new Set(["object", "array", "string", "integer", "number", "boolean"]);
const ALLOWED_KEYS = new Set([
  "type", "description", "properties", "required", "items", "enum", "pattern", "format",
  "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
  "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties", "default", "nullable",
  "additionalProperties", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
  "x-kubernetes-map-type", "x-kubernetes-validations", "title", "example",
]);

// Returns a list of problems (empty when the schema is structural and uses
// only what the API server accepts).
function structuralProblems(schema) {
  const problems = [];
  function visit(node, p, { isRoot = false, isRootMeta = false } = {}) {
    for (const k of Object.keys(node)) {
      if (!ALLOWED_KEYS.has(k)) problems.push(`${p}: keyword ${k} not allowed here`);
    }
    if (!TYPES.has(node.type)) problems.push(`${p}: missing or unknown type`);
    if (node.properties && node.additionalProperties !== undefined) {
      problems.push(`${p}: properties and additionalProperties are mutually exclusive in a structural schema`);
    }
    if (node.pattern) {
      if (/\(\?[=!<]|\\[1-9]/.test(node.pattern)) problems.push(`${p}: pattern uses lookaround or a backreference (not RE2)`);
      try {
        new RegExp(node.pattern, "u");
      } catch (e) {
        problems.push(`${p}: pattern does not compile: ${e.message}`);
      }
    }
    if (node.enum && !node.enum.every((v) => typeof v === (node.type === "integer" ? "number" : node.type))) {
      problems.push(`${p}: enum values must have the node's type`);
    }
    if (isRootMeta) {
      const extra = Object.keys(node.properties || {}).filter((k) => k !== "name" && k !== "generateName");
      if (extra.length) problems.push(`${p}: only metadata.name and metadata.generateName may be restricted`);
    }
    if (node["x-kubernetes-list-type"] === "map") {
      const keys = node["x-kubernetes-list-map-keys"] || [];
      const req = (node.items && node.items.required) || [];
      if (!keys.length) problems.push(`${p}: list-type map needs x-kubernetes-list-map-keys`);
      for (const k of keys) if (!req.includes(k)) problems.push(`${p}: list map key ${k} must be required`);
    }
    if (node.type === "array" && !node.items) problems.push(`${p}: array without items`);
    for (const [k, sub] of Object.entries(node.properties || {})) {
      visit(sub, `${p}.${k}`, { isRootMeta: isRoot && k === "metadata" });
    }
    if (node.items) visit(node.items, `${p}[]`);
    if (node.additionalProperties && typeof node.additionalProperties === "object") {
      visit(node.additionalProperties, `${p}{}`);
    }
  }
  visit(schema, "openAPIV3Schema", { isRoot: true });
  return problems;
}

function makeAjv() {
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, validateFormats: true });
  addFormats(ajv);
  ajv.addFormat("int32", { type: "number", validate: (n) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat("int64", { type: "number", validate: (n) => Number.isInteger(n) });
  ajv.addKeyword({ keyword: "x-kubernetes-list-map-keys" });
  ajv.addKeyword({ keyword: "x-kubernetes-map-type" });
  ajv.addKeyword({
    keyword: "x-kubernetes-list-type",
    type: "array",
    errors: false,
    // set: no duplicate items; map: no two items with the same keys (as the API server checks).
    validate(kind, data, parentSchema) {
      if (kind === "atomic") return true;
      const keys = parentSchema["x-kubernetes-list-map-keys"] || [];
      const seen = new Set();
      for (const item of data) {
        const k = kind === "map" ? JSON.stringify(keys.map((key) => item && item[key])) : JSON.stringify(item);
        if (seen.has(k)) return false;
        seen.add(k);
      }
      return true;
    },
  });
  return ajv;
}

// The schema the API server effectively applies to a create/update with
// strict field validation: unknown fields in spec/status are errors
// (ObjectMeta keeps its own fields, so metadata stays open).
function strictCopy(schema, isRootMeta = false) {
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === "properties") {
      out.properties = {};
      for (const [pk, pv] of Object.entries(v)) out.properties[pk] = strictCopy(pv, schema === rootMarker.current && pk === "metadata");
    } else if (k === "items") out.items = strictCopy(v);
    else out[k] = v;
  }
  if (out.type === "object" && out.properties && out.additionalProperties === undefined && !isRootMeta) {
    out.additionalProperties = false;
  }
  return out;
}
const rootMarker = { current: null };

function compileCrd(ajv, crd, version = "v1") {
  const v = crd.spec.versions.find((x) => x.name === version);
  if (!v) throw new Error(`${crd.metadata.name}: no version ${version}`);
  rootMarker.current = v.schema.openAPIV3Schema;
  const s = strictCopy(v.schema.openAPIV3Schema);
  return ajv.compile(s);
}

module.exports = { structuralProblems, makeAjv, compileCrd };
