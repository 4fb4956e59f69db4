package schematest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

const (
	// workflowSchema and workflowFragment name the workflow config that
	// `metadata ingest -c` reads.
	workflowSchema   = "metadataIngestion/workflow.json"
	workflowFragment = "/properties/openMetadataWorkflowConfig"

	// sharedRel is the shared directory relative to the repository root.
	sharedRel = "../shared/openmetadata"
)

// dirOverride, when non-empty, replaces the located shared directory. It
// exists for this package's own tests; set it only from tests that do not
// run in parallel with other users of Dir.
var dirOverride string

// Dir returns the shared OpenMetadata directory (…/shared/openmetadata,
// beside the repository root that holds go.mod) and whether it exists as a
// directory. The root is found by walking up from the working directory. If
// no go.mod is found, Dir returns "" and false. A test that needs the
// directory calls SharedDir instead of skipping on false itself, so that
// CI fails when the directory is missing.
func Dir() (string, bool) {
	dir := dirOverride
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			return "", false
		}
		dir = filepath.Join(root, filepath.FromSlash(sharedRel))
	}
	fi, err := os.Stat(dir)
	return dir, err == nil && fi.IsDir()
}

// SharedDir returns the shared OpenMetadata directory (see Dir) for a test
// that needs what is in it. When the directory is absent, SharedDir skips
// the test with a line saying where it looked, except under CI=true, where
// it fails the test instead: a CI run must not pass by leaving out what
// needs the shared fixtures.
func SharedDir(t testing.TB) string {
	t.Helper()
	return sharedDir(t, inCI())
}

// inCI reports whether the tests run in CI, as CI=true says (GitHub
// Actions, GitLab CI and most others set it).
func inCI() bool { return os.Getenv("CI") == "true" }

func sharedDir(t testing.TB, ci bool) string {
	t.Helper()
	dir, ok := Dir()
	if ok {
		return dir
	}
	if ci {
		t.Fatalf("%s not found, and CI=true: CI must run the tests that need the shared OpenMetadata fixtures", displayDir(dir))
	}
	t.Skipf("%s not found: this test needs the shared OpenMetadata fixtures (under CI=true it fails instead)", displayDir(dir))
	return ""
}

// repoRoot walks up from the working directory to the first directory that
// contains a go.mod file.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; {
		if fi, err := os.Stat(filepath.Join(d, "go.mod")); err == nil && fi.Mode().IsRegular() {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("schematest: no go.mod in %s or any parent", wd)
		}
		d = parent
	}
}

// Validator validates documents against one schema of the shared set. A
// Validator is immutable and safe for concurrent use.
type Validator struct {
	name   string // schema file relative to schema/, plus "#fragment" if any
	root   string // absolute schema/ directory
	schema *jsonschema.Schema
}

// String names the schema the validator checks against, e.g.
// "metadataIngestion/workflow.json#/properties/openMetadataWorkflowConfig".
func (v *Validator) String() string { return v.name }

var workflow struct {
	once sync.Once
	v    *Validator
	err  error
}

// Workflow returns a validator for
// metadataIngestion/workflow.json#/properties/openMetadataWorkflowConfig,
// the workflow config `metadata ingest -c` reads. It is built once, on first
// use, and shared; it is safe for concurrent use. The error (also cached) is
// non-nil if the shared directory is absent or the schema does not compile.
func Workflow() (*Validator, error) {
	workflow.once.Do(func() {
		workflow.v, workflow.err = Load(workflowSchema, workflowFragment)
	})
	return workflow.v, workflow.err
}

// Load builds a validator for the schema file rel (slash-separated, relative
// to the shared schema/ directory) at the JSON pointer fragment, which may be
// empty for the whole file and may start with "#", e.g.
// Load("entity/services/ingestionPipelines/ingestionPipeline.json", "").
// Each call compiles afresh; prefer Workflow for the workflow config.
func Load(rel, fragment string) (*Validator, error) {
	dir, ok := Dir()
	if !ok {
		return nil, fmt.Errorf("schematest: %s not found", displayDir(dir))
	}
	return load(filepath.Join(dir, "schema"), rel, fragment)
}

func load(schemaDir, rel, fragment string) (*Validator, error) {
	root, err := filepath.Abs(schemaDir)
	if err != nil {
		return nil, err
	}
	frag := strings.TrimPrefix(fragment, "#")
	if frag != "" && !strings.HasPrefix(frag, "/") {
		return nil, fmt.Errorf("schematest: fragment %q is not a JSON pointer", fragment)
	}
	name := rel
	if frag != "" {
		name += "#" + frag
	}

	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.UseLoader(jsonschema.SchemeURLLoader{"file": fileLoader{root: root}})
	c.UseRegexpEngine(compileRegexp)
	// Draft 7 asserts formats; OpenMetadata treats them as annotations
	// (e.g. "uri" on hostPort-like fields), so neutralise every built-in one.
	for _, f := range builtinFormats {
		c.RegisterFormat(&jsonschema.Format{Name: f, Validate: func(any) error { return nil }})
	}

	sch, err := c.Compile(fileURL(filepath.Join(root, filepath.FromSlash(rel))) + "#" + frag)
	if err != nil {
		return nil, fmt.Errorf("schematest: compile %s: %w", name, err)
	}
	return &Validator{name: name, root: root, schema: sch}, nil
}

// builtinFormats are the formats jsonschema/v6 knows (and so would assert
// under draft 7). "regex" cannot be overridden; the schemas do not use it.
var builtinFormats = []string{
	"json-pointer", "relative-json-pointer", "uuid", "duration", "period",
	"ipv4", "ipv6", "hostname", "email", "date", "time", "date-time",
	"uri", "iri", "uri-reference", "iri-reference", "uri-template", "semver",
}

// fileURL turns an absolute file path into a file:// URL.
func fileURL(path string) string {
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows drive paths
	}
	return (&url.URL{Scheme: "file", Path: p}).String()
}

// Gaps in the shared schema set, as documented in SOURCE.md.
var (
	// missingConnection matches the connection schemas that were not copied
	// (entity/services/connections/<dir>/XConnection.json). They are oneOf
	// branches, so they load as the false schema.
	missingConnection = regexp.MustCompile(`^entity/services/connections/[^/]+/[^/]+Connection\.json$`)

	// missingEntities were not copied (deep entity trees). They load as the
	// true schema {}; since the set refers to definitions inside them, each
	// referenced definition is provided as {} too.
	missingEntities = map[string][]string{
		"entity/applications/configuration/applicationConfig.json": {"appConfig", "privateConfig"},
		"entity/classification/tag.json":                           {"tagName"},
		"entity/data/table.json":                                   {"dataType", "profileSampleType", "samplingMethodType"},
	}

	// missingDefinitions are referenced definitions absent from the copied
	// files; they are added as {} if absent.
	missingDefinitions = map[string]string{
		"security/ssl/verifySSLConfig.json":                    "sslMode",
		"entity/services/connections/connectionBasicType.json": "supportsPolicyAgent",
	}
)

// fileLoader loads schema files by path below root, dropping $id and
// $schema (so $refs resolve against the file location) and patching the gaps
// of the shared set.
type fileLoader struct{ root string }

func (l fileLoader) Load(u string) (any, error) {
	path, err := jsonschema.FileLoader{}.ToFile(u)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(l.root, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("schematest: %s is outside the schema directory %s", path, l.root)
	}
	rel = filepath.ToSlash(rel)

	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		switch {
		case missingConnection.MatchString(rel):
			return map[string]any{"not": map[string]any{}}, nil
		}
		if names, ok := missingEntities[rel]; ok {
			defs := make(map[string]any, len(names))
			for _, n := range names {
				defs[n] = map[string]any{}
			}
			return map[string]any{"definitions": defs}, nil
		}
		return nil, fmt.Errorf("schematest: referenced schema %s is missing from the shared set and has no stand-in: %w", rel, err)
	}
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("schematest: parse %s: %w", rel, err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return doc, nil
	}
	delete(obj, "$id")
	delete(obj, "$schema")
	if def, ok := missingDefinitions[rel]; ok {
		defs, _ := obj["definitions"].(map[string]any)
		if defs == nil {
			defs = map[string]any{}
			obj["definitions"] = defs
		}
		if _, ok := defs[def]; !ok {
			defs[def] = map[string]any{}
		}
	}
	return obj, nil
}

// patternRewrites maps schema patterns that Go's RE2 syntax rejects to
// equivalent RE2 patterns.
var patternRewrites = map[string]string{
	// type/basic.json entityName and testCaseEntityName: a negative
	// lookahead meaning "no '::' and no newline anywhere".
	`^((?!::).)*$`: `^(?:[^:\n]|:[^:\n])*:?$`,
}

// rewrittenRegexp is a translated pattern that reports the original source.
type rewrittenRegexp struct {
	*regexp.Regexp
	src string
}

func (r rewrittenRegexp) String() string { return r.src }

// compileRegexp is the jsonschema regexp engine: Go's regexp, falling back
// to patternRewrites for the patterns it cannot compile. Unknown failures
// are returned, so a new unsupported pattern is noticed.
func compileRegexp(s string) (jsonschema.Regexp, error) {
	re, err := regexp.Compile(s)
	if err == nil {
		return re, nil
	}
	if alt, ok := patternRewrites[s]; ok {
		return rewrittenRegexp{Regexp: regexp.MustCompile(alt), src: s}, nil
	}
	return nil, err
}

// Validate validates a JSON or YAML document. JSON is decoded as such; any
// other input is decoded as YAML into generic values with map keys converted
// to strings, then passed through JSON so the validator sees JSON types. A
// validation error names the schema and lists every failing instance
// location.
func (v *Validator) Validate(doc []byte) error {
	inst, err := decode(doc)
	if err != nil {
		return fmt.Errorf("schematest: decode document: %w", err)
	}
	err = v.schema.Validate(inst)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	omitted := 0
	if p := v.prune(ve, &omitted); p != nil {
		ve = p
	} else {
		omitted = 0
	}
	return &validationError{schema: v.name, locations: failingLocations(ve), omitted: omitted, err: ve}
}

// prune returns a copy of e without the failures of the false stand-ins for
// connection schemas missing from the shared set (every config fails those
// oneOf branches, so they are noise), or nil if nothing else remains. It
// counts the pruned failures in n.
func (v *Validator) prune(e *jsonschema.ValidationError, n *int) *jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		if _, ok := e.ErrorKind.(*kind.Not); ok && v.isStandIn(e.SchemaURL) {
			*n++
			return nil
		}
		return e
	}
	var causes []*jsonschema.ValidationError
	for _, c := range e.Causes {
		if p := v.prune(c, n); p != nil {
			causes = append(causes, p)
		}
	}
	if len(causes) == 0 {
		return nil
	}
	cp := *e
	cp.Causes = causes
	return &cp
}

// isStandIn reports whether schemaURL is the root of a missing connection
// schema, which fileLoader replaced by the false schema.
func (v *Validator) isStandIn(schemaURL string) bool {
	u, frag, _ := strings.Cut(schemaURL, "#")
	if frag != "" {
		return false
	}
	path, err := jsonschema.FileLoader{}.ToFile(u)
	if err != nil {
		return false
	}
	rel, err := filepath.Rel(v.root, path)
	if err != nil || !missingConnection.MatchString(filepath.ToSlash(rel)) {
		return false
	}
	_, err = os.Stat(path)
	return errors.Is(err, fs.ErrNotExist)
}

// validationError is what Validate returns for an invalid document.
type validationError struct {
	schema    string
	locations []string
	omitted   int // pruned stand-in failures
	err       *jsonschema.ValidationError
}

func (e *validationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "document does not validate against %s; failing instance locations: %s\n",
		e.schema, strings.Join(e.locations, ", "))
	if e.omitted > 0 {
		fmt.Fprintf(&b, "(%d failed oneOf branches for connection types missing from the shared set are omitted)\n", e.omitted)
	}
	b.WriteString(e.err.Error())
	return b.String()
}

func (e *validationError) Unwrap() error { return e.err }

// failingLocations returns the sorted, distinct instance locations (JSON
// pointers, "(root)" for the document) of the leaf errors of ve.
func failingLocations(ve *jsonschema.ValidationError) []string {
	seen := map[string]bool{}
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			seen[pointer(e.InstanceLocation)] = true
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	locs := make([]string, 0, len(seen))
	for l := range seen {
		locs = append(locs, l)
	}
	slices.Sort(locs)
	return locs
}

// pointer renders instance location tokens as a JSON pointer, with
// "(root)" for the document itself.
func pointer(tokens []string) string {
	if len(tokens) == 0 {
		return "(root)"
	}
	r := strings.NewReplacer("~", "~0", "/", "~1")
	var b strings.Builder
	for _, t := range tokens {
		b.WriteString("/")
		b.WriteString(r.Replace(t))
	}
	return b.String()
}

// decode turns JSON or YAML bytes into the generic JSON values jsonschema
// expects (numbers as json.Number).
func decode(doc []byte) (any, error) {
	if json.Valid(doc) {
		return jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	}
	var y any
	if err := yaml.Unmarshal(doc, &y); err != nil {
		return nil, err
	}
	b, err := json.Marshal(stringKeys(y))
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

// stringKeys converts YAML's map[any]any (non-string keys) to
// map[string]any, recursively.
func stringKeys(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = stringKeys(e)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = stringKeys(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = stringKeys(e)
		}
		return v
	}
	return v
}

func displayDir(dir string) string {
	if dir == "" {
		return sharedRel + " (beside the go.mod root, which was not found)"
	}
	return dir
}

// RequireValid validates doc (JSON or YAML) as an OpenMetadata workflow
// config (see Workflow) and fails t via require if it is invalid; name says
// what doc is, for the failure message. If the shared directory is absent it
// only logs "…/shared/openmetadata not found: schema validation skipped" and
// returns, so the rest of the test still runs: the test is neither failed
// nor skipped. Under CI=true an absent directory fails t, as in SharedDir.
func RequireValid(t testing.TB, name string, doc []byte) {
	t.Helper()
	requireValid(t, name, doc, inCI())
}

func requireValid(t testing.TB, name string, doc []byte, ci bool) {
	t.Helper()
	dir, ok := Dir()
	if !ok {
		if ci {
			t.Fatalf("%s not found, and CI=true: %s cannot be validated against the OpenMetadata schemas", displayDir(dir), name)
		}
		t.Logf("%s not found: schema validation skipped", displayDir(dir))
		return
	}
	v, err := Workflow()
	require.NoError(t, err, "schematest: building the OpenMetadata workflow schema validator")
	require.NoError(t, v.Validate(doc), "%s is not a valid OpenMetadata workflow config (%s)", name, v)
}
