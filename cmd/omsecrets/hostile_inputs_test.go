package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/plan"
)

// The hostile-input suite: definitions (their files, encodings, shapes,
// references and fields) and store contents a new user, a careless DAG
// author or an attacker might hand the sidecar. Every case runs through
// `run --once` and `check` and must:
//
//   - exit 1 (the definition failed; exit 2 for settings) within a bound,
//     even for inputs that used to hang (FIFOs, endless devices): the
//     command's context is cancelled after cancelAfter, as SIGTERM does;
//   - log its failure on one line that names the definition file and
//     carries the expected class and words;
//   - write nothing for it: the output its good earlier version wrote is
//     unchanged, and no temporary file is left;
//   - print no planted value.

const (
	hostilePW   = "PLANTED-hostile-pw"
	hostileJWT  = "PLANTED-hostile-jwt"
	cancelAfter = 5 * time.Second
	exitBound   = 8 * time.Second
)

// hostileWorld is a file store with planted values, a definition path
// whose good version has been resolved into out, and that output.
type hostileWorld struct {
	store, defs, def, out string
	good                  []byte
}

func newHostileWorld(t *testing.T, ext string) *hostileWorld {
	t.Helper()
	dir := t.TempDir()
	w := &hostileWorld{store: filepath.Join(dir, "store"), defs: filepath.Join(dir, "defs"), out: filepath.Join(dir, "out")}
	writeFiles(t, w.store, map[string]string{"db/password": hostilePW, "bot/jwt": hostileJWT})
	require.NoError(t, os.MkdirAll(w.defs, 0o755))
	require.NoError(t, os.MkdirAll(w.out, 0o755))
	w.def = filepath.Join(w.defs, "victim."+ext)
	good := workflowConfig("secret:/db/password", "secret:/bot/jwt")
	if ext == "json" {
		good = goodJSON
	}
	require.NoError(t, os.WriteFile(w.def, []byte(good), 0o600))
	r := omsecrets(t, nil, w.args("run", "--once", "--out-dir", w.out, w.def)...)
	require.Equal(t, 0, r.code, r.stderr)
	var err error
	w.good, err = os.ReadFile(filepath.Join(w.out, "victim.json"))
	require.NoError(t, err)
	require.Contains(t, string(w.good), hostilePW)
	require.NoError(t, os.Remove(w.def))
	return w
}

func (w *hostileWorld) args(cmd ...string) []string {
	return append(cmd[:1:1], append([]string{"--provider", "file", "--file-dir", w.store, "--allow-disk"}, cmd[1:]...)...)
}

// goodJSON is workflowConfig's document as JSON.
const goodJSON = `{"source":{"type":"mysql","serviceName":"mysql_prod","serviceConnection":{"config":{"type":"Mysql","username":"reader",
"authType":{"password":"secret:/db/password"},"hostPort":"db:3306"}},"sourceConfig":{"config":{"type":"DatabaseMetadata"}}},
"sink":{"type":"metadata-rest","config":{}},"workflowConfig":{"openMetadataServerConfig":{"hostPort":"http://om:8585/api",
"authProvider":"openmetadata","securityConfig":{"jwtToken":"secret:/bot/jwt"},"secretsManagerProvider":"aws"}}}`

// hostileCase is one input.
type hostileCase struct {
	name string
	ext  string // of the definition file: "yaml" or "json"
	// content is the definition; make, if set, creates it instead (special
	// files) at path.
	content string
	make    func(t *testing.T, path string)
	// store edits the file store before the run.
	store func(t *testing.T, dir string)
	class string // the class of the failure ("": a line with none)
	want  string // words of the failure line
	// lines is the number of failure lines (1 when 0).
	lines int
}

func wc(password, jwt string) string { return workflowConfig(password, jwt) }

func jsonWith(old, new string) string { return strings.Replace(goodJSON, old, new, 1) }

func deepJSON(n int) string {
	return jsonWith(`"config":{}`, `"config":`+strings.Repeat(`{"a":`, n)+`1`+strings.Repeat(`}`, n))
}

func deepYAML(n int) string {
	var b strings.Builder
	b.WriteString(wc("secret:/db/password", "secret:/bot/jwt"))
	b.WriteString("extra:\n")
	for i := range n {
		b.WriteString(strings.Repeat("  ", i+1) + "a:\n")
	}
	b.WriteString(strings.Repeat("  ", n+1) + "b: 1\n")
	return b.String()
}

func manyRefs(n int) string {
	var b strings.Builder
	b.WriteString(wc("secret:/db/password", "secret:/bot/jwt"))
	b.WriteString("extra:\n")
	for i := range n {
		fmt.Fprintf(&b, "  k%d: secret:/missing/%d\n", i, i)
	}
	return b.String()
}

func storeFile(rel string, data []byte) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		p := filepath.Join(dir, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, data, 0o600))
	}
}

func storeSymlink(rel, target string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		p := filepath.Join(dir, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.Symlink(target, p))
	}
}

func symlinkTo(target string) func(*testing.T, string) {
	return func(t *testing.T, path string) { require.NoError(t, os.Symlink(target, path)) }
}

func hostileCases() []hostileCase {
	pw := func(ref string) string { return wc(ref, "secret:/bot/jwt") }
	cases := []hostileCase{
		// The file itself.
		{name: "fifo", make: func(t *testing.T, p string) { require.NoError(t, syscall.Mkfifo(p, 0o600)) }, class: "invalid", want: "not a regular file (a FIFO)"},
		{name: "symlink to /dev/zero", make: symlinkTo("/dev/zero"), class: "invalid", want: "not a regular file (a character device)"},
		{name: "symlink to /dev/urandom", make: symlinkTo("/dev/urandom"), class: "invalid", want: "a character device"},
		{name: "symlink to /dev/null", make: symlinkTo("/dev/null"), class: "invalid", want: "a character device"},
		{name: "directory", make: func(t *testing.T, p string) { require.NoError(t, os.Mkdir(p, 0o700)) }, want: "no definitions"}, // read as a directory: see TestDefinitionDirectories
		{name: "socket", make: func(t *testing.T, p string) {
			ln, err := net.Listen("unix", p)
			require.NoError(t, err)
			t.Cleanup(func() { ln.Close() })
		}, class: "invalid", want: "read:"},
		{name: "symlink loop", make: func(t *testing.T, p string) { require.NoError(t, os.Symlink(p, p)) }, class: "invalid", want: "too many levels of symbolic links"},
		{name: "larger than 4 MiB", content: wc("secret:/db/password", "secret:/bot/jwt") + "# " + strings.Repeat("x", 5<<20) + "\n", class: "invalid", want: "file too large"},
		{name: "empty", content: "", class: "invalid", want: "empty document"},
		{name: "only whitespace", content: " \n\t\n", class: "invalid", want: "syntax error"},
		{name: "only a comment", content: "# nothing\n", class: "invalid", want: "empty"},
		{name: "NUL bytes", content: "\x00\x00\x00", class: "invalid", want: "victim.yaml"},
		{name: "binary noise", content: "\x89PNG\r\n\x1a\n\x00\x00", class: "invalid", want: "not valid UTF-8"},

		// Encodings.
		{name: "JSON invalid UTF-8 in a value", ext: "json", content: jsonWith(`"reader"`, "\"read\xffer\""), class: "invalid", want: "not valid UTF-8"},
		{name: "YAML invalid UTF-8", content: strings.Replace(wc("secret:/db/password", "secret:/bot/jwt"), "reader", "read\xc3\x28er", 1), class: "invalid", want: "not valid UTF-8"},
		{name: "overlong UTF-8", content: strings.Replace(wc("secret:/db/password", "secret:/bot/jwt"), "reader", "\xc0\xafreader", 1), class: "invalid", want: "not valid UTF-8"},
		{name: "UTF-8 encoded surrogate", content: strings.Replace(wc("secret:/db/password", "secret:/bot/jwt"), "reader", "\xed\xa0\x80", 1), class: "invalid", want: "not valid UTF-8"},
		{name: "UTF-16LE with BOM", content: "\xff\xfes\x00o\x00", class: "invalid", want: "not valid UTF-8"},
		{name: "JSON lone low surrogate", ext: "json", content: jsonWith(`"reader"`, `"re\udc80der"`), class: "invalid", want: "half a UTF-16 surrogate pair"},
		{name: "JSON lone high surrogate", ext: "json", content: jsonWith(`"reader"`, `"\ud800"`), class: "invalid", want: "surrogate"},
		{name: "JSON lone surrogate in a key", ext: "json", content: jsonWith(`"username"`, `"user\udfffname"`), class: "invalid", want: "surrogate"},
		{name: "JSON high surrogate then letter", ext: "json", content: jsonWith(`"reader"`, `"\ud83d\u0041"`), class: "invalid", want: "surrogate"},

		// Shapes.
		{name: "JSON truncated", ext: "json", content: goodJSON[:len(goodJSON)/2], class: "invalid", want: "syntax error"},
		{name: "JSON trailing data", ext: "json", content: goodJSON + "{}", class: "invalid", want: "after the top-level value"},
		{name: "JSON duplicate key", ext: "json", content: jsonWith(`"username":"reader"`, `"username":"reader","username":"other"`), class: "invalid", want: "duplicate"},
		{name: "JSON top-level array", ext: "json", content: "[" + goodJSON + "]", class: "invalid", want: "victim.json"},
		{name: "JSON top-level string", ext: "json", content: `"secret:/db/password"`, class: "invalid", want: "victim.json"},
		{name: "JSON null", ext: "json", content: `null`, class: "invalid", want: "victim.json"},
		{name: "JSON nested 100 deep", ext: "json", content: deepJSON(100), class: "invalid", want: "more than 64 levels"},
		{name: "JSON nested 100000 deep", ext: "json", content: deepJSON(100000), class: "invalid", want: "victim.json"},
		{name: "YAML nested 100 deep", content: deepYAML(100), class: "invalid", want: "more than 64 levels"},
		{name: "YAML flow nested 10000 deep", content: "a: " + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "\n", class: "invalid", want: "victim.yaml"},
		{name: "YAML alias bomb", content: "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n" + wc("secret:/db/password", "secret:/bot/jwt"), class: "invalid", want: "victim.yaml"},
		{name: "YAML sequence key", content: "? [a]\n: x\n" + wc("secret:/db/password", "secret:/bot/jwt"), class: "invalid", want: "a mapping key that is a sequence or mapping"},
		{name: "YAML mapping key", content: wc("secret:/db/password", "secret:/bot/jwt") + "? {a: b}\n: x\n", class: "invalid", want: "mapping key"},
		{name: "YAML two complex keys", content: wc("secret:/db/password", "secret:/bot/jwt") + "? [a]\n: x\n? [b]\n: y\n", class: "invalid", want: "mapping key"},
		{name: "YAML two documents", content: wc("secret:/db/password", "secret:/bot/jwt") + "---\na: 1\n", class: "invalid", want: "more than one YAML document"},
		{name: "YAML duplicate key", content: wc("secret:/db/password", "secret:/bot/jwt") + "sink: {}\n", class: "invalid", want: "victim.yaml"},
		{name: "YAML tab indentation", content: "source:\n\ttype: mysql\n", class: "invalid", want: "syntax error"},
		{name: "YAML unknown tag on a reference", content: strings.Replace(pw("secret:/db/password"), `password: "secret:/db/password"`, `password: !custom secret:/db/password`, 1), class: "invalid", want: "tagged !custom"},
		{name: "YAML tagged mask", content: strings.Replace(pw("secret:/db/password"), `password: "secret:/db/password"`, `password: !custom "*********"`, 1), class: "invalid", want: "tagged !custom"},
		{name: "no source", content: "sink:\n  type: metadata-rest\n", class: "invalid", want: "source"},
		{name: "source a string", content: "source: x\nsink: {type: metadata-rest}\n", class: "invalid", want: "source"},
		{name: "source a list", ext: "json", content: `{"source":[1,2]}`, class: "invalid", want: "source"},
		{name: "YAML long key", content: wc("secret:/db/password", "secret:/bot/jwt") + strings.Repeat("k", 100000) + ": secret:/missing\n", class: "invalid", want: "syntax error"},
		{name: "JSON long key", ext: "json", content: jsonWith(`"sink":`, `"`+strings.Repeat("k", 100000)+`":"secret:/missing","sink":`), class: "not_found", want: "…[100000 bytes]"},

		// References.
		{name: "empty id", content: pw("secret:"), class: "bad_ref", want: "empty secret id"},
		{name: "empty id with key", content: pw("secret:#k"), class: "bad_ref", want: "empty secret id"},
		{name: "empty key", content: pw("secret:/db/password#"), class: "bad_ref", want: "empty key"},
		{name: "id of 200000 characters", content: pw("secret:/" + strings.Repeat("x", 200000)), class: "bad_ref", want: "longer than 8192 bytes"},
		{name: "id with a newline escape", ext: "json", content: jsonWith(`"secret:/db/password"`, `"secret:/db/pass\nword"`), class: "bad_ref", want: "unprintable"},
		{name: "id with a NUL escape", ext: "json", content: jsonWith(`"secret:/db/password"`, `"secret:/db/\u0000password"`), class: "bad_ref", want: "unprintable"},
		{name: "id with a bidi override", content: pw("secret:/db/\u202epassword"), class: "bad_ref", want: "unprintable"},
		{name: "id with an escape character", ext: "json", content: jsonWith(`"secret:/db/password"`, `"secret:/db/\u001b[31mpassword"`), class: "bad_ref", want: "unprintable"},
		{name: "id leaving the store", content: pw("secret:/../../../etc/passwd"), class: "bad_ref", want: "victim.yaml"},
		{name: "id with a backslash", content: pw(`secret:/db\\password`), class: "bad_ref", want: "backslash"},
		{name: "id with a path element too long", content: pw("secret:/db/" + strings.Repeat("n", 300)), store: func(t *testing.T, dir string) {}, class: "bad_ref", want: "file name too long"},
		{name: "missing secret", content: pw("secret:/db/missing"), class: "not_found", want: "secret:/db/missing"},
		{name: "key of a non-JSON secret", content: pw("secret:/db/password#user"), class: "bad_ref", want: "not a JSON object"},
		{name: "mask in the document", content: pw("*********"), class: "masked", want: "masked"},
		{name: "5000 references", content: manyRefs(5000), class: "not_found", want: "secret:/missing/", lines: 11},

		// Store contents.
		{name: "secret is a FIFO", content: pw("secret:/hostile/x"), store: func(t *testing.T, dir string) {
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "hostile"), 0o755))
			require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "hostile", "x"), 0o600))
		}, class: "bad_ref", want: "not a regular file"},
		{name: "secret links to /dev/zero", content: pw("secret:/hostile/x"), store: storeSymlink("hostile/x", "/dev/zero"), class: "permission", want: "leaves the store directory"},
		{name: "secret links to a FIFO in the store", content: pw("secret:/hostile/x"), store: func(t *testing.T, dir string) {
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "hostile"), 0o755))
			require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "hostile", "fifo"), 0o600))
			require.NoError(t, os.Symlink("fifo", filepath.Join(dir, "hostile", "x")))
		}, class: "bad_ref", want: "not a regular file"},
		{name: "secret links out of the store", content: pw("secret:/hostile/x"), store: storeSymlink("hostile/x", "/etc/passwd"), class: "permission", want: "leaves the store directory"},
		{name: "secret link loop", content: pw("secret:/hostile/x"), store: storeSymlink("hostile/x", "x"), class: "bad_ref", want: "too many levels"},
		{name: "secret is a directory", content: pw("secret:/hostile"), store: storeFile("hostile/x", []byte("v")), class: "bad_ref", want: "not a regular file"},
		{name: "secret larger than 1 MiB", content: pw("secret:/hostile/x"), store: storeFile("hostile/x", bytes.Repeat([]byte("v"), 2<<20)), class: "bad_ref", want: "larger than"},
		{name: "secret not UTF-8", content: pw("secret:/hostile/x"), store: storeFile("hostile/x", []byte("PLANTED-\xff\xfe")), class: "bad_ref", want: "not valid UTF-8"},
		{name: "secret is the mask", content: pw("secret:/hostile/x"), store: storeFile("hostile/x", []byte("*********")), class: "masked", want: "masked"},
		{name: "JSON secret with a lone surrogate", content: pw("secret:/hostile/x#password"), store: storeFile("hostile/x", []byte(`{"password":"PLANTED-\udc80"}`)), class: "bad_ref", want: "surrogate"},
		{name: "JSON secret without the key", content: pw("secret:/hostile/x#password"), store: storeFile("hostile/x", []byte(`{"user":"PLANTED-u"}`)), class: "not_found", want: "not in secret"},
		{name: "JSON secret that is an array", content: pw("secret:/hostile/x#password"), store: storeFile("hostile/x", []byte(`["PLANTED-a"]`)), class: "bad_ref", want: "not a JSON object"},
		{name: "secret is null with a key", content: pw("secret:/hostile/x#password"), store: storeFile("hostile/x", []byte("null")), class: "bad_ref", want: "secret is null"},

		// The server connection and the policy.
		{name: "JWT to another host", content: strings.Replace(wc("secret:/db/password", "secret:/bot/jwt"), "http://om:8585/api", "http://evil.example:8585/api", 1), class: "forbidden_host", want: "evil.example"},
		{name: "JWT to another port", content: strings.Replace(wc("secret:/db/password", "secret:/bot/jwt"), "http://om:8585/api", "http://om:8586/api", 1), class: "forbidden_host", want: "om:8586"},
		{name: "JWT over another scheme", content: strings.Replace(wc("secret:/db/password", "secret:/bot/jwt"), "http://om:8585/api", "https://om:8585/api", 1), class: "forbidden_host", want: "https://om:8585"},
		{name: "JWT to a file URL", content: strings.Replace(wc("secret:/db/password", "secret:/bot/jwt"), "http://om:8585/api", "file:///etc/passwd", 1), class: "forbidden_host", want: "file:///etc/passwd"},
		{name: "JWT with a user in the URL", content: strings.Replace(wc("secret:/db/password", "secret:/bot/jwt"), "http://om:8585/api", "http://om:8585@evil:80/api", 1), class: "forbidden_host", want: "forbidden"},
		{name: "hostPort with a password in it", content: strings.Replace(wc("secret:/db/password", "secret:/bot/jwt"), "http://om:8585/api", "http://admin:PLANTED-url-pw@evil:8585/api", 1), class: "forbidden_host", want: "[redacted]@evil:8585"},
		{name: "hostPort not a URL", content: strings.Replace(wc("secret:/db/password", "secret:/bot/jwt"), "http://om:8585/api", "om:8585", 1), class: "forbidden_host", want: "forbidden"},
		{name: "JWT reference with a key", content: wc("secret:/db/password", "secret:/bot/jwt#token"), class: "bad_ref", want: "not a JSON object"},
		{name: "JWT reference malformed", content: wc("secret:/db/password", "secret:#"), class: "bad_ref", want: "empty secret id"},
		{name: "another cluster", content: strings.Replace(wc("secret:/db/password", "secret:/bot/jwt"), "authProvider: openmetadata", "authProvider: openmetadata\n    clusterName: eu", 1), class: "forbidden_ref", want: "is not this sidecar's OpenMetadata cluster"},
		{name: "unknown provider", content: strings.Replace(wc("secret:/db/password", "secret:/bot/jwt"), "secretsManagerProvider: aws", "secretsManagerProvider: nosuch", 1), class: "unknown_store", want: "nosuch"},
	}
	for i := range cases {
		if cases[i].ext == "" {
			cases[i].ext = "yaml"
		}
	}
	return cases
}

// The file store serves every case (--provider file), so the provider
// case above is about the definition's field only when no --provider is
// given: it runs without one.
func (c hostileCase) args(w *hostileWorld, cmd string) []string {
	var args []string
	switch cmd {
	case "run":
		args = w.args("run", "--once", "--out-dir", w.out, w.def)
	case "check":
		args = []string{"check", "--provider", "file", "--file-dir", w.store, w.def}
	}
	if c.class == "unknown_store" {
		args = withoutFlag(args, "--provider", "file")
	}
	return args
}

func withoutFlag(args []string, flag, value string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == flag && i+1 < len(args) && args[i+1] == value {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

func TestHostileInputs(t *testing.T) {
	t.Parallel()
	cases := hostileCases()
	require.GreaterOrEqual(t, len(cases), 70)
	for _, c := range cases {
		for _, cmd := range []string{"run", "check"} {
			t.Run(cmd+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				w := newHostileWorld(t, c.ext)
				if c.store != nil {
					c.store(t, w.store)
				}
				if c.make != nil {
					c.make(t, w.def)
				} else {
					require.NoError(t, os.WriteFile(w.def, []byte(c.content), 0o600))
				}
				ctx, cancel := context.WithTimeout(context.Background(), cancelAfter)
				defer cancel()
				start := time.Now()
				r := omsecretsCtx(t, ctx, nil, c.args(w, cmd)...)
				assert.Less(t, time.Since(start), exitBound, "exits within the bound")
				assert.Equal(t, 1, r.code, "stdout:\n%.2000s\nstderr:\n%.2000s", r.stdout, r.stderr)

				var fails []string
				for _, l := range strings.Split(r.stderr, "\n") {
					if strings.Contains(l, "level=ERROR") && strings.Contains(l, w.def) {
						fails = append(fails, l)
					}
				}
				require.Len(t, fails, max(c.lines, 1), "failure lines naming the file:\n%.3000s", r.stderr)
				if c.class != "" {
					assert.Contains(t, fails[0], "class="+c.class)
				}
				assert.Contains(t, fails[0], c.want)
				assert.Less(t, len(fails[0]), 64<<10, "the line does not echo a huge input")

				got, err := os.ReadFile(filepath.Join(w.out, "victim.json"))
				require.NoError(t, err)
				assert.Equal(t, w.good, got, "the earlier good output is unchanged")
				for _, n := range dirNames(t, w.out) {
					assert.True(t, n == "victim.json" || n == "victim.status", "only the output and its status: %s", n)
				}
				printed := r.stdout + r.stderr
				for _, v := range []string{hostilePW, hostileJWT, "PLANTED"} {
					assert.NotContains(t, printed, v)
				}
				if cmd == "check" {
					assert.Less(t, len(r.stdout), 4<<20, "check's table stays bounded")
				}
			})
		}
	}
}

// dirLayout is a definitions tree for TestDefinitionDirectories: build
// creates it under root (the file store is at store) and returns the
// command's arguments; good and bad are the definitions every command
// must read (paths as the commands name them), the good ones resolving
// and the bad ones failing each on a line naming it. Anything else built
// has "IGNORED" in its name and content that would fail if read: no
// command may name it.
type dirLayout struct {
	name  string
	build func(t *testing.T, root string) (args, good, bad []string)
	// want is a word of the failure line when there is no definition.
	want string
}

// dirDefinition writes a good definition at path (JSON for a .json
// name) whose password is its own file store id, /db/<base name>.
func dirDefinition(t *testing.T, store, path string) {
	t.Helper()
	id := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	writeFiles(t, store, map[string]string{"db/" + id: "PLANTED-dir-" + id})
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	content := wc("secret:/db/"+id, "secret:/bot/jwt")
	if strings.EqualFold(filepath.Ext(path), ".json") {
		content = jsonWith("secret:/db/password", "secret:/db/"+id)
	}
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

// ignored writes a file that would fail if it were read as a definition.
func ignored(t *testing.T, path string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte("{IGNORED: ["), 0o600))
}

func dirLayouts() []dirLayout {
	return []dirLayout{
		{name: "empty dir", want: "no definitions", build: func(t *testing.T, root string) ([]string, []string, []string) {
			defs := filepath.Join(root, "defs")
			require.NoError(t, os.Mkdir(defs, 0o755))
			return []string{defs}, nil, nil
		}},
		{name: "empty dirs and only non-definitions", want: "no definitions", build: func(t *testing.T, root string) ([]string, []string, []string) {
			a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
			require.NoError(t, os.Mkdir(a, 0o755))
			ignored(t, filepath.Join(b, "IGNORED.txt"))
			ignored(t, filepath.Join(b, "IGNORED-sub", "x.yaml"))
			return []string{a, b}, nil, nil
		}},
		{name: "nested dir", build: func(t *testing.T, root string) ([]string, []string, []string) {
			defs := filepath.Join(root, "defs")
			dirDefinition(t, filepath.Join(root, "store"), filepath.Join(defs, "top.yaml"))
			ignored(t, filepath.Join(defs, "sub", "IGNORED-nested.yaml"))
			ignored(t, filepath.Join(defs, "sub", "deeper", "IGNORED-deeper.json"))
			ignored(t, filepath.Join(defs, "IGNORED-dir.json", "IGNORED-inside.json")) // a directory with a definition's name
			return []string{defs}, []string{filepath.Join(defs, "top.yaml")}, nil
		}},
		{name: "dir with non-definition files", build: func(t *testing.T, root string) ([]string, []string, []string) {
			defs := filepath.Join(root, "defs")
			dirDefinition(t, filepath.Join(root, "store"), filepath.Join(defs, "a.yaml"))
			dirDefinition(t, filepath.Join(root, "store"), filepath.Join(defs, "b.YML"))
			for _, n := range []string{"IGNORED.txt", "IGNORED.yaml~", ".IGNORED.yaml", "IGNORED.json.swp", "#IGNORED#", "IGNORED", "IGNORED.json.tmp", "..IGNORED.json"} {
				ignored(t, filepath.Join(defs, n))
			}
			return []string{defs}, []string{filepath.Join(defs, "a.yaml"), filepath.Join(defs, "b.YML")}, nil
		}},
		{name: "symlinks", build: func(t *testing.T, root string) ([]string, []string, []string) {
			defs, elsewhere := filepath.Join(root, "defs"), filepath.Join(root, "elsewhere")
			dirDefinition(t, filepath.Join(root, "store"), filepath.Join(elsewhere, "real.yaml"))
			ignored(t, filepath.Join(elsewhere, "IGNORED-target.yaml"))
			require.NoError(t, os.MkdirAll(defs, 0o755))
			for name, target := range map[string]string{
				"linked.yaml":           filepath.Join(elsewhere, "real.yaml"), // a definition: counts under its own name
				"IGNORED-dangling.yaml": filepath.Join(root, "gone.yaml"),
				"IGNORED-loop.yaml":     "IGNORED-loop.yaml",
				"IGNORED-zero.json":     "/dev/zero",
				"IGNORED-dir.yaml":      elsewhere,
			} {
				require.NoError(t, os.Symlink(target, filepath.Join(defs, name)))
			}
			// The argument itself a symlink to the directory.
			arg := filepath.Join(root, "defs-link")
			require.NoError(t, os.Symlink(defs, arg))
			return []string{arg}, []string{filepath.Join(arg, "linked.yaml")}, nil
		}},
		{name: "FIFO in a dir", build: func(t *testing.T, root string) ([]string, []string, []string) {
			defs := filepath.Join(root, "defs")
			dirDefinition(t, filepath.Join(root, "store"), filepath.Join(defs, "a.yaml"))
			for _, n := range []string{"IGNORED-fifo.json", "IGNORED-fifo.yaml"} {
				require.NoError(t, syscall.Mkfifo(filepath.Join(defs, n), 0o600))
			}
			ln, err := net.Listen("unix", filepath.Join(defs, "IGNORED-socket.json"))
			require.NoError(t, err)
			t.Cleanup(func() { ln.Close() })
			return []string{defs}, []string{filepath.Join(defs, "a.yaml")}, nil
		}},
		{name: "files and directories mixed", build: func(t *testing.T, root string) ([]string, []string, []string) {
			store := filepath.Join(root, "store")
			defs, other := filepath.Join(root, "defs"), filepath.Join(root, "other")
			dirDefinition(t, store, filepath.Join(defs, "a.yaml"))
			dirDefinition(t, store, filepath.Join(defs, "b.json"))
			dirDefinition(t, store, filepath.Join(other, "c.yaml"))
			ignored(t, filepath.Join(other, "IGNORED-beside.yaml"))
			// A file named beside its own directory counts once; a file
			// named outside any directory counts whatever its name.
			own := filepath.Join(other, "c.yaml")
			named := filepath.Join(root, "named.yml")
			dirDefinition(t, store, named)
			return []string{defs, own, filepath.Join(defs, "a.yaml"), named},
				[]string{filepath.Join(defs, "a.yaml"), filepath.Join(defs, "b.json"), own, named}, nil
		}},
		{name: "bad definitions in a dir", build: func(t *testing.T, root string) ([]string, []string, []string) {
			defs := filepath.Join(root, "defs")
			dirDefinition(t, filepath.Join(root, "store"), filepath.Join(defs, "good.yaml"))
			broken := filepath.Join(defs, "broken.yaml")
			require.NoError(t, os.WriteFile(broken, []byte("{not yaml: ["), 0o600))
			// A name no terminal should see raw: quoted wherever printed.
			escape := filepath.Join(defs, "esc\x1b[31m\tname.json")
			require.NoError(t, os.WriteFile(escape, []byte(`{"source": 1}`), 0o600))
			// A FIFO named as an argument is a definition, refused at once.
			fifo := filepath.Join(root, "named-fifo.yaml")
			require.NoError(t, syscall.Mkfifo(fifo, 0o600))
			return []string{defs, fifo}, []string{filepath.Join(defs, "good.yaml")}, []string{broken, escape, fifo}
		}},
	}
}

// TestDefinitionDirectories: resolve --out-dir, check and plan take
// directories exactly as run --once does (definitionFiles): the same
// definitions are read from the same trees (files and directories mixed,
// symlinks followed, nested dirs, special files and other names passed
// over), the bad ones fail alone on a line naming them, nothing counts
// as a pass when there is nothing, and no command hangs or prints a
// value.
func TestDefinitionDirectories(t *testing.T) {
	t.Parallel()
	commands := map[string]func(store, out string) []string{
		"run --once": func(store, out string) []string {
			return []string{"run", "--once", "--provider", "file", "--file-dir", store, "--allow-disk", "--out-dir", out}
		},
		"resolve --out-dir": func(store, out string) []string {
			return []string{"resolve", "--provider", "file", "--file-dir", store, "--allow-disk", "--out-dir", out}
		},
		"check": func(store, _ string) []string { return []string{"check", "--provider", "file", "--file-dir", store} },
		"plan": func(store, _ string) []string {
			return []string{"plan", "--provider", "file", "--file-dir", store, "--output", "json"}
		},
	}
	for _, l := range dirLayouts() {
		for cmd, base := range commands {
			t.Run(l.name+"/"+cmd, func(t *testing.T) {
				t.Parallel()
				root := t.TempDir()
				store, out := filepath.Join(root, "store"), filepath.Join(root, "out")
				writeFiles(t, store, map[string]string{"bot/jwt": "PLANTED-dir-jwt"})
				require.NoError(t, os.Mkdir(out, 0o755))
				args, good, bad := l.build(t, root)

				ctx, cancel := context.WithTimeout(context.Background(), cancelAfter)
				defer cancel()
				start := time.Now()
				r := omsecretsCtx(t, ctx, nil, append(base(store, out), args...)...)
				assert.Less(t, time.Since(start), exitBound, "exits within the bound")
				printed := r.stdout + r.stderr
				assert.NotContains(t, printed, "PLANTED", "a value was printed")
				assert.NotContains(t, printed, "IGNORED", "what is not a definition was read")
				assert.NotContains(t, printed, "\x1b", "a raw terminal escape was printed")
				assert.NotContains(t, printed, "not a regular file (a directory)", "a directory was read as a file")

				wantCode := 0
				if len(good) == 0 || len(bad) > 0 {
					wantCode = 1
				}
				require.Equal(t, wantCode, r.code, "stdout:\n%.3000s\nstderr:\n%.3000s", r.stdout, r.stderr)
				if l.want != "" {
					assert.Contains(t, r.stderr, l.want)
					assert.Contains(t, r.stderr, args[0], "the line names what was given")
				}
				for _, p := range bad {
					assert.True(t, errorLineNames(r.stderr, p), "no failure line names %q:\n%s", p, r.stderr)
				}

				switch cmd {
				case "run --once", "resolve --out-dir":
					var outputs []string
					for _, n := range dirNames(t, out) {
						if strings.HasSuffix(n, ".json") {
							outputs = append(outputs, n)
						}
					}
					var want []string
					for _, p := range good {
						want = append(want, strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))+".json")
					}
					assert.ElementsMatch(t, want, outputs, "one output per good definition")
				case "check":
					var rows []string
					for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
						if line != "" {
							rows = append(rows, line)
						}
					}
					if len(good)+len(bad) == 0 {
						assert.Empty(t, r.stdout, "no table for nothing")
						break
					}
					for _, p := range good {
						assert.Equal(t, 2, countRows(rows, p), "%s: its two references:\n%s", p, r.stdout)
					}
					for _, p := range bad {
						assert.Equal(t, 1, countRows(rows, strconv.Quote(p))+countRows(rows, p), "%s: one row:\n%s", p, r.stdout)
					}
					assert.Len(t, rows, 2*len(good)+len(bad), r.stdout)
				case "plan":
					if len(good)+len(bad) == 0 {
						assert.Empty(t, r.stdout, "no plan of nothing")
						break
					}
					var p plan.Plan
					require.NoError(t, json.Unmarshal([]byte(r.stdout), &p), r.stdout)
					assert.Equal(t, len(good)+len(bad), p.Definitions)
					var notCounted []string
					for _, n := range p.NotCounted {
						notCounted = append(notCounted, n.Definition)
					}
					var wantBad []string
					for _, b := range bad {
						wantBad = append(wantBad, printable(b))
					}
					assert.ElementsMatch(t, wantBad, notCounted)
					if len(good) > 0 {
						require.Len(t, p.Stores, 1)
						assert.Equal(t, len(good)+1, p.Stores[0].IDs, "each good definition's password and the shared bot JWT")
					}
				}
			})
		}
	}
}

// errorLineNames reports whether an error line of the log names path,
// as it is or quoted.
func errorLineNames(stderr, path string) bool {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, "level=ERROR") && (strings.Contains(l, "="+path+" ") || strings.Contains(l, strconv.Quote(path))) {
			return true
		}
	}
	return false
}

// countRows counts the table rows whose first cell is cell.
func countRows(rows []string, cell string) int {
	n := 0
	for _, r := range rows {
		if strings.HasPrefix(r, cell+" ") {
			n++
		}
	}
	return n
}
