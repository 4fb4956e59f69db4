package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// marker is part of every planted value, so one search finds any of them.
const marker = "PLANTED"

// TestNoValueInAnythingPrinted plants values in a store, runs every command
// over definitions that succeed and fail in every way, at debug level in
// both log formats, and scans everything printed.
func TestNoValueInAnythingPrinted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	writeFiles(t, store, map[string]string{
		"db/password":  marker + "-pw-6c1f0e",
		"bot/jwt":      marker + "-jwt-a9d2",
		"multi/line":   "-----BEGIN PRIVATE KEY-----\n" + marker + "-key-77e1\n-----END PRIVATE KEY-----\n",
		"json/creds":   `{"username":"` + marker + `-user-3b","password":"` + marker + `-jsonpw-4c"}`,
		"masked/value": "*********",
		"not/json":     marker + `-notjson-{"password": tru`,
		"binary/value": marker + "\xff\xfe-binary",
	})
	defs := filepath.Join(dir, "defs")
	writeFiles(t, defs, map[string]string{
		"good.yaml": workflowConfig("secret:/db/password", "secret:/bot/jwt"),
		"key.yaml":  workflowConfig("secret:/json/creds#password", "secret:/multi/line"),
		"bad.yaml":  workflowConfig("secret:/not/json#password", "secret:/masked/value"),
		"more.yaml": workflowConfig("secret:/json/creds#absent", "secret:/binary/value"),
		"gone.yaml": workflowConfig("secret:/db/password", "secret:/absent"),
		// A plaintext value already in a definition must not leak through
		// a parse error either.
		"broken.json": `{"source": {"password": "` + marker + `-inline" x}`,
	})
	all := []string{"good.yaml", "key.yaml", "bad.yaml", "more.yaml", "gone.yaml", "broken.json"}
	for i := range all {
		all[i] = filepath.Join(defs, all[i])
	}
	out := filepath.Join(dir, "out")
	require.NoError(t, os.Mkdir(out, 0o700))

	var printed bytes.Buffer
	for _, logFormat := range []string{"text", "json"} {
		common := []string{"--provider", "file", "--file-dir", store, "--log-level", "debug", "--log-format", logFormat}
		runs := [][]string{
			append(append([]string{"resolve", "--out-dir", out, "--allow-disk"}, common...), all...),
			append(append([]string{"check"}, common...), all...),
			append(append([]string{"resolve", "--redact", "--out", "-"}, common...), all[1]),
			append(append([]string{"resolve", "--out-dir", filepath.Join(store, "db", "password")}, common...), all[0]),
		}
		for _, args := range runs {
			r := omsecrets(t, nil, args...)
			assert.NotEqual(t, 0, r.code+boolInt(args[1] == "--redact"), "every run but the redacted one reports a failure: %v", args)
			printed.WriteString(r.stdout)
			printed.WriteString(r.stderr)
		}
	}

	// The runs did resolve: the outputs hold the values.
	good, err := os.ReadFile(filepath.Join(out, "good.json"))
	require.NoError(t, err)
	assert.Contains(t, string(good), marker+"-pw-6c1f0e")
	key, err := os.ReadFile(filepath.Join(out, "key.json"))
	require.NoError(t, err)
	assert.Contains(t, string(key), marker+"-jsonpw-4c")

	text := printed.String()
	require.NotEmpty(t, text)
	assert.Contains(t, text, "secret:/db/password", "references are printed")
	assert.Contains(t, text, "class=masked")
	assert.Contains(t, text, "not valid UTF-8")
	assert.NotContains(t, text, marker, "a planted value was printed")
	assert.NotContains(t, text, "BEGIN PRIVATE KEY")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestDemoPrintsNoValue runs `make demo`'s script with a freshly built
// binary and scans its output for every value in the demo store.
func TestDemoPrintsNoValue(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is needed to run scripts/demo.sh")
	}
	bin := filepath.Join(t.TempDir(), "omsecrets")
	build := exec.Command("go", "build", "-o", bin, ".")
	outb, err := build.CombinedOutput()
	require.NoError(t, err, string(outb))

	cmd := exec.Command("bash", "../../scripts/demo.sh")
	cmd.Env = append(os.Environ(), "BIN="+bin)
	got, err := cmd.CombinedOutput()
	require.NoError(t, err, string(got))
	text := string(got)
	if m := regexp.MustCompile(`(?m)^== output directory (\S+)`).FindStringSubmatch(text); m != nil {
		t.Cleanup(func() { _ = os.RemoveAll(m[1]) })
	} else if m := regexp.MustCompile(`writing to (\S+) on disk`).FindStringSubmatch(text); m != nil {
		t.Cleanup(func() { _ = os.RemoveAll(m[1]) })
	}

	values := demoValues(t)
	require.NotEmpty(t, values)
	for _, v := range values {
		assert.NotContains(t, text, v, "the demo printed a secret value")
	}
	assert.Contains(t, text, `"password": "[redacted]"`)
	assert.Contains(t, text, "-rw-------", "outputs are mode 0600")
	assert.Regexp(t, `(?m)\sok$`, text)
}

// demoValues returns every value in the demo store, and every field of
// the ones that are JSON objects.
func demoValues(t *testing.T) []string {
	t.Helper()
	var values []string
	err := filepath.WalkDir(filepath.Join(examplesDir, "secrets"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		v := strings.TrimSuffix(string(b), "\n")
		values = append(values, v)
		var obj map[string]string
		if json.Unmarshal(b, &obj) == nil {
			for _, f := range obj {
				values = append(values, f)
			}
		}
		return nil
	})
	require.NoError(t, err)
	return values
}
