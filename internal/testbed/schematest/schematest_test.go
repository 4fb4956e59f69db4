package schematest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func readExample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(SharedDir(t), "examples", name))
	require.NoError(t, err)
	return b
}

func workflowValidator(t *testing.T) *Validator {
	t.Helper()
	SharedDir(t)
	v, err := Workflow()
	require.NoError(t, err)
	return v
}

// exampleMap decodes a YAML example into generic values for mutation.
func exampleMap(t *testing.T, name string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, yaml.Unmarshal(readExample(t, name), &m))
	return m
}

// at walks m along keys, which must all be objects.
func at(t *testing.T, m map[string]any, keys ...string) map[string]any {
	t.Helper()
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		require.Truef(t, ok, "%q is not an object", k)
		m = next
	}
	return m
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// failing returns the failing instance locations of a Validate error.
func failing(t *testing.T, err error) []string {
	t.Helper()
	var ve *validationError
	require.ErrorAs(t, err, &ve)
	return ve.locations
}

func TestDir(t *testing.T) {
	dir := SharedDir(t)
	root, err := repoRoot()
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(root, "go.mod"))
	assert.Equal(t, filepath.Join(filepath.Dir(root), "shared", "openmetadata"), dir)
	assert.FileExists(t, filepath.Join(dir, "schema", filepath.FromSlash(workflowSchema)))
}

func TestWorkflowCompileTime(t *testing.T) {
	SharedDir(t)
	start := time.Now()
	v, err := Load(workflowSchema, workflowFragment)
	elapsed := time.Since(start)
	require.NoError(t, err)
	assert.Equal(t, workflowSchema+"#"+workflowFragment, v.String())
	t.Logf("compiling %s took %v", v, elapsed)
}

func TestWorkflowExamples(t *testing.T) {
	v := workflowValidator(t)
	for _, tc := range []struct {
		name  string
		valid bool
	}{
		{"mysql", true},
		{"postgres", true},
		{"kafka", true},
		// Sets both password and privateKey: the basic/keyPair oneOf fails.
		{"snowflake", false},
		// Old flat auth fields (and authProvider no-auth).
		{"tableau", false},
		// schemaRegistrySSL is missing from the old kafka schema.
		{"kafka-ssl", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Validate(readExample(t, "workflow-config-"+tc.name+".yaml"))
			if tc.valid {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, failing(t, err), "/source/serviceConnection/config")
		})
	}
}

// TestRejectionReasons checks that each rejected example is rejected for the
// reason SOURCE.md gives: fixing just that makes it valid.
func TestRejectionReasons(t *testing.T) {
	v := workflowValidator(t)

	t.Run("snowflake basic vs keyPair", func(t *testing.T) {
		err := v.Validate(readExample(t, "workflow-config-snowflake.yaml"))
		require.Error(t, err)
		// oneOf [basic, oauth2, keyPair]: basic and keyPair both match.
		assert.Contains(t, err.Error(), "at '/source/serviceConnection/config': 'oneOf' failed, subschemas 0, 2 matched")

		doc := exampleMap(t, "workflow-config-snowflake.yaml")
		cfg := at(t, doc, "source", "serviceConnection", "config")
		delete(cfg, "privateKey")
		delete(cfg, "snowflakePrivatekeyPassphrase")
		require.NoError(t, v.Validate(marshal(t, doc)))
	})

	t.Run("kafka-ssl schemaRegistrySSL", func(t *testing.T) {
		doc := exampleMap(t, "workflow-config-kafka-ssl.yaml")
		delete(at(t, doc, "source", "serviceConnection", "config"), "schemaRegistrySSL")
		require.NoError(t, v.Validate(marshal(t, doc)))
	})

	t.Run("tableau flat auth fields", func(t *testing.T) {
		doc := exampleMap(t, "workflow-config-tableau.yaml")
		cfg := at(t, doc, "source", "serviceConnection", "config")
		cfg["authType"] = map[string]any{"username": cfg["username"], "password": cfg["password"]}
		for _, k := range []string{"username", "password", "personalAccessTokenName", "personalAccessTokenSecret", "env", "siteUrl"} {
			delete(cfg, k)
		}
		// The example also uses authProvider "no-auth", which the copied
		// openMetadataConnection.json no longer lists.
		err := v.Validate(marshal(t, doc))
		require.Error(t, err)
		assert.Equal(t, []string{"/workflowConfig/openMetadataServerConfig/authProvider"}, failing(t, err))

		at(t, doc, "workflowConfig", "openMetadataServerConfig")["authProvider"] = "openmetadata"
		require.NoError(t, v.Validate(marshal(t, doc)))
	})
}

func TestMutatedMysql(t *testing.T) {
	v := workflowValidator(t)
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, doc map[string]any)
		failAt string // "" means valid
	}{
		{"unchanged", func(*testing.T, map[string]any) {}, ""},
		{"bogus connection type", func(t *testing.T, doc map[string]any) {
			at(t, doc, "source", "serviceConnection", "config")["type"] = "NotAConnection"
		}, "/source/serviceConnection/config/type"},
		{"no source", func(_ *testing.T, doc map[string]any) {
			delete(doc, "source")
		}, "(root)"},
		{"bogus secrets manager provider", func(t *testing.T, doc map[string]any) {
			at(t, doc, "workflowConfig", "openMetadataServerConfig")["secretsManagerProvider"] = "not-a-provider"
		}, "/workflowConfig/openMetadataServerConfig/secretsManagerProvider"},
		{"db secrets manager provider", func(t *testing.T, doc map[string]any) {
			at(t, doc, "workflowConfig", "openMetadataServerConfig")["secretsManagerProvider"] = "db"
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := exampleMap(t, "workflow-config-mysql.yaml")
			tc.mutate(t, doc)
			err := v.Validate(marshal(t, doc))
			if tc.failAt == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, failing(t, err), tc.failAt)
			assert.Contains(t, err.Error(), tc.failAt)
		})
	}
}

func TestJSONMatchesYAML(t *testing.T) {
	v := workflowValidator(t)
	for _, name := range []string{"mysql", "postgres", "kafka", "snowflake", "tableau", "kafka-ssl"} {
		t.Run(name, func(t *testing.T) {
			y := readExample(t, "workflow-config-"+name+".yaml")
			j := marshal(t, exampleMap(t, "workflow-config-"+name+".yaml"))
			require.True(t, json.Valid(j))
			yerr, jerr := v.Validate(y), v.Validate(j)
			require.Equal(t, yerr == nil, jerr == nil, "YAML: %v\nJSON: %v", yerr, jerr)
			if yerr != nil {
				assert.Equal(t, failing(t, yerr), failing(t, jerr))
			}
		})
	}
}

// TestStandInFailuresPruned checks that the false stand-ins for missing
// connection types are left out of error messages but the real branches
// stay.
func TestStandInFailuresPruned(t *testing.T) {
	v := workflowValidator(t)
	err := v.Validate(readExample(t, "workflow-config-kafka-ssl.yaml"))
	require.Error(t, err)
	msg := err.Error()
	assert.NotContains(t, msg, "'not' failed")
	assert.Contains(t, msg, "(97 failed oneOf branches for connection types missing from the shared set are omitted)")
	assert.Contains(t, msg, "additional properties 'schemaRegistrySSL' not allowed")
	assert.Contains(t, msg, "value must be 'Mysql'")

	inst, err := decode(readExample(t, "workflow-config-kafka-ssl.yaml"))
	require.NoError(t, err)
	raw := v.schema.Validate(inst)
	require.Error(t, raw)
	assert.Equal(t, 97, strings.Count(raw.Error(), "'not' failed"), "the unpruned error has one per stand-in")
}

func TestFormatsAreAnnotations(t *testing.T) {
	v := workflowValidator(t)
	doc := exampleMap(t, "workflow-config-kafka.yaml")
	// schemaRegistryURL has "format": "uri"; draft 7 would assert it.
	at(t, doc, "source", "serviceConnection", "config")["schemaRegistryURL"] = "::not a uri::"
	require.NoError(t, v.Validate(marshal(t, doc)))
}

func TestIngestionPipelineSchema(t *testing.T) {
	SharedDir(t)
	v, err := Load("entity/services/ingestionPipelines/ingestionPipeline.json", "")
	require.NoError(t, err)
	err = v.Validate(readExample(t, "docs-ingestion-pipeline-entity.json"))
	require.Error(t, err)
	assert.Contains(t, failing(t, err), "(root)")
	assert.Contains(t, err.Error(), "additional properties 'owner' not allowed")
}

func TestLoadErrors(t *testing.T) {
	SharedDir(t)
	_, err := Load("no/such/schema.json", "")
	assert.ErrorContains(t, err, "no/such/schema.json is missing")
	_, err = Load(workflowSchema, "properties")
	assert.ErrorContains(t, err, "not a JSON pointer")
	_, err = Load(workflowSchema, "#/properties/noSuchProperty")
	assert.Error(t, err)
	v, err := Load(workflowSchema, "#"+workflowFragment)
	require.NoError(t, err)
	assert.Equal(t, workflowSchema+"#"+workflowFragment, v.String())
}

func TestEntityNamePattern(t *testing.T) {
	SharedDir(t)
	v, err := Load("type/basic.json", "/definitions/entityName")
	require.NoError(t, err)
	for doc, valid := range map[string]bool{
		`"a:b"`: true, `"x:"`: true, `":x"`: true, `"plain_name"`: true,
		`"a::b"`: false, `"::"`: false, `"a\nb"`: false, `""`: false,
	} {
		if valid {
			assert.NoError(t, v.Validate([]byte(doc)), doc)
		} else {
			assert.Error(t, v.Validate([]byte(doc)), doc)
		}
	}
}

// TestPatternRewrite checks the translated lookahead exhaustively against
// its meaning over a small alphabet.
func TestPatternRewrite(t *testing.T) {
	re, err := compileRegexp(`^((?!::).)*$`)
	require.NoError(t, err)
	assert.Equal(t, `^((?!::).)*$`, re.String())
	var gen func(prefix string, n int)
	gen = func(s string, n int) {
		want := !strings.Contains(s, "::") && !strings.Contains(s, "\n")
		assert.Equalf(t, want, re.MatchString(s), "%q", s)
		if n == 0 {
			return
		}
		for _, c := range []string{"a", ":", "\n"} {
			gen(s+c, n-1)
		}
	}
	gen("", 7)

	_, err = compileRegexp(`^(?=x)`)
	assert.Error(t, err, "an unknown unsupported pattern must not be accepted silently")
}

func TestLoaderStandIns(t *testing.T) {
	dir := SharedDir(t)
	root := filepath.Join(dir, "schema")
	l := fileLoader{root: root}
	load := func(rel string) (any, error) {
		return l.Load(fileURL(filepath.Join(root, filepath.FromSlash(rel))))
	}

	doc, err := load("entity/services/connections/database/athenaConnection.json")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"not": map[string]any{}}, doc, "missing connection must be the false schema")

	doc, err = load("entity/data/table.json")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"definitions": map[string]any{
		"dataType": map[string]any{}, "profileSampleType": map[string]any{}, "samplingMethodType": map[string]any{},
	}}, doc)

	_, err = load("entity/services/connections/database/common/noSuchAuth.json")
	assert.Error(t, err, "a missing non-connection file must be an error")
	_, err = load("entity/data/noSuchEntity.json")
	assert.Error(t, err)
	_, err = l.Load(fileURL(filepath.Join(dir, "examples", "docs-ingestion-pipeline-entity.json")))
	assert.ErrorContains(t, err, "outside the schema directory")

	for rel, def := range missingDefinitions {
		doc, err := load(rel)
		require.NoError(t, err)
		obj := doc.(map[string]any)
		assert.NotContains(t, obj, "$id")
		assert.NotContains(t, obj, "$schema")
		assert.Contains(t, obj["definitions"], def, rel)
	}
	raw, err := os.ReadFile(filepath.Join(root, "security", "ssl", "verifySSLConfig.json"))
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"$id"`, "the file on disk keeps its $id")
}

func TestDecode(t *testing.T) {
	v, err := decode([]byte("1: one\ntrue: yes\nn: 2\nf: 1.5\nlist: [a, {3: c}]\n"))
	require.NoError(t, err)
	b, err := json.Marshal(v)
	require.NoError(t, err)
	assert.JSONEq(t, `{"1":"one","true":"yes","n":2,"f":1.5,"list":["a",{"3":"c"}]}`, string(b))

	_, err = decode([]byte("a: [unclosed"))
	assert.Error(t, err)
}

func TestValidateConcurrently(t *testing.T) {
	v := workflowValidator(t)
	good := readExample(t, "workflow-config-mysql.yaml")
	bad := readExample(t, "workflow-config-snowflake.yaml")
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Go(func() {
			w, err := Workflow()
			if err == nil && w != v {
				err = errors.New("Workflow returned a different validator")
			}
			if err == nil {
				err = w.Validate(good)
			}
			if err == nil && w.Validate(bad) == nil {
				err = errors.New("snowflake example accepted")
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		assert.NoError(t, err)
	}
}

// fakeTB records what RequireValid does to its testing.TB. FailNow and
// SkipNow end the calling goroutine, as the real ones do.
type fakeTB struct {
	testing.TB
	mu      sync.Mutex
	logs    []string
	errs    []string
	failed  bool
	skipped bool
}

func (f *fakeTB) record(dst *[]string, flag *bool, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if dst != nil {
		*dst = append(*dst, msg)
	}
	if flag != nil {
		*flag = true
	}
}

func (f *fakeTB) Helper()                   {}
func (f *fakeTB) Log(args ...any)           { f.record(&f.logs, nil, fmt.Sprint(args...)) }
func (f *fakeTB) Logf(s string, a ...any)   { f.record(&f.logs, nil, fmt.Sprintf(s, a...)) }
func (f *fakeTB) Error(args ...any)         { f.record(&f.errs, &f.failed, fmt.Sprint(args...)) }
func (f *fakeTB) Errorf(s string, a ...any) { f.record(&f.errs, &f.failed, fmt.Sprintf(s, a...)) }
func (f *fakeTB) Fail()                     { f.record(nil, &f.failed, "") }
func (f *fakeTB) FailNow()                  { f.record(nil, &f.failed, ""); runtime.Goexit() }
func (f *fakeTB) Fatal(args ...any)         { f.Error(args...); f.FailNow() }
func (f *fakeTB) Fatalf(s string, a ...any) { f.Errorf(s, a...); f.FailNow() }
func (f *fakeTB) Failed() bool              { f.mu.Lock(); defer f.mu.Unlock(); return f.failed }
func (f *fakeTB) Skip(args ...any)          { f.Log(args...); f.SkipNow() }
func (f *fakeTB) Skipf(s string, a ...any)  { f.Logf(s, a...); f.SkipNow() }
func (f *fakeTB) SkipNow()                  { f.record(nil, &f.skipped, ""); runtime.Goexit() }

// runFake runs fn with a fakeTB in its own goroutine and reports whether fn
// returned normally (rather than via FailNow/SkipNow).
func runFake(t *testing.T, fn func(testing.TB)) (f *fakeTB, returned bool) {
	f = &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
		returned = true
	}()
	<-done
	return f, returned
}

// withoutSharedDir points Dir at a missing directory for the rest of t,
// which must not run in parallel, and returns it.
func withoutSharedDir(t *testing.T) string {
	t.Helper()
	missing := filepath.Join(t.TempDir(), "shared", "openmetadata")
	dirOverride = missing
	t.Cleanup(func() { dirOverride = "" })
	return missing
}

func TestRequireValidWithoutSharedDir(t *testing.T) {
	missing := withoutSharedDir(t)

	dir, ok := Dir()
	assert.Equal(t, missing, dir)
	assert.False(t, ok)
	_, err := Load(workflowSchema, workflowFragment)
	assert.ErrorContains(t, err, "not found")

	f, returned := runFake(t, func(tb testing.TB) {
		requireValid(tb, "garbage", []byte("not: [a workflow config"), false)
	})
	assert.True(t, returned, "RequireValid must return, not stop the test")
	assert.False(t, f.failed, "errors: %v", f.errs)
	assert.False(t, f.skipped, "RequireValid must not skip")
	assert.Equal(t, []string{missing + " not found: schema validation skipped"}, f.logs)

	f, returned = runFake(t, func(tb testing.TB) {
		requireValid(tb, "garbage", []byte("not: [a workflow config"), true)
	})
	assert.False(t, returned, "under CI=true RequireValid must stop the test")
	assert.True(t, f.failed)
	assert.False(t, f.skipped, "under CI=true RequireValid must fail, not skip")
	assert.Equal(t, []string{missing + " not found, and CI=true: garbage cannot be validated against the OpenMetadata schemas"}, f.errs)
}

func TestSharedDirWithoutSharedDir(t *testing.T) {
	missing := withoutSharedDir(t)

	f, returned := runFake(t, func(tb testing.TB) { sharedDir(tb, false) })
	assert.False(t, returned, "SharedDir must stop the test")
	assert.True(t, f.skipped, "SharedDir must skip outside CI")
	assert.False(t, f.failed, "errors: %v", f.errs)
	assert.Equal(t, []string{missing + " not found: this test needs the shared OpenMetadata fixtures (under CI=true it fails instead)"}, f.logs)

	f, returned = runFake(t, func(tb testing.TB) { sharedDir(tb, true) })
	assert.False(t, returned, "SharedDir must stop the test")
	assert.True(t, f.failed, "SharedDir must fail under CI=true")
	assert.False(t, f.skipped, "SharedDir must not skip under CI=true")
	assert.Equal(t, []string{missing + " not found, and CI=true: CI must run the tests that need the shared OpenMetadata fixtures"}, f.errs)
}

func TestSharedDirPresent(t *testing.T) {
	dir := t.TempDir()
	dirOverride = dir
	t.Cleanup(func() { dirOverride = "" })
	for _, ci := range []bool{false, true} {
		var got string
		f, returned := runFake(t, func(tb testing.TB) { got = sharedDir(tb, ci) })
		assert.True(t, returned, "ci=%v", ci)
		assert.False(t, f.failed || f.skipped, "ci=%v", ci)
		assert.Equal(t, dir, got, "ci=%v", ci)
	}
}

func TestInCI(t *testing.T) {
	for value, want := range map[string]bool{"true": true, "": false, "false": false, "1": false, "TRUE": false} {
		t.Setenv("CI", value)
		assert.Equal(t, want, inCI(), "CI=%q", value)
	}
}

func TestRequireValid(t *testing.T) {
	SharedDir(t)
	mysql := readExample(t, "workflow-config-mysql.yaml")

	f, returned := runFake(t, func(tb testing.TB) { RequireValid(tb, "mysql example", mysql) })
	assert.True(t, returned)
	assert.False(t, f.failed, "errors: %v", f.errs)
	assert.Empty(t, f.logs)

	snowflake := readExample(t, "workflow-config-snowflake.yaml")
	f, returned = runFake(t, func(tb testing.TB) { RequireValid(tb, "snowflake example", snowflake) })
	assert.False(t, returned, "require must stop the test on an invalid document")
	assert.True(t, f.failed)
	require.Len(t, f.errs, 1)
	assert.Contains(t, f.errs[0], "snowflake example is not a valid OpenMetadata workflow config")
	assert.Contains(t, f.errs[0], "/source/serviceConnection/config")
}
