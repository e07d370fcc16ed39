"""The pod webhook called by a real API server (the shipped
MutatingWebhookConfiguration pointed at the controller on loopback): bare
pods, pods the ReplicaSet controller creates for a Deployment, refusals; and
rollout of Deployments on a value change, both those that use the Secret
through secretKeyRef/envFrom and those that get values through the webhook."""

import base64
import json
import os
import time
import unittest
import urllib.parse

from controlplane import ROOT, ApiError, free_port, make_cert, wait_for
from fixtures import E2ETest, World, assert_no_values, wait_delivered

MWC = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/orgsecrets-webhook"


def container(env=None, env_from=None):
    c = {"name": "app", "image": "registry.invalid/app:1"}
    if env is not None:
        c["env"] = env
    if env_from is not None:
        c["envFrom"] = env_from
    return c


def deployment(name, containers, reload=True, inject=False):
    labels = {"app": name}
    if inject:
        labels["orgsecrets.io/inject"] = "true"
    meta = {"name": name}
    if reload:
        meta["annotations"] = {"orgsecrets.io/reload": "true"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": containers,
                                           "automountServiceAccountToken": False}}}}


class WebhookTest(E2ETest):
    NAME = "webhook"

    def setUp(self):
        super().setUp()
        w = self.world = World(self.tmp, self.tag())
        acme = self.acme = w.org("acme")
        acme.env("prod", w.recipient("prodctl"), w.ns("shop"))
        acme.app("api", w.ns("api"))
        acme.set("DATABASE_PASSWORD", "prod")
        acme.set("API_KEY", "prod")
        acme.set("FEATURE_FLAGS", "prod", None, "api")
        for ns in w.namespaces():
            self.cp.admin.namespace(ns)
        for ns in w.namespaces():  # pods need the namespace's default ServiceAccount
            wait_for(lambda: self.cp.sa_token(ns, "default"), 30, 0.2, "default ServiceAccount in " + ns)
        self.port = free_port()
        crt, key = make_cert(self.cp.dir, "webhook-" + w.tag, "orgsecrets-webhook")
        self.ctl = self.controller(acme, extra=[
            "--webhook-listen", "127.0.0.1:%d" % self.port, "--tls-cert", crt, "--tls-key", key,
            "--resync", "1h"])
        self.register_webhook()
        self.addCleanup(self.cp.admin.call, "DELETE", MWC)

    def register_webhook(self):
        """manifests/webhook.yaml as shipped, its clientConfig then pointed
        at this test's controller (a url instead of the Service) with the CA."""
        self.cp.admin.call("DELETE", MWC)
        with open(os.path.join(ROOT, "manifests", "webhook.yaml")) as f:
            self.cp.admin.create(f.read())
        mwc = self.cp.admin.ok("GET", MWC)
        with open(self.cp.ca, "rb") as f:
            ca = base64.b64encode(f.read()).decode()
        for wh in mwc["webhooks"]:
            path = wh["clientConfig"]["service"]["path"]
            wh["clientConfig"] = {"url": "https://127.0.0.1:%d%s" % (self.port, path), "caBundle": ca}
        self.cp.admin.ok("PUT", MWC, mwc)

    def secret_name(self):
        return self.acme.name + "-secrets"

    def create_pod(self, ns, name, env, labels=None):
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "labels": labels if labels is not None else {"orgsecrets.io/inject": "true"}},
               "spec": {"containers": [container(env)], "automountServiceAccountToken": False}}
        return self.cp.admin.ok("POST", "/api/v1/namespaces/%s/pods" % ns, pod)

    def start_and_wait(self):
        self.ctl.start()
        wait_delivered(self.cp.admin, self.world.expected(), 30, only=self.world.namespaces())
        shop = self.world.ns("shop")
        # the API server reads webhook configurations asynchronously
        wait_for(lambda: self._probe(shop), 20, 0.5, "the webhook to be called by the API server")

    def _probe(self, ns):
        name = "probe-%d" % int(time.time() * 1000)
        pod = self.create_pod(ns, name, [{"name": "X", "value": "$API_KEY"}])
        self.cp.admin.call("DELETE", "/api/v1/namespaces/%s/pods/%s" % (ns, name))
        return "valueFrom" in pod["spec"]["containers"][0]["env"][0]

    def test_bare_pod_rewritten_by_the_api_server(self):
        self.start_and_wait()
        shop = self.world.ns("shop")
        pod = self.create_pod(shop, "web", [
            {"name": "A", "value": "1"},
            {"name": "DB_PASSWORD", "value": "$DATABASE_PASSWORD"},
            {"name": "DSN", "value": "postgres://app:${DATABASE_PASSWORD}@db:5432/app"}])
        stored = self.cp.admin.ok("GET", "/api/v1/namespaces/%s/pods/web" % shop)
        for p in (pod, stored):
            env = {e["name"]: e for e in p["spec"]["containers"][0]["env"]}
            ref = {"name": self.secret_name(), "key": "DATABASE_PASSWORD"}
            self.assertEqual(env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"], ref)
            self.assertEqual(env["ORGSECRETS_DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"], ref)
            self.assertEqual(env["DSN"]["value"], "postgres://app:$(ORGSECRETS_DATABASE_PASSWORD)@db:5432/app")
            self.assertEqual(p["metadata"]["annotations"]["orgsecrets.io/injected"], "DATABASE_PASSWORD")
        assert_no_values(self, [json.dumps(stored)], self.world.sealed)
        # unknown names are refused with the reference as written
        with self.assertRaises(ApiError) as e:
            self.create_pod(shop, "typo", [{"name": "X", "value": "$DATABASE_PASWORD"}])
        self.assertIn("$DATABASE_PASWORD", str(e.exception))
        self.assertEqual(e.exception.code, 403)
        # an application's names resolve in its namespace only
        api_ns = self.world.ns("api")
        pod = self.create_pod(api_ns, "flags", [{"name": "F", "value": "$FEATURE_FLAGS"}])
        self.assertEqual(pod["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]["name"], "api-secrets")
        with self.assertRaises(ApiError):
            self.create_pod(shop, "flags", [{"name": "F", "value": "$FEATURE_FLAGS"}])
        # pods without the label are left alone
        pod = self.create_pod(shop, "plain", [{"name": "X", "value": "$DATABASE_PASSWORD"}], labels={})
        self.assertEqual(pod["spec"]["containers"][0]["env"][0], {"name": "X", "value": "$DATABASE_PASSWORD"})

    def test_application_pods_get_organization_level_secrets(self):
        """By design, organization-level secrets go to every namespace of
        every application too, so that what `orgsecrets run --app X` gives
        (organization-level plus X's) is what X's pods get: the webhook
        resolves $DATABASE_PASSWORD in the api namespace to the
        organization-level Secret delivered there."""
        self.start_and_wait()
        api_ns = self.world.ns("api")
        self.assertIn((api_ns, self.secret_name()), set(self.cp.admin.managed_secrets()))
        pod = self.create_pod(api_ns, "org-level", [{"name": "D", "value": "$DATABASE_PASSWORD"}])
        self.assertEqual(pod["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"],
                         {"name": self.secret_name(), "key": "DATABASE_PASSWORD"})

    def test_deployment_pods_rewritten(self):
        """kube-controller-manager creates the ReplicaSet and its pod; the
        API server calls the webhook for that pod (no kubelet needed)."""
        self.start_and_wait()
        shop = self.world.ns("shop")
        d = deployment("shop", [container([{"name": "KEY", "value": "$API_KEY"}])], reload=False, inject=True)
        self.cp.admin.ok("POST", "/apis/apps/v1/namespaces/%s/deployments" % shop, d)
        sel = urllib.parse.quote("app=shop")
        pods = wait_for(lambda: self.cp.admin.ok("GET", "/api/v1/namespaces/%s/pods?labelSelector=%s" % (shop, sel))["items"],
                        30, 0.2, "the Deployment's pod")
        env = pods[0]["spec"]["containers"][0]["env"][0]
        self.assertEqual(env["valueFrom"]["secretKeyRef"], {"name": self.secret_name(), "key": "API_KEY"})
        self.assertEqual(pods[0]["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet")

    def rollouts(self, ns, name):
        """(template checksum annotations, number of ReplicaSets) of a Deployment."""
        d = self.cp.admin.ok("GET", "/apis/apps/v1/namespaces/%s/deployments/%s" % (ns, name))
        ann = (d["spec"]["template"]["metadata"].get("annotations") or {})
        sums = {k: v for k, v in ann.items() if k.startswith("checksum.orgsecrets.io/")}
        rs = self.cp.admin.ok("GET", "/apis/apps/v1/namespaces/%s/replicasets" % ns)["items"]
        mine = [r for r in rs if any(o["name"] == name for o in r["metadata"].get("ownerReferences") or [])]
        return sums, len(mine)

    def secret_checksum(self, ns, name):
        return self.cp.admin.secret(ns, name)["metadata"]["annotations"]["orgsecrets.io/checksum"]

    def test_rollout_on_change_for_secret_refs_and_injected_workloads(self):
        shop = self.world.ns("shop")
        sname = self.secret_name()
        plain = deployment("plain", [container(
            [{"name": "KEY", "valueFrom": {"secretKeyRef": {"name": sname, "key": "API_KEY"}}}])])
        from_all = deployment("from-all", [container(None, [{"secretRef": {"name": sname}}])])
        injected = deployment("injected", [container([{"name": "DB", "value": "$DATABASE_PASSWORD"}])], inject=True)
        untouched = deployment("not-opted-in", [container(None, [{"secretRef": {"name": sname}}])], reload=False)
        for d in (plain, from_all, injected, untouched):
            self.cp.admin.ok("POST", "/apis/apps/v1/namespaces/%s/deployments" % shop, d)
        self.start_and_wait()
        key = "checksum.orgsecrets.io/" + sname
        first = self.secret_checksum(shop, sname)
        for name in ("plain", "from-all"):
            wait_for(lambda: self.rollouts(shop, name)[0].get(key) == first, 15, 0.2, "first rollout of " + name)
        self.acme.set("DATABASE_PASSWORD", "prod")
        wait_delivered(self.cp.admin, self.world.expected(), 15, only=self.world.namespaces())
        second = self.secret_checksum(shop, sname)
        self.assertNotEqual(first, second)
        for name in ("plain", "from-all", "injected"):
            try:
                wait_for(lambda: self.rollouts(shop, name)[0].get(key) == second, 15, 0.2, "rollout of " + name)
            except AssertionError:
                self.fail("Deployment %s was not rolled out for the change (template annotations %s)"
                          % (name, self.rollouts(shop, name)[0]))
            # kube-controller-manager really rolls: a new ReplicaSet
            wait_for(lambda: self.rollouts(shop, name)[1] >= 2, 30, 0.2, "a new ReplicaSet for " + name)
        self.assertEqual(self.rollouts(shop, "not-opted-in")[0], {})
        # the injected pods of the new ReplicaSet reference the Secret, not the value
        sel = urllib.parse.quote("app=injected")
        pods = self.cp.admin.ok("GET", "/api/v1/namespaces/%s/pods?labelSelector=%s" % (shop, sel))["items"]
        self.assertTrue(pods)
        assert_no_values(self, [json.dumps(pods)], self.world.sealed)


if __name__ == "__main__":
    unittest.main()
