#!/usr/bin/env node
// Install artifact checks, run by CTest (tests/install/CMakeLists.txt):
//   node validate.js manifests   manifests/ against Kubernetes schemas and policy
//   node validate.js crds        CRD schemas: structural; examples/ accepted, examples/bad/ rejected
//   node validate.js values      charts/orgsecrets/values.yaml against values.schema.json
//   node validate.js chart       the chart rendered in several configurations; defaults equal manifests/
//   node validate.js chart_cases the chart's answers to values that used to break a release
//   node validate.js kustomize   `kubectl kustomize` output, when kubectl is installed
//   node validate.js dockerfile  Dockerfile builds the way CI builds
//   node validate.js flags BIN   every controller flag the manifests and chart pass is one BIN accepts
//   node validate.js cli BIN     the CLI (BIN lint) agrees with the CRDs on examples/ and examples/bad/
// The chart is rendered by helmrender (helmrender/main.go: Go's
// text/template, sprig and Helm's additions, Helm's values merge, schema
// validation and kubeVersion check, manifests decoded as the API server
// decodes them), whose path is $ORGSECRETS_HELMRENDER.
"use strict";

const fs = require("fs");
const path = require("path");
const { execFileSync, spawnSync } = require("child_process");
const YAML = require("yaml");
const Ajv = require("ajv");
const { ROOT, parseDocs, readDocs, walkYaml, validateK8s, id, Reporter, assert, assertEqual } = require("./lib/common");
const { structuralProblems, makeAjv, compileCrd } = require("./lib/crd");

const NS = "orgsecrets-system";
const IMAGE = "ghcr.io/orgsecrets/orgsecrets-controller";
const CHART = path.join(ROOT, "charts", "orgsecrets");

// The controller's API access (docs/install.md), exactly.
const CLUSTER_RULES = [
  { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch", "create", "patch", "delete"] },
  { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] },
  { apiGroups: ["orgsecrets.io"], resources: ["organizations", "orgsecrets"], verbs: ["list", "watch"] },
  { apiGroups: ["orgsecrets.io"], resources: ["orgsecrets/status"], verbs: ["patch"] },
  { apiGroups: ["apps"], resources: ["deployments", "statefulsets", "daemonsets"], verbs: ["list", "patch"] },
];
const LEASE_RULES = [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] }];
// manifests/ files that kustomization.yaml lists only as a commented opt-in
// entry: they need a cluster's own values first (the chart has them off).
const OPT_IN = ["networkpolicy.yaml"];
const isOptIn = (p) => OPT_IN.includes(path.relative(path.join(ROOT, "manifests"), p));
const STD_LABELS = ["name", "instance", "version", "component", "part-of", "managed-by"].map((k) => `app.kubernetes.io/${k}`);

// Expands rules into sorted "group/resource:verb" grants, so that two rule
// lists compare equal when they grant the same thing.
function grants(rules) {
  const out = new Set();
  for (const r of rules) {
    assert(!r.resourceNames && !r.nonResourceURLs, "unexpected resourceNames/nonResourceURLs");
    for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) out.add(`${g}/${res}:${v}`);
  }
  return [...out].sort();
}

function loadManifests({ certManager = true, optIn = false } = {}) {
  const dir = path.join(ROOT, "manifests");
  const files = walkYaml(dir, {
    skip: (p) => p.endsWith("kustomization.yaml") || (!certManager && p.includes(`${path.sep}cert-manager${path.sep}`)) || (!optIn && isOptIn(p)),
  });
  return files.flatMap(readDocs);
}

function byKind(objs, kind) {
  return objs.filter((o) => o.kind === kind);
}
function one(objs, kind) {
  const l = byKind(objs, kind);
  assert(l.length === 1, `expected exactly one ${kind}, found ${l.length}`);
  return l[0];
}
function matches(selector, labels) {
  return Object.entries(selector).every(([k, v]) => labels && labels[k] === v);
}

// Checks that hold for any correct installation, whatever its names: every
// reference points at an object that exists and fits.
function crossCheck(objs, { ns, webhook = true, leaderElection = true }) {
  const dep = one(objs, "Deployment");
  const pod = dep.spec.template.spec;
  const c = pod.containers[0];
  const args = c.args;
  const podLabels = dep.spec.template.metadata.labels;
  assert(matches(dep.spec.selector.matchLabels, podLabels), "Deployment selector does not match its pod labels");
  for (const o of objs) {
    if (o.kind !== "CustomResourceDefinition" && o.kind !== "Namespace") {
      for (const l of STD_LABELS) assert(o.metadata.labels && o.metadata.labels[l], `${id(o)} lacks label ${l}`);
    }
    const clusterScoped = ["ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration", "CustomResourceDefinition", "Namespace"];
    if (!clusterScoped.includes(o.kind)) assert(o.metadata.namespace === ns, `${id(o)} is not in namespace ${ns}`);
  }
  const sa = byKind(objs, "ServiceAccount").map((s) => s.metadata.name);
  assert(sa.includes(pod.serviceAccountName), `pod service account ${pod.serviceAccountName} is not created`);
  const crb = one(objs, "ClusterRoleBinding");
  const cr = one(objs, "ClusterRole");
  assert(crb.roleRef.kind === "ClusterRole" && crb.roleRef.name === cr.metadata.name, "ClusterRoleBinding does not bind the ClusterRole");
  assertEqual(crb.subjects, [{ kind: "ServiceAccount", name: pod.serviceAccountName, namespace: ns }], "ClusterRoleBinding subjects");
  assertEqual(grants(cr.rules), grants(CLUSTER_RULES), "ClusterRole grants");
  for (const r of [...byKind(objs, "ClusterRole"), ...byKind(objs, "Role")]) {
    for (const rule of r.rules) {
      for (const f of ["apiGroups", "resources", "verbs"]) assert(!rule[f].includes("*"), `${id(r)} uses a wildcard in ${f}`);
    }
  }
  const svc = one(objs, "Service");
  assert(matches(svc.spec.selector, podLabels), "Service selector does not match the pods");
  const pdbs = byKind(objs, "PodDisruptionBudget");
  for (const pdb of pdbs) assert(matches(pdb.spec.selector.matchLabels, podLabels), "PDB selector does not match the pods");
  const ports = Object.fromEntries(c.ports.map((p) => [p.name, p.containerPort]));
  for (const p of svc.spec.ports) assert(ports[p.targetPort] !== undefined, `Service port ${p.name} targets unknown port ${p.targetPort}`);
  for (const probe of [c.livenessProbe, c.readinessProbe]) assert(ports[probe.httpGet.port] !== undefined, "probe on unknown port");
  assert(c.livenessProbe.httpGet.path === "/healthz" && c.readinessProbe.httpGet.path === "/readyz", "probe paths");
  const listen = args[args.indexOf("--listen") + 1];
  assert(listen && listen.endsWith(`:${ports.http}`), `--listen ${listen} is not the http port ${ports.http}`);
  const volumes = Object.fromEntries(pod.volumes.map((v) => [v.name, v]));
  for (const m of c.volumeMounts) assert(volumes[m.name], `mount of unknown volume ${m.name}`);
  const idMount = c.volumeMounts.find((m) => m.name === "identity");
  assert(idMount && idMount.readOnly === true, "identity is not mounted read-only");
  assert(volumes.identity.secret && volumes.identity.secret.defaultMode === 0o400, "identity Secret defaultMode is not 0400");
  assertEqual(volumes.identity.secret.items, [{ key: "identity", path: "identity" }], "identity Secret items");
  assert(args[args.indexOf("--identity") + 1] === `${idMount.mountPath}/identity`, "--identity is not the mounted key");
  for (const v of pod.volumes) {
    if (v.emptyDir) {
      const used = c.volumeMounts.find((m) => m.name === v.name);
      assert(used, `emptyDir ${v.name} is not mounted`);
      assert(args.some((a) => a.startsWith(used.mountPath)), `emptyDir ${v.name} is mounted but nothing writes there`);
    }
  }
  assert(args.includes("--leader-elect") === leaderElection, `--leader-elect ${leaderElection ? "missing" : "present"}`);
  if (leaderElection) {
    assert(args[args.indexOf("--lease-namespace") + 1] === ns, "--lease-namespace is not the release namespace");
    const role = one(objs, "Role");
    assertEqual(grants(role.rules), grants(LEASE_RULES), "leader-election Role grants");
    const rb = one(objs, "RoleBinding");
    assert(rb.roleRef.kind === "Role" && rb.roleRef.name === role.metadata.name, "RoleBinding does not bind the Role");
    assertEqual(rb.subjects, [{ kind: "ServiceAccount", name: pod.serviceAccountName, namespace: ns }], "RoleBinding subjects");
  } else {
    assert(byKind(objs, "Role").length === 0, "Role without leader election");
  }
  const mwc = byKind(objs, "MutatingWebhookConfiguration");
  assert(mwc.length === (webhook ? 1 : 0), `MutatingWebhookConfiguration count ${mwc.length}`);
  assert(args.includes("--webhook-listen") === webhook, "--webhook-listen does not follow webhook.enabled");
  if (webhook) {
    const w = mwc[0].webhooks[0];
    const s = w.clientConfig.service;
    assert(s.name === svc.metadata.name && s.namespace === ns, "webhook points at another Service");
    const sp = svc.spec.ports.find((p) => p.port === s.port);
    assert(sp && ports[sp.targetPort] !== undefined, "webhook Service port missing");
    const wl = args[args.indexOf("--webhook-listen") + 1];
    assert(wl.endsWith(`:${ports[sp.targetPort]}`), "--webhook-listen is not the Service's target port");
    assert(s.path === "/mutate-pods", "webhook path");
    assertEqual(w.objectSelector, { matchLabels: { "orgsecrets.io/inject": "true" } }, "webhook objectSelector");
    const ex = w.namespaceSelector.matchExpressions.find((e) => e.key === "kubernetes.io/metadata.name");
    assert(ex && ex.operator === "NotIn" && ex.values.includes(ns), "webhook does not exclude its own namespace");
    assertEqual(w.rules, [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"], scope: "Namespaced" }], "webhook rules");
    assertEqual(
      [w.sideEffects, w.admissionReviewVersions, w.reinvocationPolicy, w.timeoutSeconds],
      ["None", ["v1"], "IfNeeded", 5],
      "webhook sideEffects/admissionReviewVersions/reinvocationPolicy/timeoutSeconds",
    );
    const tlsMount = c.volumeMounts.find((m) => m.name === "webhook-tls");
    assert(tlsMount && tlsMount.readOnly, "webhook TLS not mounted read-only");
    assert(args[args.indexOf("--tls-cert") + 1] === `${tlsMount.mountPath}/tls.crt`, "--tls-cert path");
    assert(args[args.indexOf("--tls-key") + 1] === `${tlsMount.mountPath}/tls.key`, "--tls-key path");
    const certs = byKind(objs, "Certificate");
    const ann = (mwc[0].metadata.annotations || {})["cert-manager.io/inject-ca-from"];
    if (certs.length) {
      const cert = certs[0];
      assert(ann === `${ns}/${cert.metadata.name}`, `inject-ca-from ${ann} is not the Certificate`);
      assert(cert.spec.secretName === volumes["webhook-tls"].secret.secretName, "Certificate writes another Secret than the pod mounts");
      for (const dns of [`${svc.metadata.name}.${ns}.svc`]) assert(cert.spec.dnsNames.includes(dns), `Certificate lacks ${dns}`);
      const issuers = byKind(objs, "Issuer").map((i) => i.metadata.name);
      if (cert.spec.issuerRef.kind === "Issuer") assert(issuers.includes(cert.spec.issuerRef.name), "Certificate's Issuer is missing");
    }
  }
}

function securityCheck(dep) {
  const pod = dep.spec.template.spec;
  const c = pod.containers[0];
  const psc = pod.securityContext;
  const sc = c.securityContext;
  assert(psc.runAsNonRoot === true && sc.runAsNonRoot === true, "runAsNonRoot");
  assert(sc.runAsUser === 65532 && sc.runAsGroup === 65532 && psc.runAsUser === 65532, "numeric runAsUser/runAsGroup 65532");
  assert(sc.readOnlyRootFilesystem === true, "readOnlyRootFilesystem");
  assert(sc.allowPrivilegeEscalation === false, "allowPrivilegeEscalation");
  assertEqual(sc.capabilities, { drop: ["ALL"] }, "capabilities");
  assert(sc.seccompProfile.type === "RuntimeDefault" && psc.seccompProfile.type === "RuntimeDefault", "seccompProfile");
  assertEqual(c.resources, { requests: { cpu: "10m", memory: "24Mi" }, limits: { memory: "64Mi" } }, "resources");
}

// ---------------------------------------------------------------- sections

function sectionManifests(r) {
  const docs = loadManifests({ optIn: true });
  const objs = docs.map((d) => d.obj);
  for (const d of docs) r.check(`schema: ${id(d.obj)} (${d.file})`, () => validateK8s(d.obj));
  r.check("manifests: cross references, RBAC, webhook", () => crossCheck(objs, { ns: NS }));
  r.check("manifests: pod security", () => securityCheck(one(objs, "Deployment")));
  r.check("manifests: deployment shape", () => {
    const dep = one(objs, "Deployment");
    assert(dep.spec.replicas === 2, "replicas");
    const c = dep.spec.template.spec.containers[0];
    assert(c.image === `${IMAGE}:0.1.0`, `image ${c.image}`);
    assert(dep.spec.template.spec.volumes.every((v) => !v.emptyDir), "an emptyDir that nothing needs");
    const names = dep.spec.template.spec.volumes.map((v) => v.secret && v.secret.secretName);
    assertEqual(names, ["orgsecrets-controller-identity", "orgsecrets-webhook-tls"], "Secrets mounted");
    const a = c.args;
    const flag = (f) => a[a.indexOf(f) + 1];
    assertEqual([flag("--source"), flag("--listen"), flag("--webhook-listen")], ["cluster", "0.0.0.0:8080", "0.0.0.0:8443"], "source/listen flags");
    const svc = one(objs, "Service");
    assertEqual(svc.spec.ports.map((p) => [p.port, p.targetPort]), [[443, "webhook"], [8080, "http"]], "Service ports");
    assert(one(objs, "PodDisruptionBudget").spec.minAvailable === 1, "PDB minAvailable");
    assert(one(objs, "Namespace").metadata.name === NS, "namespace");
    const w = one(objs, "MutatingWebhookConfiguration").webhooks[0];
    assert(w.failurePolicy === "Fail", "failurePolicy");
    // docs/install.md and docs/gitops.md patch /args/1 to change the environment.
    assert(a[0] === "--environment" && a[1] === "prod", "args[0..1] are no longer --environment prod");
  });
  r.check("docs: YAML examples parse, GitOps objects are complete", () => {
    for (const f of ["install.md", "gitops.md", "operations.md"]) {
      const text = fs.readFileSync(path.join(ROOT, "docs", f), "utf8");
      const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
      for (const b of blocks) {
        for (const doc of parseDocs(b, `docs/${f}`)) {
          if (doc.kind) assert(doc.apiVersion && doc.metadata && doc.metadata.name && doc.spec, `docs/${f}: incomplete ${doc.kind}`);
        }
      }
    }
  });
  r.check("manifests: the opt-in NetworkPolicy admits the webhook port of the controller pods", () => {
    const np = one(objs, "NetworkPolicy");
    const dep = one(objs, "Deployment");
    assert(matches(np.spec.podSelector.matchLabels, dep.spec.template.metadata.labels), "NetworkPolicy selects other pods");
    const names = dep.spec.template.spec.containers[0].ports.map((p) => p.name);
    assertEqual(np.spec.ingress.map((i) => i.ports[0].port), ["webhook", "http"], "NetworkPolicy ports");
    for (const i of np.spec.ingress) assert(names.includes(i.ports[0].port), `NetworkPolicy port ${i.ports[0].port} is not the pod's`);
    assert(np.spec.ingress[0].from && np.spec.ingress[0].from.length, "webhook port open to every source");
  });
  r.check("manifests: every file is listed in a kustomization", () => {
    const dir = path.join(ROOT, "manifests");
    for (const kdir of [dir, path.join(dir, "cert-manager")]) {
      const text = fs.readFileSync(path.join(kdir, "kustomization.yaml"), "utf8");
      const k = YAML.parse(text);
      const listed = (k.resources || []).map((f) => path.resolve(kdir, f)).sort();
      const present = walkYaml(kdir, {
        skip: (p, ent) => p.endsWith("kustomization.yaml") || (ent.isDirectory() && kdir === dir && ent.name === "cert-manager") || isOptIn(p),
      }).sort();
      if (kdir === dir) for (const f of OPT_IN) assert(text.includes(`# - ${f}`), `kustomization.yaml lacks the opt-in entry # - ${f}`);
      assertEqual(listed, present, `${path.relative(ROOT, kdir)}/kustomization.yaml resources`);
    }
  });
}

function loadCrds() {
  return walkYaml(path.join(ROOT, "manifests", "crds")).flatMap(readDocs).map((d) => d.obj);
}

function sectionCrds(r) {
  const crds = loadCrds();
  const ajv = makeAjv();
  const validators = {};
  for (const crd of crds) {
    r.check(`crd ${crd.metadata.name}: structural schema`, () => {
      const p = structuralProblems(crd.spec.versions[0].schema.openAPIV3Schema);
      assert(p.length === 0, p.join("\n"));
      assert(crd.spec.scope === "Cluster", "not cluster-scoped");
      assertEqual(crd.spec.versions.map((v) => [v.name, v.served, v.storage, v.subresources]), [["v1", true, true, { status: {} }]], "versions");
      assert(!JSON.stringify(crd).includes("x-kubernetes-preserve-unknown-fields"), "preserve-unknown-fields used");
    });
    validators[crd.spec.names.kind] = compileCrd(ajv, crd);
  }
  r.check("crd OrgSecret: printer columns", () => {
    const crd = crds.find((c) => c.spec.names.kind === "OrgSecret");
    const cols = crd.spec.versions[0].additionalPrinterColumns.map((c) => [c.name, c.jsonPath]);
    assertEqual(
      cols,
      [
        ["Name", ".spec.name"], ["Environment", ".spec.environment"], ["Application", ".spec.application"],
        ["Status", ".spec.state"], ["Updated", ".spec.updatedAt"],
        ["Ready", '.status.conditions[?(@.type=="Ready")].status'], ["Age", ".metadata.creationTimestamp"],
      ],
      "columns",
    );
  });
  const good = walkYaml(path.join(ROOT, "examples"), { skip: (p) => p === path.join(ROOT, "examples", "bad") }).flatMap(readDocs);
  const kinds = new Set();
  for (const d of good) {
    r.check(`accepted: ${d.file}`, () => {
      const v = validators[d.obj.kind];
      assert(v, `no CRD for kind ${d.obj.kind}`);
      kinds.add(d.obj.kind);
      if (!v(d.obj)) throw new Error(ajv.errorsText(v.errors, { separator: "\n" }));
      if (d.obj.kind === "OrgSecret") {
        const s = d.obj.spec;
        const want = `${s.organization}.${s.environment}.${s.name.toLowerCase().replace(/_/g, "-")}`;
        assert(d.obj.metadata.name === want, `metadata.name ${d.obj.metadata.name} is not ${want}`);
      }
    });
  }
  r.check("examples cover both kinds", () => assertEqual([...kinds].sort(), ["OrgSecret", "Organization"], "kinds"));
  const bad = walkYaml(path.join(ROOT, "examples", "bad"));
  r.check("examples/bad has cases", () => assert(bad.length >= 4, "too few bad examples"));
  for (const f of bad) {
    const rel = path.relative(ROOT, f);
    r.check(`rejected: ${rel}`, () => {
      const text = fs.readFileSync(f, "utf8");
      const m = /^# expect: (\S+) (\S+)$/m.exec(text);
      assert(m, "no '# expect: PATH KEYWORD' line");
      const [obj] = parseDocs(text, rel);
      const v = validators[obj.kind];
      assert(!v(obj), "accepted, but must be rejected");
      const hit = v.errors.some((e) => e.instancePath === m[1] && e.keyword === m[2]);
      assert(hit, `rejected, but not for ${m[1]} ${m[2]}:\n${ajv.errorsText(v.errors, { separator: "\n" })}`);
    });
  }
}

function loadValues(overrides = {}) {
  const values = parseDocs(fs.readFileSync(path.join(CHART, "values.yaml"), "utf8"), "values.yaml")[0];
  return deepMerge(values, overrides);
}
function deepMerge(a, b) {
  if (b === undefined) return a;
  if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)) {
    const out = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = deepMerge(a[k], v);
    return out;
  }
  return b;
}
function valuesValidator() {
  const schema = JSON.parse(fs.readFileSync(path.join(CHART, "values.schema.json"), "utf8"));
  const ajv = new Ajv({ allErrors: true, strict: true });
  require("ajv-formats")(ajv);
  return { ajv, v: ajv.compile(schema), schema };
}

function sectionValues(r) {
  const { ajv, v, schema } = valuesValidator();
  r.check("values.schema.json is draft-07", () => assert(schema.$schema === "http://json-schema.org/draft-07/schema#", schema.$schema));
  r.check("values.yaml is valid", () => {
    if (!v(loadValues())) throw new Error(ajv.errorsText(v.errors));
  });
  const cases = [
    [{ replicaCount: "two" }, "/replicaCount"],
    [{ replicaCount: 0 }, "/replicaCount"],
    [{ image: { pullPolicy: "Sometimes" } }, "/image/pullPolicy"],
    [{ environment: "Prod" }, "/environment"],
    [{ environment: "" }, "/environment"],
    [{ webhook: { failurePolicy: "Maybe" } }, "/webhook/failurePolicy"],
    [{ webhook: { timeoutSeconds: 31 } }, "/webhook/timeoutSeconds"],
    [{ webhook: { enabeld: true } }, "/webhook"],
    [{ webhook: { networkPolicy: { enabled: true, from: [{}] } } }, "/webhook/networkPolicy/from/0"],
    [{ replicas: 3 }, ""],
    [{ leaderElection: { enabled: "yes" } }, "/leaderElection/enabled"],
    [{ identity: { existingSecret: "" } }, "/identity/existingSecret"],
    [{ resync: "ten minutes" }, "/resync"],
    [{ extraArgs: [1] }, "/extraArgs/0"],
    [{ metrics: { serviceMonitor: { interval: 30 } } }, "/metrics/serviceMonitor/interval"],
    [{ pdb: { minAvailable: -1 } }, "/pdb/minAvailable"],
    [{ securityContext: "privileged" }, "/securityContext"],
  ];
  for (const [over, where] of cases) {
    r.check(`values rejected: ${JSON.stringify(over)}`, () => {
      assert(!v(loadValues(over)), "accepted");
      assert(v.errors.some((e) => e.instancePath === where), `rejected elsewhere: ${ajv.errorsText(v.errors)}`);
    });
  }
}

function chartMeta() {
  return YAML.parse(fs.readFileSync(path.join(CHART, "Chart.yaml"), "utf8"));
}

const RENDERER = process.env.ORGSECRETS_HELMRENDER;
// What a cluster with cert-manager and the Prometheus Operator serves
// besides the built-in APIs.
const CRD_APIS = ["cert-manager.io/v1", "monitoring.coreos.com/v1"];

function helmrender(overrides, release, { apiVersions = CRD_APIS, kubeVersion, skipSchema } = {}) {
  assert(RENDERER, "ORGSECRETS_HELMRENDER is not set (tests/install/CMakeLists.txt builds helmrender)");
  const args = ["-chart", CHART, "-name", release.name, "-namespace", release.namespace, "-values-yaml", JSON.stringify(overrides)];
  if (apiVersions.length) args.push("-api-versions", apiVersions.join(","));
  if (kubeVersion) args.push("-kube-version", kubeVersion);
  if (skipSchema) args.push("-skip-schema-validation");
  return spawnSync(RENDERER, args, { encoding: "utf8", maxBuffer: 64 << 20 });
}

// Renders the chart as `helm template` would; throws Helm's error message.
function render(overrides = {}, release = { name: "orgsecrets", namespace: NS }, opts = {}) {
  const res = helmrender(overrides, release, opts);
  if (res.error) throw res.error;
  if (res.status !== 0) throw new Error(res.stderr.trim() || `helmrender exited ${res.status}`);
  const out = JSON.parse(res.stdout);
  const objs = out.manifests.flatMap((m) => m.objects);
  return { objs, notes: out.notes, values: out.values, manifests: out.manifests, warnings: res.stderr };
}

// The error a refused render prints (Helm's "Error: ..." line or lines).
function renderError(overrides, release = { name: "orgsecrets", namespace: NS }, opts = {}) {
  const res = helmrender(overrides, release, opts);
  if (res.error) throw res.error;
  assert(res.status === 1, `rendered (exit ${res.status}), but must be refused`);
  assert(/^Error: /.test(res.stderr), `no "Error: " message: ${res.stderr}`);
  return res.stderr.trim();
}

// Drops what legitimately differs between a Helm release and kubectl apply.
function normalize(obj) {
  const o = JSON.parse(JSON.stringify(obj));
  const strip = (labels) => {
    if (!labels) return;
    delete labels["helm.sh/chart"];
    delete labels["app.kubernetes.io/managed-by"];
  };
  strip(o.metadata.labels);
  if (o.spec && o.spec.template && o.spec.template.metadata) strip(o.spec.template.metadata.labels);
  return o;
}

function sectionChart(r) {
  const meta = chartMeta();
  const { v: valuesOk, ajv } = valuesValidator();
  r.check("Chart.yaml", () => {
    assertEqual([meta.apiVersion, meta.name, meta.appVersion], ["v2", "orgsecrets", "0.1.0"], "apiVersion/name/appVersion");
    assert(/^\d+\.\d+\.\d+/.test(meta.version), "version is not SemVer");
  });
  r.check("chart crds/ equal manifests/crds/", () => {
    const a = fs.readdirSync(path.join(CHART, "crds")).sort();
    const b = fs.readdirSync(path.join(ROOT, "manifests", "crds")).sort();
    assertEqual(a, b, "file names");
    for (const f of a) {
      assert(
        fs.readFileSync(path.join(CHART, "crds", f), "utf8") === fs.readFileSync(path.join(ROOT, "manifests", "crds", f), "utf8"),
        `${f} differs`,
      );
    }
  });

  let def;
  r.check("render with default values", () => {
    def = render();
  });
  if (!def) return;
  for (const o of def.objs) r.check(`schema: chart ${id(o)}`, () => validateK8s(o));
  r.check("chart defaults: cross references, RBAC, webhook", () => crossCheck(def.objs, { ns: NS }));
  r.check("chart defaults: pod security", () => securityCheck(one(def.objs, "Deployment")));
  r.check("chart defaults: labels say Helm", () => {
    for (const o of def.objs) {
      assert(o.metadata.labels["app.kubernetes.io/managed-by"] === "Helm", `${id(o)} managed-by`);
      assert(o.metadata.labels["app.kubernetes.io/version"] === meta.appVersion, `${id(o)} version label`);
    }
  });
  r.check("chart defaults render the same objects as manifests/ (+ cert-manager/)", () => {
    const man = loadManifests().map((d) => d.obj).filter((o) => o.kind !== "Namespace" && o.kind !== "CustomResourceDefinition");
    const ids = (l) => l.map(id).sort();
    assertEqual(ids(def.objs), ids(man), "kinds and names");
    for (const m of man) {
      const c = def.objs.find((o) => id(o) === id(m));
      assertEqual(normalize(c), normalize(m), `${id(m)} differs between chart and manifests`);
    }
  });
  r.check("chart defaults: no merge warnings", () => assert(def.warnings === "", def.warnings));
  r.check("chart NOTES.txt: the identity Secret, created before install, with the exact command", () => {
    assert(/orgsecrets keygen -o controller\.key/.test(def.notes), "NOTES.txt lacks the keygen step");
    assert(/BEFORE `helm install`/.test(def.notes) && /--wait/.test(def.notes), "NOTES.txt does not say the Secret comes before install");
    const cmd = `kubectl -n ${NS} create secret generic orgsecrets-controller-identity \\\n       --from-file=identity=controller.key`;
    assert(def.notes.includes(cmd), `NOTES.txt lacks: ${cmd}`);
  });
  r.check("chart README: the identity Secret before helm install, with the exact command", () => {
    const readme = fs.readFileSync(path.join(CHART, "README.md"), "utf8");
    const secret = readme.indexOf(`kubectl -n ${NS} create secret generic orgsecrets-controller-identity`);
    const install = readme.indexOf("helm install orgsecrets");
    assert(secret >= 0 && install > secret, "README does not create the identity Secret before helm install");
  });

  const variants = [
    {
      name: "everything on",
      values: {
        replicaCount: 3,
        image: { tag: "0.1.1", pullPolicy: "Always" },
        imagePullSecrets: [{ name: "regcred" }],
        auditLog: { enabled: true },
        envFileDir: "/run/orgsecrets/env",
        kubeClient: { qps: 20, burst: 40 },
        extraArgs: ["--kubeconfig", "/etc/kube/config"],
        extraVolumes: [{ name: "kube", secret: { secretName: "kubeconfig" } }],
        extraVolumeMounts: [{ name: "kube", mountPath: "/etc/kube", readOnly: true }],
        podAnnotations: { "example.com/a": "b" },
        podLabels: { team: "platform" },
        nodeSelector: { "kubernetes.io/os": "linux" },
        tolerations: [{ key: "dedicated", operator: "Equal", value: "infra", effect: "NoSchedule" }],
        affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: "infra", operator: "Exists" }] }] } } },
        priorityClassName: "system-cluster-critical",
        serviceAccount: { annotations: { "example.com/role": "x" } },
        metrics: { serviceMonitor: { enabled: true, labels: { release: "prom" } } },
        webhook: { certManager: { issuerRef: { kind: "ClusterIssuer", name: "internal-ca" } }, excludedNamespaces: ["kube-system", "cert-manager"] },
      },
      check(objs) {
        const dep = one(objs, "Deployment");
        const pod = dep.spec.template.spec;
        const c = pod.containers[0];
        const a = c.args;
        for (const f of ["--audit-log", "--env-file-dir", "--qps", "--burst", "--kubeconfig"]) assert(a.includes(f), `missing ${f}`);
        assertEqual([a[a.indexOf("--qps") + 1], a[a.indexOf("--burst") + 1]], ["20", "40"], "qps/burst");
        assert(c.image === `${IMAGE}:0.1.1` && c.imagePullPolicy === "Always", "image");
        assert(dep.spec.replicas === 3, "replicas");
        assert(dep.spec.template.metadata.labels.team === "platform", "podLabels");
        assert(dep.spec.template.metadata.annotations["example.com/a"] === "b", "podAnnotations");
        assert(pod.nodeSelector["kubernetes.io/os"] === "linux" && pod.tolerations.length === 1 && pod.affinity.nodeAffinity, "scheduling");
        assert(pod.priorityClassName === "system-cluster-critical" && pod.imagePullSecrets[0].name === "regcred", "priority/pull secrets");
        assert(pod.volumes.some((v) => v.name === "kube") && c.volumeMounts.some((m) => m.name === "kube"), "extra volume");
        const sm = one(objs, "ServiceMonitor");
        assert(sm.metadata.labels.release === "prom" && sm.spec.endpoints[0].port === "metrics", "ServiceMonitor");
        assert(one(objs, "Service").spec.ports.some((p) => p.name === sm.spec.endpoints[0].port), "ServiceMonitor port not on the Service");
        assert(byKind(objs, "Issuer").length === 0, "self-signed Issuer despite issuerRef");
        assertEqual(one(objs, "Certificate").spec.issuerRef, { kind: "ClusterIssuer", name: "internal-ca" }, "issuerRef");
        assert(one(objs, "ServiceAccount").metadata.annotations["example.com/role"] === "x", "SA annotations");
        const ex = one(objs, "MutatingWebhookConfiguration").webhooks[0].namespaceSelector.matchExpressions[0];
        assertEqual(ex.values, [NS, "kube-system", "cert-manager"], "excluded namespaces");
      },
    },
    {
      name: "webhook disabled",
      values: { webhook: { enabled: false } },
      opts: { webhook: false },
      check(objs) {
        for (const k of ["Certificate", "Issuer", "MutatingWebhookConfiguration"]) assert(byKind(objs, k).length === 0, `${k} rendered`);
        const dep = one(objs, "Deployment");
        assert(!dep.spec.template.spec.volumes.some((v) => v.name === "webhook-tls"), "TLS volume without webhook");
        assert(one(objs, "Service").spec.ports.length === 1, "webhook Service port without webhook");
      },
    },
    {
      name: "existing TLS Secret without cert-manager",
      values: { webhook: { certManager: { enabled: false }, existingSecret: "my-tls", caBundle: "Q0EK" } },
      check(objs) {
        assert(byKind(objs, "Certificate").length === 0, "Certificate rendered");
        const mwc = one(objs, "MutatingWebhookConfiguration");
        assert(!(mwc.metadata.annotations || {})["cert-manager.io/inject-ca-from"], "inject-ca-from without cert-manager");
        assert(mwc.webhooks[0].clientConfig.caBundle === "Q0EK", "caBundle");
        const v = one(objs, "Deployment").spec.template.spec.volumes.find((x) => x.name === "webhook-tls");
        assert(v.secret.secretName === "my-tls", "existing Secret not mounted");
      },
    },
    {
      name: "leader election off, single replica, no PDB",
      values: { leaderElection: { enabled: false }, replicaCount: 1, pdb: { enabled: false } },
      opts: { leaderElection: false },
      check(objs) {
        assert(byKind(objs, "PodDisruptionBudget").length === 0, "PDB rendered");
      },
    },
    {
      name: "another release name and namespace",
      values: { serviceAccount: { name: "custom-sa" }, environment: "staging", source: "/specs" },
      release: { name: "acme", namespace: "secrets" },
      opts: { ns: "secrets" },
      check(objs) {
        const dep = one(objs, "Deployment");
        assert(dep.metadata.name === "acme-orgsecrets-controller", dep.metadata.name);
        const a = dep.spec.template.spec.containers[0].args;
        assertEqual([a[a.indexOf("--environment") + 1], a[a.indexOf("--source") + 1]], ["staging", "/specs"], "environment/source");
        assert(dep.spec.template.spec.serviceAccountName === "custom-sa", "serviceAccount.name");
        assert(one(objs, "Certificate").spec.dnsNames[0] === "acme-orgsecrets-controller.secrets.svc", "dnsNames");
      },
    },
  ];
  for (const vt of variants) {
    r.check(`chart variant: ${vt.name}`, () => {
      const { objs, values } = render(vt.values, vt.release);
      if (!valuesOk(values)) throw new Error(`values invalid: ${ajv.errorsText(valuesOk.errors)}`);
      for (const o of objs) {
        try {
          validateK8s(o);
        } catch (e) {
          throw new Error(`${id(o)}: ${e.message}`);
        }
      }
      crossCheck(objs, { ns: NS, ...(vt.opts || {}) });
      securityCheck(one(objs, "Deployment"));
      vt.check(objs);
    });
  }
}

// Values that used to render a broken release: each is now either rendered
// correctly or refused with a message that says what to set.
function sectionChartCases(r) {
  const dep = (objs) => one(objs, "Deployment");
  const container = (objs) => dep(objs).spec.template.spec.containers[0];
  const flag = (objs, f) => {
    const a = container(objs).args;
    return a.indexOf(f) >= 0 ? a[a.indexOf(f) + 1] : undefined;
  };
  const expectRefused = (name, overrides, pattern, opts = {}, release) => {
    r.check(`refused: ${name}`, () => {
      const err = renderError(overrides, release, opts);
      assert(pattern.test(err), `refused, but not with ${pattern}:\n${err}`);
    });
  };

  // Names the schema and the CLI accept that YAML 1.1 would read as a
  // number, a boolean or null when unquoted.
  for (const name of ["2024", "on", "no", "012", "0x1f", "1e3", "null"]) {
    const values = {
      environment: name,
      nameOverride: name,
      priorityClassName: name,
      identity: { existingSecret: name },
      serviceAccount: { name },
      webhook: { excludedNamespaces: [name] },
      envFileDir: `/${name}`,
      metrics: { serviceMonitor: { enabled: true } },
    };
    const release = { name, namespace: name };
    for (const [how, extra] of [
      ["cert-manager", {}],
      ["existing TLS Secret", { webhook: { certManager: { enabled: false }, existingSecret: name, caBundle: "Q0EK" } }],
    ]) {
      r.check(`strings stay strings: "${name}" as environment, release, namespace and names (${how})`, () => {
        const { objs } = render(deepMerge(values, extra), release);
        for (const o of objs) {
          try {
            validateK8s(o);
          } catch (e) {
            throw new Error(`${id(o)}: ${e.message}`);
          }
          if (o.metadata.namespace !== undefined) assert(o.metadata.namespace === name, `${id(o)} namespace ${JSON.stringify(o.metadata.namespace)}`);
          for (const [k, v] of Object.entries(o.metadata.labels)) assert(typeof v === "string", `${id(o)} label ${k}: ${JSON.stringify(v)}`);
        }
        crossCheck(objs, { ns: name });
        const c = container(objs);
        assert(c.args.every((a) => typeof a === "string"), `args are not all strings: ${JSON.stringify(c.args)}`);
        assertEqual(
          [flag(objs, "--environment"), flag(objs, "--lease-namespace"), flag(objs, "--env-file-dir")],
          [name, name, `/${name}`],
          "--environment/--lease-namespace/--env-file-dir",
        );
        const pod = dep(objs).spec.template.spec;
        assertEqual([pod.serviceAccountName, pod.priorityClassName], [name, name], "serviceAccountName/priorityClassName");
        assert(pod.volumes.find((v) => v.name === "identity").secret.secretName === name, "identity secretName");
        assert(dep(objs).metadata.labels["app.kubernetes.io/name"] === name, "name label");
        const ex = one(objs, "MutatingWebhookConfiguration").webhooks[0].namespaceSelector.matchExpressions[0];
        assertEqual(ex.values, [name, name], "webhook excluded namespaces");
        const sm = one(objs, "ServiceMonitor");
        assertEqual(sm.spec.namespaceSelector.matchNames, [name], "ServiceMonitor namespace");
        if (extra.webhook) {
          assert(pod.volumes.find((v) => v.name === "webhook-tls").secret.secretName === name, "webhook TLS secretName");
        } else {
          const svc = one(objs, "Service").metadata.name;
          assertEqual(one(objs, "Certificate").spec.dnsNames, [`${svc}.${name}.svc`, `${svc}.${name}.svc.cluster.local`], "Certificate dnsNames");
        }
      });
    }
  }

  // A ServiceAccount must be named when the chart does not create one:
  // the schema says so, and the template too (helm --skip-schema-validation).
  expectRefused("serviceAccount.create=false, name left empty (schema)", { serviceAccount: { create: false } },
    /serviceAccount\.name: String length must be greater than or equal to 1/);
  expectRefused("serviceAccount.create=false, name: null (schema)", { serviceAccount: { create: false, name: null } },
    /serviceAccount: name is required/);
  expectRefused("serviceAccount.create=false without a name (template)", { serviceAccount: { create: false } },
    /execution error at \(orgsecrets\/templates\/[^)]*\): serviceAccount\.create=false needs serviceAccount\.name/,
    { skipSchema: true });
  r.check("serviceAccount.create=false with a name binds that one", () => {
    const { objs } = render({ serviceAccount: { create: false, name: "ci-bot" } });
    assert(byKind(objs, "ServiceAccount").length === 0, "a ServiceAccount was created");
    assert(dep(objs).spec.template.spec.serviceAccountName === "ci-bot", "serviceAccountName");
    assertEqual(one(objs, "ClusterRoleBinding").subjects, [{ kind: "ServiceAccount", name: "ci-bot", namespace: NS }], "subjects");
  });

  // The webhook's NetworkPolicy: off by default, the same as
  // manifests/networkpolicy.yaml when on, refused without its sources.
  r.check("webhook.networkPolicy renders manifests/networkpolicy.yaml", () => {
    const want = one(loadManifests({ optIn: true }).map((d) => d.obj), "NetworkPolicy");
    const { objs } = render({ webhook: { networkPolicy: { enabled: true, from: want.spec.ingress[0].from } } });
    const got = one(objs, "NetworkPolicy");
    validateK8s(got);
    assertEqual(normalize(got), normalize(want), "NetworkPolicy differs between chart and manifests");
    assert(byKind(render().objs, "NetworkPolicy").length === 0, "NetworkPolicy by default");
    const off = render({ webhook: { enabled: false, networkPolicy: { enabled: true, from: [{ ipBlock: { cidr: "10.0.0.0/8" } }] } } });
    assert(byKind(off.objs, "NetworkPolicy").length === 0, "NetworkPolicy without webhook");
  });
  expectRefused("webhook.networkPolicy without its sources", { webhook: { networkPolicy: { enabled: true } } },
    /webhook\.networkPolicy\.enabled needs webhook\.networkPolicy\.from/);

  // Webhook TLS: exactly one source of the certificate, and its CA.
  expectRefused("webhook without cert-manager, without a TLS Secret", { webhook: { certManager: { enabled: false } } },
    /webhook\.certManager\.enabled=false needs webhook\.existingSecret .* and webhook\.caBundle/);
  expectRefused("webhook TLS Secret without caBundle", { webhook: { certManager: { enabled: false }, existingSecret: "my-tls" } },
    /webhook\.existingSecret needs webhook\.caBundle/);
  expectRefused("webhook TLS Secret with cert-manager still enabled", { webhook: { existingSecret: "my-tls" } },
    /webhook\.existingSecret is your own TLS Secret, which cert-manager .* would take over: set webhook\.certManager\.enabled=false/);

  // Several replicas need leader election.
  expectRefused("leader election off with 2 replicas", { leaderElection: { enabled: false } },
    /leaderElection\.enabled=false with replicaCount=2 would run 2 controllers/);
  expectRefused("leader election off with 3 replicas", { leaderElection: { enabled: false }, replicaCount: 3 },
    /leaderElection\.enabled=false with replicaCount=3/);
  r.check("leader election off with 1 replica renders", () => {
    const { objs } = render({ leaderElection: { enabled: false }, replicaCount: 1 });
    assert(!container(objs).args.includes("--leader-elect"), "--leader-elect");
  });

  // CRDs the release needs, checked against what the cluster serves.
  expectRefused("cert-manager missing", {}, /needs cert-manager, but the cluster does not serve cert-manager\.io\/v1: install cert-manager first/,
    { apiVersions: ["monitoring.coreos.com/v1"] });
  expectRefused("Prometheus Operator missing", { metrics: { serviceMonitor: { enabled: true } } },
    /needs the Prometheus Operator, but the cluster does not serve monitoring\.coreos\.com\/v1/,
    { apiVersions: ["cert-manager.io/v1"] });
  r.check("no CRD APIs needed without cert-manager and ServiceMonitor", () => {
    const { objs } = render({ webhook: { certManager: { enabled: false }, existingSecret: "my-tls", caBundle: "Q0EK" } }, undefined, { apiVersions: [] });
    assert(byKind(objs, "Certificate").length === 0 && byKind(objs, "ServiceMonitor").length === 0, "CRD objects rendered");
  });
  expectRefused("Kubernetes older than Chart.yaml's kubeVersion", {}, /chart requires kubeVersion: \S+ which is incompatible with Kubernetes v1\.19\.0/,
    { kubeVersion: "v1.19.0" });

  // A PodDisruptionBudget only when the replicas can satisfy it.
  const pdbCases = [
    [{ replicaCount: 1 }, null],
    [{ replicaCount: 2 }, 1],
    [{ replicaCount: 2, pdb: { minAvailable: 2 } }, null],
    [{ replicaCount: 3, pdb: { minAvailable: 2 } }, 2],
    [{ replicaCount: 1, pdb: { minAvailable: "50%" } }, null],
    [{ replicaCount: 3, pdb: { minAvailable: "50%" } }, "50%"],
    [{ replicaCount: 2, pdb: { minAvailable: "100%" } }, null],
    [{ replicaCount: 3, pdb: { enabled: false } }, null],
  ];
  for (const [values, want] of pdbCases) {
    r.check(`PodDisruptionBudget for ${JSON.stringify(values)}: ${want === null ? "none" : `minAvailable ${want}`}`, () => {
      const { objs, notes } = render(values);
      const pdbs = byKind(objs, "PodDisruptionBudget");
      if (want === null) {
        assert(pdbs.length === 0, `a PDB that blocks evictions: ${JSON.stringify(pdbs[0] && pdbs[0].spec)}`);
        if (!values.pdb || values.pdb.enabled !== false) assert(/No PodDisruptionBudget/.test(notes), "NOTES.txt does not say why there is no PDB");
      } else {
        assert(pdbs.length === 1 && pdbs[0].spec.minAvailable === want, `PDB ${JSON.stringify(pdbs.map((p) => p.spec.minAvailable))}`);
      }
    });
  }

  // policy/v1 from Kubernetes 1.21; 1.20, the oldest supported, serves only v1beta1.
  for (const [kubeVersion, want] of [["v1.20.2", "policy/v1beta1"], ["v1.21.0", "policy/v1"], [undefined, "policy/v1"]]) {
    r.check(`PodDisruptionBudget on Kubernetes ${kubeVersion || "(default)"} is ${want}`, () => {
      const { objs } = render({ replicaCount: 2 }, undefined, kubeVersion ? { kubeVersion } : {});
      const pdbs = byKind(objs, "PodDisruptionBudget");
      assert(pdbs.length === 1 && pdbs[0].apiVersion === want, `PDB apiVersion ${pdbs.map((p) => p.apiVersion)}`);
    });
  }

  // Resources: a map merges with the defaults, null removes them.
  const resourceCases = [
    ["resources.limits: null removes the limits, keeps the requests", { resources: { limits: null } }, { requests: { cpu: "10m", memory: "24Mi" } }],
    ["resources: null removes them all", { resources: null }, undefined],
    ["resources: {} keeps the defaults (Helm merges maps)", { resources: {} }, { requests: { cpu: "10m", memory: "24Mi" }, limits: { memory: "64Mi" } }],
    ["resources.limits.memory overrides one default", { resources: { limits: { memory: "128Mi" } } }, { requests: { cpu: "10m", memory: "24Mi" }, limits: { memory: "128Mi" } }],
  ];
  for (const [name, values, want] of resourceCases) {
    r.check(name, () => {
      const { objs } = render(values);
      assertEqual(container(objs).resources, want, "container resources");
    });
  }
}

function sectionKustomize(r) {
  const kubectl = "/usr/bin/kubectl";
  if (!fs.existsSync(kubectl)) {
    r.skip("kubectl kustomize", `${kubectl} is not installed`);
    return;
  }
  for (const dir of ["manifests", "manifests/cert-manager"]) {
    let objs;
    r.check(`kubectl kustomize ${dir}`, () => {
      const out = execFileSync(kubectl, ["kustomize", path.join(ROOT, dir)], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      objs = parseDocs(out, `kustomize ${dir}`);
    });
    if (!objs) continue;
    for (const o of objs) r.check(`schema: kustomize ${dir}: ${id(o)}`, () => validateK8s(o));
    r.check(`kustomize ${dir} output equals the files`, () => {
      const files = walkYaml(path.join(ROOT, dir), {
        skip: (p, ent) => p.endsWith("kustomization.yaml") || (dir === "manifests" && ent.isDirectory() && ent.name === "cert-manager") || isOptIn(p),
      }).flatMap(readDocs).map((d) => d.obj);
      assertEqual(objs.map(id).sort(), files.map(id).sort(), "objects");
      for (const f of files) assertEqual(objs.find((o) => id(o) === id(f)), f, id(f));
    });
  }
}

function sectionDockerfile(r) {
  const raw = fs.readFileSync(path.join(ROOT, "Dockerfile"), "utf8");
  const text = raw.replace(/\\\n/g, " ");
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const globalArgs = {};
  const stages = [];
  for (const l of lines) {
    const m = /^(\w+)\s+(.*)$/.exec(l);
    if (!m) continue;
    const [ins, rest] = [m[1].toUpperCase(), m[2]];
    if (ins === "FROM") {
      stages.push({ from: rest.replace(/\$\{(\w+)\}/g, (_, a) => globalArgs[a] || ""), ins: [] });
    } else if (ins === "ARG" && !stages.length) {
      const [k, v] = rest.split("=");
      globalArgs[k] = v;
    } else if (stages.length) stages[stages.length - 1].ins.push([ins, rest.replace(/\s+/g, " ")]);
  }
  const makefile = fs.readFileSync(path.join(ROOT, "Makefile"), "utf8");
  const ci = fs.readFileSync(path.join(ROOT, ".ci", "run"), "utf8");
  const version = /^project\(orgsecrets VERSION (\S+)/m.exec(fs.readFileSync(path.join(ROOT, "CMakeLists.txt"), "utf8"))[1];
  r.check("Dockerfile: no syntax directive (BuildKit would fetch a frontend image)", () =>
    assert(!/^#\s*syntax\s*=/im.test(raw), "a # syntax= line"));
  r.check("Dockerfile: two stages, debian:12 build, distroless nonroot runtime, both pinned by digest", () => {
    assert(stages.length === 2, `${stages.length} stages`);
    assert(/^(docker\.io\/library\/)?debian:12@sha256:[0-9a-f]{64} AS build$/i.test(stages[0].from), stages[0].from);
    assert(/^gcr\.io\/distroless\/base-debian12:nonroot@sha256:[0-9a-f]{64}$/.test(stages[1].from), stages[1].from);
    assert(/FROM \$\{BUILD_IMAGE\} AS build/.test(raw) && /FROM \$\{RUNTIME_IMAGE\}\n/.test(raw), "base images are not build arguments");
    assert(/skopeo inspect/.test(raw), "no comment on how to update the digests");
  });
  r.check("Dockerfile: builds with the commands CI runs, without the test toolchain", () => {
    assert(/make test/.test(ci) && /^test: deps /m.test(makefile) && /^deps:\n\t@bash scripts\/deps\.sh all$/m.test(makefile),
           ".ci/run no longer runs make test -> scripts/deps.sh all");
    const runs = stages[0].ins.filter(([i]) => i === "RUN").map(([, s]) => s).join(" && ");
    assert(/\bbash scripts\/deps\.sh build\b/.test(runs), "build stage does not run scripts/deps.sh build (build dependencies only)");
    const mk = /^build: build-deps\n(?:.*\n)*?\tcmake -S \. -B \$\(BUILD\) (.*?) \$\(CMAKE_FLAGS\)/m.exec(makefile);
    assert(mk, "Makefile build rule not found");
    const ciFlags = mk[1].split(" ").filter((f) => f.startsWith("-D") && !f.startsWith("-DCMAKE_BUILD_TYPE"));
    const cfg = /cmake -S \. -B (\S+) ((?:-D\S+ ?)+)/.exec(runs);
    assert(cfg, "no cmake configure step");
    const flags = cfg[2].trim().split(" ");
    for (const f of ciFlags) {
      // A value from a make variable (a path) need only be set, to some value.
      const name = f.includes("$(") ? f.slice(0, f.indexOf("=") + 1) : null;
      assert(name ? flags.some((g) => g.startsWith(name) && g.length > name.length) : flags.includes(f),
        `CI configures with ${f}, the Dockerfile does not`);
    }
    assert(flags.includes("-DORGSECRETS_TESTS=OFF"), "the image build configures the tests (-DORGSECRETS_TESTS=OFF missing)");
    // The lean libcurl: the Makefile's CURL=lean option and the image, both
    // built by scripts/curl.sh into the prefix CMake is given; the plain
    // build links the system's.
    assert(/^CURL \?= system$/m.test(makefile), "the Makefile's default libcurl is not the system's");
    assert(/^ifeq \(\$\(CURL\),lean\)\n\t@?bash scripts\/curl\.sh \$\(CURL_PREFIX\)/m.test(makefile), "make CURL=lean does not build the lean libcurl");
    const prefix = (flags.find((g) => g.startsWith("-DORGSECRETS_CURL_PREFIX=")) || "=").split("=")[1];
    assert(prefix, "the Dockerfile does not link the lean libcurl (-DORGSECRETS_CURL_PREFIX)");
    assert(new RegExp(`\\bbash scripts/curl\\.sh ${prefix.replace(/[.]/g, "\\.")}(\\s|$)`).test(runs),
      `the Dockerfile does not build the lean libcurl into ${prefix} with scripts/curl.sh`);
    assert(flags.includes("-DCMAKE_BUILD_TYPE=Release"), "not a Release build");
    const bt = new RegExp(`cmake --build ${cfg[1].replace(/[.]/g, "\\.")} --target orgsecrets orgsecrets-controller`);
    assert(bt.test(runs), "does not build the orgsecrets and orgsecrets-controller targets");
    assert(new RegExp(`bash scripts/image-stage\\.sh ${cfg[1]} /staging`).test(runs), "does not stage with scripts/image-stage.sh");
    assert(/cmake --install "\$build"/.test(fs.readFileSync(path.join(ROOT, "scripts", "image-stage.sh"), "utf8")), "image-stage.sh does not use cmake --install");
  });
  r.check("Dockerfile: runtime is non-root, shell-free, controller entrypoint, OCI labels", () => {
    const rt = stages[1].ins;
    assert(!rt.some(([i]) => i === "RUN"), "RUN in the runtime stage (it has no shell)");
    const user = rt.filter(([i]) => i === "USER").pop();
    assert(user && user[1] === "65532:65532", "USER is not numeric 65532:65532");
    const ep = rt.filter(([i]) => i === "ENTRYPOINT").pop();
    assert(ep, "no ENTRYPOINT");
    const argv = JSON.parse(ep[1]);
    assert(Array.isArray(argv) && /\/orgsecrets-controller$/.test(argv[0]), "ENTRYPOINT is not the controller in exec form");
    const copies = rt.filter(([i]) => i === "COPY").map(([, s]) => s);
    assert(copies.some((c) => /^--from=build \/staging\/? \/$/.test(c)), "the staged binaries and libraries are not copied");
    const labels = rt.filter(([i]) => i === "LABEL").map(([, s]) => s).join(" ");
    for (const l of ["title", "description", "version", "revision", "source", "licenses"]) {
      assert(labels.includes(`org.opencontainers.image.${l}=`), `no org.opencontainers.image.${l} label`);
    }
    assert(labels.includes('org.opencontainers.image.version="${VERSION}"'), "the version label is not ${VERSION}");
    const arg = rt.find(([i, a]) => i === "ARG" && a.startsWith("VERSION="));
    assert(arg && arg[1] === `VERSION=${version}`, `ARG VERSION is not project(VERSION) ${version}`);
    const dockerignore = fs.readFileSync(path.join(ROOT, ".dockerignore"), "utf8");
    for (const p of ["build*", ".git", "node_modules", "tests"]) assert(dockerignore.includes(p), `.dockerignore lacks ${p}`);
  });
  r.check("one version: CMake project(VERSION), Chart.yaml appVersion and the manifests' image tag", () => {
    assert(chartMeta().appVersion === version, `Chart.yaml appVersion ${chartMeta().appVersion} is not ${version}`);
    const dep = one(loadManifests().map((d) => d.obj), "Deployment");
    assert(dep.spec.template.spec.containers[0].image === `${IMAGE}:${version}`, "manifests/deployment.yaml image tag");
  });
  const ctl = path.join(ROOT, "cmd", "orgsecrets-controller", "CMakeLists.txt");
  if (fs.existsSync(ctl)) {
    r.check("Dockerfile: the controller target exists", () =>
      assert(/add_executable\(\s*orgsecrets-controller\b/.test(fs.readFileSync(ctl, "utf8")), "no orgsecrets-controller executable"),
    );
  } else {
    r.skip("Dockerfile: the controller target exists", "cmd/orgsecrets-controller/CMakeLists.txt not present yet");
  }
}

// The flags the Deployment passes must be flags the controller knows: its
// --help lists them. Rendered with every chart option on, so that all
// conditional flags are covered.
function sectionFlags(r, bin) {
  if (!bin) throw new Error("flags needs the controller binary path");
  const help = execFileSync(bin, ["--help"], { encoding: "utf8" });
  const known = new Set(help.match(/--[a-z][a-z0-9-]*/g));
  const sources = [["manifests", loadManifests().map((d) => d.obj)]];
  const allOptions = { auditLog: { enabled: true }, envFileDir: "/run/env", kubeClient: { qps: 5, burst: 10 } };
  if (RENDERER) sources.push(["chart (all options)", render(allOptions).objs]);
  else r.skip("controller accepts the flags of the chart", "ORGSECRETS_HELMRENDER is not set (Go is needed to build helmrender)");
  const checkFlags = (flags, min) => {
    assert(flags.length >= min, "too few flags found");
    const unknown = flags.filter((f) => !known.has(f));
    assert(unknown.length === 0, `unknown to ${path.basename(bin)}: ${unknown.join(" ")}`);
  };
  for (const [name, objs] of sources) {
    r.check(`controller accepts the flags of ${name}`, () => {
      const args = one(objs, "Deployment").spec.template.spec.containers[0].args;
      checkFlags(args.filter((a) => a.startsWith("--")).map((a) => a.split("=")[0]), 8);
    });
  }
  r.check("controller accepts the flags of the systemd unit in docs/operations.md", () => {
    const doc = fs.readFileSync(path.join(ROOT, "docs", "operations.md"), "utf8").replace(/\\\n/g, " ");
    const line = doc.split("\n").find((l) => /ExecStart=\/usr\/local\/bin\/orgsecrets-controller /.test(l));
    assert(line, "no ExecStart line for the controller");
    checkFlags(line.match(/--[a-z][a-z0-9-]*/g) || [], 6);
  });
}

// The CRD schemas and the CLI's own parser must agree: what the CRDs accept
// in examples/ lints clean, and every examples/bad/ case is an error for
// `orgsecrets lint` too (a secret is linted beside the good organization).
function sectionCli(r, bin) {
  if (!bin) throw new Error("cli needs the orgsecrets binary path");
  const os = require("os");
  const lint = (files) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "orgsecrets-install-"));
    try {
      for (const [name, src] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
        fs.copyFileSync(src, path.join(dir, name));
      }
      try {
        const out = execFileSync(bin, ["--dir", dir, "lint"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
        return { status: 0, out };
      } catch (e) {
        return { status: e.status, out: `${e.stdout || ""}${e.stderr || ""}` };
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  const acme = path.join(ROOT, "examples", "acme");
  const good = {};
  for (const f of walkYaml(acme)) good[path.relative(acme, f)] = f;
  r.check("orgsecrets lint accepts examples/acme", () => {
    const res = lint(good);
    assert(res.status === 0, `exit ${res.status}: ${res.out}`);
  });
  for (const f of walkYaml(path.join(ROOT, "examples", "bad"))) {
    const base = path.basename(f);
    r.check(`orgsecrets lint rejects examples/bad/${base}`, () => {
      const files = base.startsWith("org-") ? { "organization.yaml": f } : { "organization.yaml": good["organization.yaml"], "secret.yaml": f };
      const res = lint(files);
      assert(res.status !== 0, `accepted by the CLI but rejected by the CRD: ${res.out.trim()}`);
    });
  }
}

const SECTIONS = {
  manifests: sectionManifests,
  crds: sectionCrds,
  values: sectionValues,
  chart: sectionChart,
  chart_cases: sectionChartCases,
  kustomize: sectionKustomize,
  dockerfile: sectionDockerfile,
  flags: sectionFlags,
  cli: sectionCli,
};

function main() {
  let names = process.argv.slice(2);
  let bin = null;
  if (names[0] === "flags" || names[0] === "cli") {
    bin = names[1];
    names = [names[0]];
  }
  const todo = names.length ? names : Object.keys(SECTIONS).filter((n) => n !== "flags" && n !== "cli");
  let failed = 0;
  for (const n of todo) {
    const fn = SECTIONS[n];
    if (!fn) {
      console.error(`validate.js: unknown section ${n}`);
      process.exit(2);
    }
    const r = new Reporter(n);
    fn(r, bin);
    r.finish();
    failed += r.failed;
  }
  process.exit(failed ? 1 : 0);
}

main();
