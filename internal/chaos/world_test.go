package chaos

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"omsecrets/internal/daemon"
	"omsecrets/internal/testbed/awstest"
)

// world is a directory of workflow-config definitions whose references
// resolve in the file store (and, for some, in an AWS test server), with
// a history of every state the test put them in, so that an output can be
// checked against the states that existed.
//
// Definition i is d<i>.json. Its version v shows in three non-secret
// fields (hostPort, databaseSchema, connectionOptions.gen). It has three
// references: user and password, two keys of one JSON secret
// (/chaos/d<i>/creds, whose generation g shows in both values), the
// shared /chaos/shared/apikey (generation h) and the bot JWT. A complete
// resolution of definition i is its version v with every reference
// replaced by the values of one (g, h) that existed: user and password
// come from one fetch of one secret, so they must carry the same g; an
// output mixing two generations of creds, or fields of two versions, or
// holding any byte more or less than that resolution, is no resolution.
type world struct {
	t                  *testing.T
	defs, store, out   string
	n                  int
	pad                int             // bytes of filler in each definition
	aws                *awstest.Server // nil: every definition uses the file store
	awsEvery           int             // with aws: every awsEvery-th definition uses it
	mu                 sync.Mutex
	cur                [][]byte   // definition bytes now; nil: deleted
	valid              []bool     // whether cur parses as a definition
	versions           [][][]byte // valid versions written, by version number
	creds              [][]string // values of creds by generation
	shared             []string   // values of the shared key by generation
	nextVersion        []int
	writes, rotations  int
	deletes, invalids  int
	sharedRotations    int
	inPlace, atomicOps int
}

const jwtValueSuffix = "-jwt-token"

func newWorld(t *testing.T, n, pad int, aws *awstest.Server, awsEvery int) *world {
	t.Helper()
	out, _ := tmpfsDir(t)
	w := &world{
		t: t, defs: t.TempDir(), store: t.TempDir(), out: out, n: n, pad: pad, aws: aws, awsEvery: awsEvery,
		cur: make([][]byte, n), valid: make([]bool, n), versions: make([][][]byte, n),
		creds: make([][]string, n), nextVersion: make([]int, n),
	}
	w.putStore("chaos/bot/jwt", marker+jwtValueSuffix)
	w.rotateShared()
	for i := range n {
		w.rotateCreds(i)
		w.writeDef(i, true, false)
	}
	return w
}

// usesAWS reports whether definition i's references are in AWS.
func (w *world) usesAWS(i int) bool { return w.aws != nil && w.awsEvery > 0 && i%w.awsEvery == 0 }

func (w *world) defPath(i int) string { return filepath.Join(w.defs, fmt.Sprintf("d%d.json", i)) }

func (w *world) outName(i int) string { return fmt.Sprintf("d%d.json", i) }

func (w *world) statusName(i int) string { return fmt.Sprintf("d%d%s", i, daemon.StatusExt) }

// putStore writes a file-store secret atomically (a reader sees the old
// value or the new one), and the same secret in AWS if there is one.
func (w *world) putStore(id, value string) {
	path := filepath.Join(w.store, filepath.FromSlash(id))
	require.NoError(w.t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(w.t, writeAtomic(path, []byte(value)))
	if w.aws != nil {
		w.aws.PutSecret("/"+id, value)
	}
}

func credsValue(i, g int) string {
	b, _ := json.Marshal(map[string]string{
		"user":     fmt.Sprintf("%s-u-d%d-s%d", marker, i, g),
		"password": fmt.Sprintf("%s-p-d%d-s%d", marker, i, g),
	})
	return string(b)
}

// rotateCreds stores a new generation of definition i's creds.
func (w *world) rotateCreds(i int) {
	g := len(w.creds[i])
	v := credsValue(i, g)
	w.creds[i] = append(w.creds[i], v)
	w.putStore(fmt.Sprintf("chaos/d%d/creds", i), v)
	w.rotations++
}

// rotateShared stores a new generation of the shared key.
func (w *world) rotateShared() {
	h := len(w.shared)
	v := fmt.Sprintf("%s-k-h%d", marker, h)
	w.shared = append(w.shared, v)
	w.putStore("chaos/shared/apikey", v)
	w.sharedRotations++
}

// definition is version v of definition i.
func (w *world) definition(i, v int) []byte {
	provider := "file"
	if w.usesAWS(i) {
		provider = "aws"
	}
	doc := map[string]any{
		"source": map[string]any{
			"type": "mysql", "serviceName": fmt.Sprintf("chaos_%d", i),
			"serviceConnection": map[string]any{"config": map[string]any{
				"type":           "Mysql",
				"username":       fmt.Sprintf("secret:/chaos/d%d/creds#user", i),
				"authType":       map[string]any{"password": fmt.Sprintf("secret:/chaos/d%d/creds#password", i)},
				"hostPort":       fmt.Sprintf("db-%d.v%d.internal:3306", i, v),
				"databaseSchema": fmt.Sprintf("schema_%d_v%d", i, v),
				"connectionOptions": map[string]any{
					"gen": "v" + strconv.Itoa(v), "apiKey": "secret:/chaos/shared/apikey",
					"note": strings.Repeat("x", w.pad),
				},
			}},
			"sourceConfig": map[string]any{"config": map[string]any{"type": "DatabaseMetadata"}},
		},
		"sink": map[string]any{"type": "metadata-rest", "config": map[string]any{}},
		"workflowConfig": map[string]any{
			"loggerLevel": "INFO",
			"openMetadataServerConfig": map[string]any{
				"hostPort": worldOMHost + "/api", "authProvider": "openmetadata",
				"securityConfig":         map[string]any{"jwtToken": "secret:/chaos/bot/jwt"},
				"secretsManagerProvider": provider,
			},
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	require.NoError(w.t, err)
	return b
}

// writeDef writes a new version of definition i (or, with !valid, a
// truncated file that does not parse), atomically or in place.
func (w *world) writeDef(i int, valid, inPlace bool) {
	var data []byte
	if valid {
		v := w.nextVersion[i]
		w.nextVersion[i]++
		data = w.definition(i, v)
		w.versions[i] = append(w.versions[i], data)
		w.writes++
	} else {
		data = []byte(`{"source": {"type": "mysql", "serviceConnection": {`)
		w.invalids++
	}
	path := w.defPath(i)
	if inPlace {
		require.NoError(w.t, os.WriteFile(path, data, 0o644))
		w.inPlace++
	} else {
		require.NoError(w.t, writeAtomic(path, data))
		w.atomicOps++
	}
	w.cur[i], w.valid[i] = data, valid
}

// deleteDef removes definition i.
func (w *world) deleteDef(i int) {
	require.NoError(w.t, os.Remove(w.defPath(i)))
	w.cur[i], w.valid[i] = nil, false
	w.deletes++
}

// mutate makes one random change: a new version of a definition (in
// place or by rename), a broken edit, a deletion or re-creation, or a
// secret rotation.
func (w *world) mutate(r *rand.Rand) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := r.IntN(w.n)
	if w.cur[i] == nil {
		w.writeDef(i, true, r.IntN(2) == 0)
		return
	}
	switch x := r.IntN(100); {
	case x < 45:
		w.writeDef(i, true, r.IntN(2) == 0)
	case x < 50:
		w.writeDef(i, false, r.IntN(2) == 0)
	case x < 85:
		w.rotateCreds(i)
	case x < 90:
		w.rotateShared()
	default:
		w.deleteDef(i)
	}
}

// expected is the complete resolution of version bytes def with creds
// generation g and shared generation h, as JSON values.
func (w *world) expected(i int, def []byte, g, h int) (any, error) {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(def))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	lookup := func(id string) (string, error) {
		switch id {
		case "/chaos/bot/jwt":
			return marker + jwtValueSuffix, nil
		case "/chaos/shared/apikey":
			return w.shared[h], nil
		case fmt.Sprintf("/chaos/d%d/creds", i):
			return w.creds[i][g], nil
		}
		return "", fmt.Errorf("unknown id %s", id)
	}
	out, err := substitute(doc, lookup)
	if err != nil {
		return nil, err
	}
	cfg := out.(map[string]any)["workflowConfig"].(map[string]any)["openMetadataServerConfig"].(map[string]any)
	cfg["secretsManagerProvider"] = "db"
	return out, nil
}

// substitute replaces every string value starting with "secret:" as
// omsecrets documents it: the id up to the first '#', and after it a key
// of the JSON object the secret holds.
func substitute(v any, lookup func(id string) (string, error)) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := substitute(e, lookup)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for k, e := range x {
			r, err := substitute(e, lookup)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case string:
		ref, ok := strings.CutPrefix(x, "secret:")
		if !ok {
			return x, nil
		}
		id, key, hasKey := strings.Cut(ref, "#")
		val, err := lookup(id)
		if err != nil {
			return nil, err
		}
		if !hasKey {
			return val, nil
		}
		var obj map[string]string
		if err := json.Unmarshal([]byte(val), &obj); err != nil {
			return nil, err
		}
		s, ok := obj[key]
		if !ok {
			return nil, fmt.Errorf("no key %s in %s", key, id)
		}
		return s, nil
	}
	return v, nil
}

func decodeJSON(data []byte) (any, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data")
	}
	return v, nil
}

// generations reads which version, creds generation and shared
// generation an output claims to be from. The claims are then checked by
// rebuilding the output from them (consistent).
func generations(out any) (v, g, h int, err error) {
	defer func() {
		if recover() != nil {
			err = errors.New("output lacks the fields of a resolved definition")
		}
	}()
	cfg := out.(map[string]any)["source"].(map[string]any)["serviceConnection"].(map[string]any)["config"].(map[string]any)
	opts := cfg["connectionOptions"].(map[string]any)
	if _, err := fmt.Sscanf(opts["gen"].(string), "v%d", &v); err != nil {
		return 0, 0, 0, fmt.Errorf("gen: %w", err)
	}
	pw := cfg["authType"].(map[string]any)["password"].(string)
	if g, err = strconv.Atoi(pw[strings.LastIndex(pw, "-s")+2:]); err != nil {
		return 0, 0, 0, fmt.Errorf("password generation: %w", err)
	}
	key := opts["apiKey"].(string)
	if h, err = strconv.Atoi(key[strings.LastIndex(key, "-h")+2:]); err != nil {
		return 0, 0, 0, fmt.Errorf("shared generation: %w", err)
	}
	return v, g, h, nil
}

// consistent checks that data, an output of definition i, is the complete
// resolution of a version of i that was written with a (creds, shared)
// pair of generations that were stored: never partial, never a mix. It
// returns the version.
func (w *world) consistent(i int, data []byte) (int, error) {
	out, err := decodeJSON(data)
	if err != nil {
		return 0, fmt.Errorf("output does not parse (partial?): %w", err)
	}
	v, g, h, err := generations(out)
	if err != nil {
		return 0, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if v < 0 || v >= len(w.versions[i]) || g < 0 || g >= len(w.creds[i]) || h < 0 || h >= len(w.shared) {
		return 0, fmt.Errorf("output claims version %d, creds %d, shared %d: never written", v, g, h)
	}
	want, err := w.expected(i, w.versions[i][v], g, h)
	if err != nil {
		return 0, err
	}
	if !reflect.DeepEqual(out, want) {
		return 0, fmt.Errorf("output is not the complete resolution of version %d with creds %d and shared %d (a mix of generations, or a partial substitution)", v, g, h)
	}
	return v, nil
}

// current is the complete resolution of definition i's state now; ok is
// false when it is deleted or broken.
func (w *world) current(i int) (want any, digest string, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cur[i] == nil || !w.valid[i] {
		return nil, "", false
	}
	want, err := w.expected(i, w.cur[i], len(w.creds[i])-1, len(w.shared)-1)
	require.NoError(w.t, err)
	sum := sha256.Sum256(w.cur[i])
	return want, hex.EncodeToString(sum[:]), true
}

// versionDigest is the SHA-256 of version v of definition i.
func (w *world) versionDigest(i, v int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	sum := sha256.Sum256(w.versions[i][v])
	return hex.EncodeToString(sum[:])
}

// state is definition i's current state: "deleted", "broken" or "valid".
func (w *world) state(i int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.cur[i] == nil:
		return "deleted"
	case !w.valid[i]:
		return "broken"
	}
	return "valid"
}

// verify checks every output and status file in outDir against the
// current state, after a pass with nothing changing: a valid definition's
// output is its complete resolution now, with a current status file whose
// digest is the definition's; a broken one keeps a consistent earlier
// output, marked stale (or none, failed); a deleted one has neither. It
// returns the problems found.
func (w *world) verify(outDir string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for i := range w.n {
		outPath, stPath := filepath.Join(outDir, w.outName(i)), filepath.Join(outDir, w.statusName(i))
		data, outErr := os.ReadFile(outPath)
		st, hasStatus := readFreshness(w.t, stPath)
		switch w.state(i) {
		case "deleted":
			if outErr == nil {
				bad("d%d: deleted, but its output is still there", i)
			}
			if hasStatus {
				bad("d%d: deleted, but its status file is still there", i)
			}
		case "valid":
			want, digest, _ := w.current(i)
			if outErr != nil {
				bad("d%d: no output: %v", i, outErr)
				continue
			}
			got, err := decodeJSON(data)
			if err != nil {
				bad("d%d: output does not parse: %v", i, err)
				continue
			}
			if !reflect.DeepEqual(got, want) {
				bad("d%d: output is not the complete resolution of the current definition and secrets", i)
			}
			switch {
			case !hasStatus:
				bad("d%d: no status file", i)
			case st.State != daemon.StateCurrent || st.Outcome != "ok" || st.DefinitionSHA256 != digest || st.Output != w.outName(i):
				bad("d%d: status file %+v, want current/ok for digest %s", i, st, digest)
			}
		case "broken":
			if !hasStatus {
				bad("d%d: broken, and no status file says so", i)
				continue
			}
			if st.Outcome != "invalid" {
				bad("d%d: broken, status outcome %q", i, st.Outcome)
			}
			if outErr != nil {
				if st.State != daemon.StateFailed {
					bad("d%d: broken without an output, status state %q", i, st.State)
				}
				continue
			}
			v, err := w.consistent(i, data)
			if err != nil {
				bad("d%d: kept output: %v", i, err)
				continue
			}
			if st.State != daemon.StateStale || st.Output != w.outName(i) {
				bad("d%d: broken with an output, status %+v, want stale", i, st)
			}
			if st.DefinitionSHA256 != "" && st.DefinitionSHA256 != w.versionDigest(i, v) {
				bad("d%d: kept output is version %d, but its status file names another definition (digest %s)", i, v, st.DefinitionSHA256)
			}
		}
		for _, p := range []string{outPath, stPath} {
			if fi, err := os.Stat(p); err == nil && fi.Mode().Perm() != 0o600 {
				bad("%s: mode %v, want 0600", p, fi.Mode().Perm())
			}
		}
	}
	return problems
}

// sampleOutputs checks, while things change, that every output there is
// consistent (a complete resolution of some state that existed). It
// returns how many it checked and the problems.
func (w *world) sampleOutputs(outDir string) (int, []string) {
	var problems []string
	checked := 0
	for i := range w.n {
		data, err := os.ReadFile(filepath.Join(outDir, w.outName(i)))
		if err != nil {
			continue // not written yet, or removed with its definition
		}
		checked++
		if _, err := w.consistent(i, data); err != nil {
			problems = append(problems, fmt.Sprintf("d%d (while running): %v", i, err))
		}
	}
	return checked, problems
}

// runArgs are the `run` arguments for the world.
func (w *world) runArgs(extra ...string) []string {
	args := append([]string{"run", "--watch-dirs", w.defs, "--out-dir", w.out, "--file-dir", w.store,
		"--log-format", "json"}, policyArgs(worldOMHost)...)
	if !strings.HasPrefix(w.out, "/dev/shm") {
		args = append(args, "--allow-disk")
	}
	return append(args, extra...)
}

// worldOMHost is the hostPort of the world's workflow configs (which
// never call it: their connections are in the file).
const worldOMHost = "http://openmetadata:8585"

// policyArgs allow the tests' secret ids (/chaos/...) and OpenMetadata
// hosts.
func policyArgs(hosts ...string) []string {
	return []string{"--allow-ids", "/chaos/*", "--om-hosts", strings.Join(hosts, ",")}
}

// awsEnv is the environment that points the AWS stores at s.
func awsEnv(s *awstest.Server, endpoint string) []string {
	if endpoint == "" {
		endpoint = s.URL()
	}
	return []string{
		"AWS_REGION=" + s.Region, "AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey, "AWS_ENDPOINT_URL=" + endpoint,
	}
}

// every runs fn every d on a goroutine of wg until stop is closed.
func every(wg *sync.WaitGroup, stop <-chan struct{}, d time.Duration, fn func()) {
	wg.Go(func() {
		tick := time.NewTicker(d)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				fn()
			}
		}
	})
}
