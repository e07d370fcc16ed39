"""Request bodies for the webhook's resource bounds: a large but real pod
CREATE AdmissionReview (as the API server sends it, after defaulting and
with managedFields), and the hostile bodies an unauthenticated client could
post. Used by bench/webhook/hostile.py and tests/controller/test_webhook_limits.py.

Run it to print the large pod's size and shape:
    python3 bench/webhook/bodies.py [--write FILE]
"""

import json
import sys

MIB = 1024 * 1024


def _env(prefix, n, refs):
    """n env entries in the mix real services carry: plain config, URLs and
    JSON fragments, downward-API fields, ConfigMap keys, and references to
    secrets (whole and embedded)."""
    out = []
    for i in range(n):
        name = "%s_SETTING_%03d" % (prefix, i)
        k = i % 10
        if k == 0:
            out.append({"name": name, "valueFrom": {"configMapKeyRef": {"name": "orders-config", "key": name.lower()}}})
        elif k == 1:
            out.append({"name": name, "value": "https://%s-%03d.internal.example.com:8443/api/v2/resources?timeout=30s&retries=3" % (prefix.lower(), i)})
        elif k == 2:
            out.append({"name": name, "value": json.dumps({"enabled": True, "rollout": i % 100, "segments": ["beta", "staff", "eu-west-1"], "owner": "team-orders"})})
        elif k == 3:
            out.append({"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels['app.kubernetes.io/name']"}}})
        else:
            out.append({"name": name, "value": "value-%d-for-%s" % (i * 7919 % 100000, prefix.lower())})
    for j, r in enumerate(refs):
        out.append({"name": "SECRET_%d" % j, "value": "$" + r})
        out.append({"name": "DSN_%d" % j, "value": "postgres://orders:$%s@db-%d.shop.svc:5432/orders?sslmode=verify-full" % (r, j)})
    return out


def _container(name, image, n_env, refs, n_mounts, init=False):
    c = {
        "name": name,
        "image": "registry.example.com/platform/%s@sha256:%s" % (image, "ab12cd34" * 8),
        "command": ["/bin/sh", "-c"],
        "args": ["set -eu\n" + "".join("echo step %d && /usr/local/bin/%s --phase=%d --config=/etc/%s/config.yaml\n"
                                          % (i, image, i, name) for i in range(40))],
        "ports": [] if init else [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                                   {"name": "grpc", "containerPort": 9090, "protocol": "TCP"},
                                   {"name": "metrics", "containerPort": 9102, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": "orders-env"}}, {"secretRef": {"name": "orders-legacy", "optional": True}}],
        "env": _env(name.upper().replace("-", "_"), n_env, refs),
        "resources": {"limits": {"cpu": "2", "memory": "2Gi", "ephemeral-storage": "4Gi"},
                      "requests": {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "1Gi"}},
        "volumeMounts": [{"name": "vol-%02d" % i, "mountPath": "/etc/%s/vol-%02d" % (name, i), "readOnly": i % 3 != 0}
                         for i in range(n_mounts)]
        + [{"name": "kube-api-access-7xk2p", "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "imagePullPolicy": "IfNotPresent",
        "securityContext": {"capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True, "runAsUser": 10001,
                            "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                            "seccompProfile": {"type": "RuntimeDefault"}},
    }
    if not init:
        probe = {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"}, "timeoutSeconds": 2,
                 "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
        c["livenessProbe"] = probe
        c["readinessProbe"] = dict(probe, httpGet={"path": "/readyz", "port": "http", "scheme": "HTTP"})
        c["startupProbe"] = dict(probe, failureThreshold=30)
        c["lifecycle"] = {"preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 10"]}}}
    return c


def _fields(v):
    """managedFields' fieldsV1 for an object, keyed as the API server keys it."""
    if isinstance(v, dict):
        out = {".": {}} if v else {}
        for k, x in v.items():
            out["f:" + k] = _fields(x)
        return out
    if isinstance(v, list) and v and isinstance(v[0], dict) and "name" in v[0]:
        return {"k:" + json.dumps({"name": e["name"]}, separators=(",", ":")): _fields(e) for e in v}
    return {}


def large_pod_review(uid="large-1", ns="shop", refs=("DATABASE_PASSWORD", "API_KEY"), scale=1.0):
    """A large but real pod, well beyond what most pods carry:
    6 containers and 4 init containers, 1,410 env entries in all, 40-line
    shell scripts in args, 30 volumes, affinity, tolerations, topology
    spread, 40 labels and annotations, and the managedFields the
    ReplicaSet controller's create leaves (which roughly double a pod).
    scale multiplies the env entries."""
    def n(k):
        return int(k * scale)
    containers = [_container("orders-api", "orders-api", n(400), refs, 20),
                  _container("orders-worker", "orders-worker", n(400), refs, 20),
                  _container("nginx", "nginx", n(40), (), 6),
                  _container("log-shipper", "fluent-bit", n(60), (), 8),
                  _container("metrics-exporter", "statsd-exporter", n(30), (), 4),
                  _container("db-proxy", "cloud-sql-proxy", n(50), refs, 4)]
    inits = [_container("migrate", "orders-api", n(200), refs, 10, init=True),
             _container("wait-for-db", "busybox", n(20), (), 2, init=True),
             _container("render-config", "gomplate", n(150), refs, 10, init=True),
             _container("fetch-certs", "cert-fetcher", n(40), (), 4, init=True)]
    volumes = [{"name": "vol-%02d" % i, "configMap": {"name": "orders-cm-%02d" % i, "defaultMode": 420}}
               if i % 2 else {"name": "vol-%02d" % i, "secret": {"secretName": "orders-s-%02d" % i, "defaultMode": 420}}
               for i in range(28)]
    volumes += [{"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
                {"name": "kube-api-access-7xk2p", "projected": {"defaultMode": 420, "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}]
    labels = {"app.kubernetes.io/name": "orders", "app.kubernetes.io/instance": "orders-prod",
              "app.kubernetes.io/component": "api", "pod-template-hash": "7d9f8b6c5d",
              "orgsecrets.io/inject": "true"}
    labels.update({"team.example.com/label-%02d" % i: "value-%02d" % i for i in range(20)})
    annotations = {"checksum/config": "9f" * 32, "checksum/secrets": "3c" * 32,
                   "kubectl.kubernetes.io/restartedAt": "2026-11-20T10:11:12Z",
                   "prometheus.io/scrape": "true", "prometheus.io/port": "9102",
                   "cluster-autoscaler.kubernetes.io/safe-to-evict": "true",
                   "example.com/runbook": "https://runbooks.example.com/orders/" + "x" * 200,
                   "example.com/sidecar-config": json.dumps({"routes": [{"prefix": "/api/v%d" % i, "cluster": "orders-%d" % i,
                                                                          "timeout": "15s", "retries": 3} for i in range(60)]})}
    spec = {
        "volumes": volumes, "initContainers": inits, "containers": containers,
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 60, "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "orders", "serviceAccount": "orders", "automountServiceAccountToken": True,
        "securityContext": {"runAsNonRoot": True, "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "imagePullSecrets": [{"name": "registry-%d" % i} for i in range(3)],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "node.kubernetes.io/instance-type", "operator": "In",
                                   "values": ["m6i.2xlarge", "m6i.4xlarge", "m7i.2xlarge", "m7i.4xlarge"]}]}]}},
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app.kubernetes.io/name": "orders"}},
                                                    "topologyKey": "kubernetes.io/hostname"}}]}},
        "schedulerName": "default-scheduler",
        "tolerations": [{"key": "dedicated-%d" % i, "operator": "Equal", "value": "orders", "effect": "NoSchedule"} for i in range(8)]
        + [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
           {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
        "hostAliases": [{"ip": "10.20.30.%d" % i, "hostnames": ["legacy-%d.example.internal" % i]} for i in range(10)],
        "priorityClassName": "business-critical", "priority": 100000, "enableServiceLinks": False,
        "preemptionPolicy": "PreemptLowerPriority",
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                       "whenUnsatisfiable": "ScheduleAnyway",
                                       "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "orders"}}}],
    }
    metadata = {"generateName": "orders-7d9f8b6c5d-", "namespace": ns, "creationTimestamp": None,
                "labels": labels, "annotations": annotations,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "orders-7d9f8b6c5d",
                                     "uid": "0b0e6c2e-4c5e-4a9a-9f0e-3c1d2b3a4f5e", "controller": True,
                                     "blockOwnerDeletion": True}]}
    metadata["managedFields"] = [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                                  "time": "2026-11-20T10:11:13Z", "fieldsType": "FieldsV1",
                                  "fieldsV1": _fields({"metadata": {k: v for k, v in metadata.items() if k != "namespace"},
                                                       "spec": spec})}]
    pod = {"kind": "Pod", "apiVersion": "v1", "metadata": metadata, "spec": spec, "status": {}}
    kind = {"group": "", "version": "v1", "kind": "Pod"}
    res = {"group": "", "version": "v1", "resource": "pods"}
    return {"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
            "request": {"uid": uid, "kind": kind, "resource": res, "requestKind": kind, "requestResource": res,
                        "namespace": ns, "operation": "CREATE",
                        "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller",
                                     "uid": "5b5a7c36-2c4f-4b77-8b5e-0c1d9a3e2f10",
                                     "groups": ["system:serviceaccounts", "system:serviceaccounts:kube-system",
                                                "system:authenticated"]},
                        "object": pod, "oldObject": None, "dryRun": False,
                        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}}}


def encode(review):
    """Compact JSON, as the API server sends it."""
    return json.dumps(review, separators=(",", ":")).encode()


def count_values(v):
    """JSON values in v, object keys included (what a parser allocates)."""
    if isinstance(v, dict):
        return 1 + sum(1 + count_values(x) for x in v.values())
    if isinstance(v, list):
        return 1 + sum(count_values(x) for x in v)
    return 1


def depth(v):
    if isinstance(v, dict):
        return 1 + max((depth(x) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((depth(x) for x in v), default=0)
    return 0


def hostile_bodies(size=4 * MIB):
    """name -> body of at most size bytes: what an unauthenticated client
    could post."""
    head = b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","x":['
    return {
        # the reported one: two bytes per JSON value
        "zeros-array": b"[" + b"0," * ((size - 2) // 2 - 1) + b"0]",
        # the same inside a valid-looking review
        "zeros-in-review": head + b"0," * ((size - len(head) - 4) // 2 - 1) + b"0]}}",
        # many small objects: the costliest shape per byte for a parser
        "empty-objects": b"[" + b"{}," * ((size - 2) // 3 - 1) + b"{}]",
        # nesting as deep as the body allows
        "deep-nesting": b"[" * (size // 2) + b"]" * (size // 2),
        # one string as long as the body
        "huge-string": b'{"s":"' + b"a" * (size - 8) + b'"}',
    }


def refs_review(refs, ref="API_KEY", containers=8, filler=0, uid="refs"):
    """A valid opted-in pod with `refs` env entries that are references
    (each becomes a secretKeyRef: the costliest patch per byte of request)
    and `filler` bytes of plain env values beside them (copied into the
    patch, which replaces a changed container's whole env)."""
    per, fill = refs // containers, filler // containers
    cs = [{"name": "c%d" % c, "image": "x",
           "env": [{"name": "E%d" % i, "value": "$" + ref} for i in range(per)]
           + [{"name": "F%d" % i, "value": "v" * 4000} for i in range(fill // 4020)]} for c in range(containers)]
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "resource": {"group": "", "version": "v1", "resource": "pods"},
                        "namespace": "shop", "operation": "CREATE",
                        "object": {"apiVersion": "v1", "kind": "Pod",
                                   "metadata": {"name": "refs", "namespace": "shop",
                                                "labels": {"orgsecrets.io/inject": "true"}},
                                   "spec": {"containers": cs}}}}


def main():
    review = large_pod_review()
    body = encode(review)
    pod = review["request"]["object"]
    n_env = sum(len(c.get("env", [])) for k in ("containers", "initContainers") for c in pod["spec"][k])
    print("large real pod review: %d bytes (%.0f KiB), %d JSON values, depth %d, %d containers + %d init containers, %d env entries"
          % (len(body), len(body) / 1024, count_values(review), depth(review), len(pod["spec"]["containers"]),
             len(pod["spec"]["initContainers"]), n_env))
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        with open(sys.argv[2], "wb") as f:
            f.write(body)


if __name__ == "__main__":
    main()
