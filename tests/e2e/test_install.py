"""The shipped manifests on a real API server: the CRDs are accepted and
serve examples/, examples/bad/ is refused by the same schemas, and the
shipped RBAC gives the controller's ServiceAccount what it needs and not
cluster-admin."""

import glob
import os
import re
import unittest

from controlplane import ROOT, ApiError
from fixtures import E2ETest


def expectation(path):
    """The '# expect: <JSON pointer> <keyword>' line of an examples/bad file."""
    with open(path) as f:
        m = re.search(r"(?m)^# expect: (\S+) (\S+)$", f.read())
    assert m, "%s has no '# expect:' line" % path
    return m.group(1), m.group(2)


class InstallTest(E2ETest):
    NAME = "install"

    def test_crds_established_with_status_subresource(self):
        for crd in ("organizations.orgsecrets.io", "orgsecrets.orgsecrets.io"):
            obj = self.cp.admin.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + crd)
            self.assertEqual(obj["spec"]["scope"], "Cluster")
            v1 = [v for v in obj["spec"]["versions"] if v["name"] == "v1"][0]
            self.assertTrue(v1["served"] and v1["storage"])
            if crd.startswith("orgsecrets."):
                self.assertIn("status", v1.get("subresources") or {})

    def test_examples_accepted_and_stored_unchanged(self):
        files = sorted(glob.glob(os.path.join(ROOT, "examples", "acme", "**", "*.yaml"), recursive=True))
        self.assertGreaterEqual(len(files), 2)
        for f in files:
            for obj in self.cp.admin.apply_file(f):
                self.assertEqual(obj["apiVersion"], "orgsecrets.io/v1", f)
                spec = obj["spec"]
                with open(f) as fh:
                    text = fh.read()
                # nothing pruned: every top-level spec field of the file is stored
                for key in re.findall(r"(?m)^  ([a-zA-Z]+):", text.split("\nspec:", 1)[1]):
                    self.assertIn(key, spec, "%s: spec.%s was pruned by the CRD schema" % (f, key))
        orgs = self.cp.admin.ok("GET", "/apis/orgsecrets.io/v1/organizations")["items"]
        self.assertIn("acme", [o["metadata"]["name"] for o in orgs])

    def test_bad_examples_refused(self):
        """Every examples/bad case is refused with 422 naming the field; an
        unknown field (additionalProperties) is dropped instead by servers
        without strict field validation (< 1.25), which this one is."""
        bad = sorted(glob.glob(os.path.join(ROOT, "examples", "bad", "*.yaml")))
        self.assertGreaterEqual(len(bad), 4)
        for f in bad:
            pointer, keyword = expectation(f)
            with self.subTest(example=os.path.basename(f)):
                with open(f) as fh:
                    text = fh.read()
                try:
                    objs = self.cp.admin.create(text)
                except ApiError as e:
                    self.assertEqual(e.code, 422, "%s: %s" % (f, e))
                    field = pointer.strip("/").split("/")[-1]
                    if not field.isdigit():
                        self.assertIn(field, e.body.get("message", ""), f)
                    continue
                obj = objs[0]
                plural = "organizations" if obj["kind"] == "Organization" else "orgsecrets"
                self.cp.admin.ok("DELETE", "/apis/orgsecrets.io/v1/%s/%s" % (plural, obj["metadata"]["name"]))
                self.assertEqual(keyword, "additionalProperties",
                                 "%s was accepted; expected a %s error at %s" % (f, keyword, pointer))
                dropped = set(re.findall(r"(?m)^\s*-?\s*([a-zA-Z]+):", text)) - _all_keys(obj)
                self.assertTrue(dropped, "%s: accepted with its unknown field stored" % f)

    def test_controller_is_not_cluster_admin(self):
        api = self.cp.controller_api
        # what it needs
        for path in ("/api/v1/secrets", "/apis/orgsecrets.io/v1/organizations",
                     "/apis/orgsecrets.io/v1/orgsecrets", "/apis/apps/v1/deployments"):
            code, body = api.call("GET", path)
            self.assertEqual(code, 200, "%s: %s" % (path, body))
        code, _ = api.call("GET", "/apis/coordination.k8s.io/v1/namespaces/orgsecrets-system/leases")
        self.assertEqual(code, 403, "the Role grants get on leases, not list")
        # what it must not do
        for method, path in (("GET", "/api/v1/configmaps"), ("GET", "/api/v1/pods"),
                             ("DELETE", "/api/v1/namespaces/default"),
                             ("POST", "/apis/orgsecrets.io/v1/organizations"),
                             ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles"),
                             ("GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/x")):
            code, _ = api.call(method, path, {} if method == "POST" else None)
            self.assertEqual(code, 403, "%s %s is allowed to the controller" % (method, path))


def _all_keys(node):
    if isinstance(node, dict):
        return set(node) | set().union(*[_all_keys(v) for v in node.values()])
    if isinstance(node, list):
        return set().union(*[_all_keys(v) for v in node])
    return set()


if __name__ == "__main__":
    unittest.main()
