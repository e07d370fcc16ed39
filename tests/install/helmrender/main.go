// Command helmrender renders a Helm chart the way `helm template` does,
// with the engine Helm uses: Go's text/template and sprig, plus what Helm
// adds on top (include, tpl, required, toYaml/fromYaml/toJson/fromJson,
// lookup; env and expandenv removed; missingkey=zero and "<no value>"
// dropped). Around it, Helm's steps in Helm's order: values files merged
// (later files win, maps merge), then coalesced into the chart's
// values.yaml (a null deletes the key), validated against
// values.schema.json with gojsonschema, Chart.yaml's kubeVersion checked
// against .Capabilities.KubeVersion, every template rendered, and each
// manifest decoded the way the API server decodes it (sigs.k8s.io/yaml,
// YAML 1.1: unquoted on/no/012/0x1f/1e3/null are not strings).
//
// It prints one JSON object: {"values", "manifests": [{"template", "text",
// "objects"}], "notes"}. On failure it prints "Error: ..." (Helm's message)
// on stderr and exits 1. Built from Debian's packaged Go libraries
// (GOPATH=/usr/share/gocode GO111MODULE=off), see tests/install/CMakeLists.txt.
//
// usage: helmrender -chart DIR [-f FILE]... [-values-yaml TEXT]...
//
//	[-name NAME] [-namespace NS] [-kube-version vX.Y.Z]
//	[-api-versions GROUP/VERSION[,...]]... [-skip-schema-validation]
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/semver"
	"github.com/Masterminds/sprig"
	"github.com/xeipuuv/gojsonschema"
	"sigs.k8s.io/yaml"
)

// Metadata is Chart.yaml as Helm exposes it to templates (.Chart.Name,
// .Chart.AppVersion, ...): a struct, so an unknown field is an error.
type Metadata struct {
	Name         string            `json:"name,omitempty"`
	Home         string            `json:"home,omitempty"`
	Sources      []string          `json:"sources,omitempty"`
	Version      string            `json:"version,omitempty"`
	Description  string            `json:"description,omitempty"`
	Keywords     []string          `json:"keywords,omitempty"`
	Icon         string            `json:"icon,omitempty"`
	APIVersion   string            `json:"apiVersion,omitempty"`
	Condition    string            `json:"condition,omitempty"`
	Tags         string            `json:"tags,omitempty"`
	AppVersion   string            `json:"appVersion,omitempty"`
	Deprecated   bool              `json:"deprecated,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	KubeVersion  string            `json:"kubeVersion,omitempty"`
	Type         string            `json:"type,omitempty"`
	Maintainers  []interface{}     `json:"maintainers,omitempty"`
	Dependencies []interface{}     `json:"dependencies,omitempty"`
}

// KubeVersion is .Capabilities.KubeVersion.
type KubeVersion struct {
	Version string
	Major   string
	Minor   string
}

func (kv KubeVersion) String() string     { return kv.Version }
func (kv KubeVersion) GitVersion() string { return kv.Version }

// VersionSet is .Capabilities.APIVersions: "group/version" and
// "group/version/Kind" entries the cluster serves.
type VersionSet []string

// Has reports whether the cluster serves apiVersion.
func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// Capabilities is .Capabilities.
type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
	HelmVersion map[string]string
}

// The group versions every supported Kubernetes serves (what `helm
// template` assumes without --api-versions, minus versions long removed).
var builtinAPIVersions = []string{
	"v1", "admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1", "apiregistration.k8s.io/v1",
	"apps/v1", "authentication.k8s.io/v1", "authorization.k8s.io/v1", "autoscaling/v1", "autoscaling/v2",
	"batch/v1", "certificates.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1",
	"events.k8s.io/v1", "networking.k8s.io/v1", "node.k8s.io/v1", "policy/v1",
	"rbac.authorization.k8s.io/v1", "scheduling.k8s.io/v1", "storage.k8s.io/v1",
}

type valueSource struct {
	file, text string
}

type sources struct {
	list *[]valueSource
	file bool
}

func (s sources) String() string { return "" }
func (s sources) Set(v string) error {
	if s.file {
		*s.list = append(*s.list, valueSource{file: v})
	} else {
		*s.list = append(*s.list, valueSource{text: v})
	}
	return nil
}

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			*l = append(*l, x)
		}
	}
	return nil
}

func main() {
	var vals []valueSource
	var apis listFlag
	chartDir := flag.String("chart", "", "chart directory")
	name := flag.String("name", "orgsecrets", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	kubeVersion := flag.String("kube-version", "v1.29.0", "Kubernetes version of .Capabilities")
	skipSchema := flag.Bool("skip-schema-validation", false, "do not validate values against values.schema.json")
	flag.Var(sources{&vals, true}, "f", "values file (repeatable; later ones win)")
	flag.Var(sources{&vals, false}, "values-yaml", "values as YAML or JSON text (repeatable, ordered with -f)")
	flag.Var(&apis, "api-versions", "extra API versions the cluster serves (repeatable, comma-separated)")
	flag.Parse()
	if *chartDir == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	out, err := run(*chartDir, vals, *name, *namespace, *kubeVersion, apis, *skipSchema)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %s\n", strings.TrimRight(err.Error(), "\n"))
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "Error: %s\n", err)
		os.Exit(1)
	}
}

type manifest struct {
	Template string            `json:"template"`
	Text     string            `json:"text"`
	Objects  []json.RawMessage `json:"objects"`
}

type result struct {
	Values    map[string]interface{} `json:"values"`
	Manifests []manifest             `json:"manifests"`
	Notes     string                 `json:"notes"`
}

func readValues(data []byte, what string) (map[string]interface{}, error) {
	vals := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &vals); err != nil {
		return nil, fmt.Errorf("failed to parse %s: %w", what, err)
	}
	if vals == nil {
		vals = map[string]interface{}{}
	}
	return vals, nil
}

func run(chartDir string, srcs []valueSource, name, namespace, kubeVersion string, apis []string,
	skipSchema bool) (*result, error) {
	raw, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	var meta Metadata
	if err := yaml.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %w", err)
	}
	if meta.APIVersion != "v2" || meta.Name == "" {
		return nil, errors.New("Chart.yaml: apiVersion v2 and a name are required")
	}
	if _, err := semver.StrictNewVersion(meta.Version); err != nil {
		return nil, fmt.Errorf("validation: chart.metadata.version %q is invalid", meta.Version)
	}
	raw, err = os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return nil, err
	}
	defaults, err := readValues(raw, "values.yaml")
	if err != nil {
		return nil, err
	}

	// helm's -f files (and --set) are merged in order, then coalesced into
	// the chart's defaults.
	user := map[string]interface{}{}
	for _, s := range srcs {
		data, what := []byte(s.text), "inline values"
		if s.file != "" {
			if data, err = os.ReadFile(s.file); err != nil {
				return nil, err
			}
			what = s.file
		}
		v, err := readValues(data, what)
		if err != nil {
			return nil, err
		}
		user = mergeMaps(user, v)
	}
	values := coalesceValues(user, defaults, meta.Name)

	if !skipSchema {
		if schema, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json")); err == nil {
			if err := validateSchema(meta.Name, schema, values); err != nil {
				return nil, err
			}
		} else if !os.IsNotExist(err) {
			return nil, err
		}
	}

	kv, err := semver.NewVersion(kubeVersion)
	if err != nil {
		return nil, fmt.Errorf("invalid kube version %q: %w", kubeVersion, err)
	}
	caps := &Capabilities{
		KubeVersion: KubeVersion{Version: "v" + kv.String(), Major: fmt.Sprint(kv.Major()), Minor: fmt.Sprint(kv.Minor())},
		APIVersions: append(append(VersionSet{}, builtinAPIVersions...), apis...),
		HelmVersion: map[string]string{"version": "v3"},
	}
	if meta.KubeVersion != "" {
		c, err := semver.NewConstraint(meta.KubeVersion)
		if err != nil || !c.Check(kv) {
			return nil, fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s",
				meta.KubeVersion, caps.KubeVersion.String())
		}
	}

	top := map[string]interface{}{
		"Chart":        &meta,
		"Capabilities": caps,
		"Release": map[string]interface{}{
			"Name": name, "Namespace": namespace, "IsUpgrade": false, "IsInstall": true,
			"Revision": 1, "Service": "Helm",
		},
		"Values": values,
		"Files":  files(chartDir),
	}
	rendered, err := renderTemplates(meta.Name, filepath.Join(chartDir, "templates"), top)
	if err != nil {
		return nil, err
	}

	res := &result{Values: values, Manifests: []manifest{}}
	names := make([]string, 0, len(rendered))
	for n := range rendered {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		text := rendered[n]
		if path.Base(n) == "NOTES.txt" {
			res.Notes = text
			continue
		}
		objs, err := decodeManifests(n, text)
		if err != nil {
			return nil, err
		}
		if len(objs) > 0 {
			res.Manifests = append(res.Manifests, manifest{Template: n, Text: text, Objects: objs})
		}
	}
	return res, nil
}

// Files is .Files: the chart's files outside templates/.
type Files map[string][]byte

// Get returns a file's content, or "" when there is none.
func (f Files) Get(name string) string { return string(f[name]) }

func files(chartDir string) Files {
	out := Files{}
	_ = filepath.Walk(chartDir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(chartDir, p)
		if strings.HasPrefix(rel, "templates"+string(filepath.Separator)) || rel == "Chart.yaml" || rel == "values.yaml" {
			return nil
		}
		if data, err := os.ReadFile(p); err == nil {
			out[filepath.ToSlash(rel)] = data
		}
		return nil
	})
	return out
}

// mergeMaps is Helm's merge of values files: b wins, maps merge.
func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if vm, ok := v.(map[string]interface{}); ok {
			if bv, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(bv, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// coalesceValues is Helm's coalescing of user values into the chart's
// defaults: user values win, maps merge, and a user null deletes the key
// (so the default under it is gone too).
func coalesceValues(user, defaults map[string]interface{}, prefix string) map[string]interface{} {
	for key, val := range defaults {
		if value, ok := user[key]; ok {
			if value == nil {
				delete(user, key)
			} else if dest, ok := value.(map[string]interface{}); ok {
				if src, ok := val.(map[string]interface{}); ok {
					coalesceTables(dest, src, prefix+"."+key)
				} else if val != nil {
					fmt.Fprintf(os.Stderr, "warning: skipped value for %s.%s: Not a table.\n", prefix, key)
				}
			}
		} else {
			user[key] = val
		}
	}
	return user
}

func coalesceTables(dst, src map[string]interface{}, prefix string) {
	for key, val := range src {
		full := prefix + "." + key
		dv, ok := dst[key]
		switch {
		case ok && dv == nil:
			delete(dst, key)
		case !ok:
			dst[key] = val
		default:
			sm, srcTable := val.(map[string]interface{})
			dm, dstTable := dv.(map[string]interface{})
			if srcTable && dstTable {
				coalesceTables(dm, sm, full)
			} else if srcTable {
				fmt.Fprintf(os.Stderr, "warning: cannot overwrite table with non table for %s (%v)\n", full, val)
			} else if dstTable && val != nil {
				fmt.Fprintf(os.Stderr, "warning: destination for %s is a table. Ignoring non-table value (%v)\n", full, val)
			}
		}
	}
}

// validateSchema is Helm's ValidateAgainstSchema for one chart.
func validateSchema(chart string, schema []byte, values map[string]interface{}) error {
	doc, err := json.Marshal(values)
	if err != nil {
		return err
	}
	res, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema), gojsonschema.NewBytesLoader(doc))
	if err != nil {
		return fmt.Errorf("values.schema.json: %w", err)
	}
	if res.Valid() {
		return nil
	}
	var sb strings.Builder
	for _, e := range res.Errors() {
		fmt.Fprintf(&sb, "- %s\n", e)
	}
	return fmt.Errorf("values don't meet the specifications of the schema(s) in the following chart(s):\n%s:\n%s",
		chart, sb.String())
}

// funcMap is Helm's: sprig's text functions without env and expandenv,
// and Helm's own. include, tpl and required are bound per render.
func funcMap() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["toYaml"] = func(v interface{}) string {
		data, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(data), "\n")
	}
	f["fromYaml"], f["fromYamlArray"] = fromDoc(func(b []byte, v interface{}) error { return yaml.Unmarshal(b, v) })
	f["toJson"] = func(v interface{}) string {
		data, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(data)
	}
	f["fromJson"], f["fromJsonArray"] = fromDoc(json.Unmarshal)
	f["lookup"] = func(string, string, string, string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	f["include"] = func(string, interface{}) string { return "not implemented" }
	f["tpl"] = func(string, interface{}) interface{} { return "not implemented" }
	f["required"] = func(string, interface{}) (interface{}, error) { return "not implemented", nil }
	return f
}

// fromDoc returns Helm's fromYaml and fromYamlArray (or fromJson and
// fromJsonArray) for one decoder: a map with the error under "Error", or a
// list holding the error.
func fromDoc(unmarshal func([]byte, interface{}) error) (func(string) map[string]interface{}, func(string) []interface{}) {
	toMap := func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	toList := func(s string) []interface{} {
		a := []interface{}{}
		if err := unmarshal([]byte(s), &a); err != nil {
			a = []interface{}{err.Error()}
		}
		return a
	}
	return toMap, toList
}

const recursionMax = 1000

func bindHelmFuncs(t *template.Template) {
	included := map[string]int{}
	t.Funcs(template.FuncMap{
		"include": func(name string, data interface{}) (string, error) {
			if included[name] > recursionMax {
				return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
			}
			included[name]++
			defer func() { included[name]-- }()
			var buf strings.Builder
			err := t.ExecuteTemplate(&buf, name, data)
			return buf.String(), err
		},
		"tpl": func(text string, vals interface{}) (string, error) {
			clone, err := t.Clone()
			if err != nil {
				return "", fmt.Errorf("cannot clone template: %w", err)
			}
			clone.Option("missingkey=zero")
			bindHelmFuncs(clone)
			tt, err := clone.New(t.Name()).Parse(text)
			if err != nil {
				return "", fmt.Errorf("cannot parse template %q: %w", text, err)
			}
			var buf strings.Builder
			if err := tt.Execute(&buf, vals); err != nil {
				return "", fmt.Errorf("error during tpl function execution for %q: %w", text, err)
			}
			return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
		},
		"required": func(msg string, val interface{}) (interface{}, error) {
			if val == nil {
				return val, errors.New(msg)
			}
			if s, ok := val.(string); ok && s == "" {
				return val, errors.New(msg)
			}
			return val, nil
		},
	})
}

var callPrefix = regexp.MustCompile(`^(?:.*: )?error calling \w+: `)

// execError is Helm's cleanupExecError: "execution error at (file:line:col): message".
func execError(name string, err error) error {
	var ee template.ExecError
	if !errors.As(err, &ee) {
		return err
	}
	tokens := strings.SplitN(err.Error(), ": ", 3)
	if len(tokens) != 3 {
		return fmt.Errorf("execution error in (%s): %s", name, err)
	}
	msg := tokens[2]
	if i := strings.LastIndex(msg, "error calling "); i >= 0 {
		msg = callPrefix.ReplaceAllString(msg[i:], "")
	}
	return fmt.Errorf("execution error at (%s): %s", tokens[1], msg)
}

func renderTemplates(chart, dir string, top map[string]interface{}) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	t := template.New("gotpl").Option("missingkey=zero").Funcs(funcMap())
	bindHelmFuncs(t)
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		n := chart + "/templates/" + e.Name()
		if _, err := t.New(n).Parse(string(data)); err != nil {
			return nil, fmt.Errorf("parse error in %s: %w", n, err)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	out := map[string]string{}
	for _, n := range names {
		if strings.HasPrefix(path.Base(n), "_") {
			continue
		}
		vals := map[string]interface{}{}
		for k, v := range top {
			vals[k] = v
		}
		vals["Template"] = map[string]interface{}{"Name": n, "BasePath": chart + "/templates"}
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, n, vals); err != nil {
			return nil, execError(n, err)
		}
		out[n] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	return out, nil
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*(?:#.*)?$`)

// decodeManifests splits a rendered file into documents and decodes each
// as the API server does (YAML 1.1 through sigs.k8s.io/yaml, duplicate
// keys refused); empty and comment-only documents are dropped.
func decodeManifests(name, text string) ([]json.RawMessage, error) {
	var out []json.RawMessage
	for i, doc := range docSep.Split(text, -1) {
		j, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("YAML parse error on %s (document %d): %w", name, i+1, err)
		}
		if string(j) == "null" {
			continue
		}
		out = append(out, json.RawMessage(j))
	}
	return out, nil
}
