//go:build unix

package nobody

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// envOutcome, set by TestChildOutcomes in the children it starts, makes
// checkFixture end as asked ("fail" or "skip") after its checks.
const envOutcome = "OMSECRETS_NOBODY_SELFTEST_OUTCOME"

// writeFixture is TestRun's setup: a file and a directory nobody but root
// may open, and a note of who wrote them.
func writeFixture(t *testing.T, dir string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "locked"), []byte("locked-value"), 0o600))
	require.NoError(t, os.Chmod(filepath.Join(dir, "locked"), 0o000))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sealed"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sealed", "inner"), []byte("inner-value"), 0o600))
	require.NoError(t, os.Chmod(filepath.Join(dir, "sealed"), 0o000))
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(dir, "sealed"), 0o700) })
	require.NoError(t, os.WriteFile(filepath.Join(dir, "setup-euid"), []byte(strconv.Itoa(os.Geteuid())), 0o644))
}

// checkFixture is TestRun's body.
func checkFixture(t *testing.T, dir string) {
	t.Helper()
	euid := os.Geteuid()
	assert.NotZero(t, euid, "body must not run as root")

	_, err := os.ReadFile(filepath.Join(dir, "locked"))
	assert.ErrorIs(t, err, fs.ErrPermission, "a mode-000 file must be unreadable to body")
	_, err = os.ReadFile(filepath.Join(dir, "sealed", "inner"))
	assert.ErrorIs(t, err, fs.ErrPermission, "a mode-000 directory must be closed to body")

	// setup ran first, as the test's own user; the files it made are its.
	b, err := os.ReadFile(filepath.Join(dir, "setup-euid"))
	require.NoError(t, err)
	setupEUID, err := strconv.Atoi(string(b))
	require.NoError(t, err)
	fi, err := os.Stat(filepath.Join(dir, "locked"))
	require.NoError(t, err)
	assert.Equal(t, uint32(setupEUID), fi.Sys().(*syscall.Stat_t).Uid, "locked belongs to setup's user")
	if setupEUID == 0 {
		// Dropped from root: the fixed identity, without root's groups.
		assert.Equal(t, UID, euid)
		assert.Equal(t, GID, os.Getegid())
		groups, err := os.Getgroups()
		require.NoError(t, err)
		assert.Empty(t, groups, "root's supplementary groups must be dropped")
	} else {
		assert.Equal(t, setupEUID, euid, "without root, body runs in process")
	}

	// dir and a t.TempDir are body's to write.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mine"), []byte("x"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(t.TempDir(), "mine"), []byte("x"), 0o600))

	switch os.Getenv(envOutcome) {
	case "fail":
		t.Error("failing as TestChildOutcomes asked")
	case "skip":
		t.Skip("skipping as TestChildOutcomes asked")
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	Run(t, writeFixture, checkFixture)
}

// TestRunSubtest checks that a subtest is re-executed alone, by its full
// name.
func TestRunSubtest(t *testing.T) {
	t.Parallel()
	t.Run("with space.and dot", func(t *testing.T) {
		t.Parallel()
		ran := false
		Run(t, nil, func(t *testing.T, dir string) {
			ran = true
			assert.NotZero(t, os.Geteuid())
			assert.DirExists(t, dir)
		})
		if _, child := os.LookupEnv(envTest); child || os.Geteuid() != 0 {
			assert.True(t, ran, "body runs in this process")
		} else {
			assert.False(t, ran, "as root, body runs in the child only")
		}
	})
}

// TestChildOutcomes runs TestRun's body in real children, as uid 65534
// when this process is root and as the current user otherwise, and checks
// that only a child that passed is taken for a pass.
func TestChildOutcomes(t *testing.T) {
	t.Parallel()
	root := os.Geteuid() == 0
	tests := []struct {
		name    string
		test    string // what the child runs
		outcome string // envOutcome
		wantErr string // "" for a pass
	}{
		{name: "pass", test: "TestRun"},
		{name: "fail", test: "TestRun", outcome: "fail", wantErr: "the child running TestRun failed (exit status 1)"},
		{name: "skip", test: "TestRun", outcome: "skip", wantErr: "the child skipped TestRun"},
		{name: "no such test", test: "TestNoSuchTest", wantErr: "did not report TestNoSuchTest as passed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newChild(t, root)
			writeFixture(t, c.dir)
			out, err := c.run(t, tt.test, []string{envOutcome + "=" + tt.outcome})
			err = verdict(tt.test, out, err)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestVerdict(t *testing.T) {
	t.Parallel()
	exitErr := func(code int) error {
		err := exec.Command("/bin/sh", "-c", "exit "+strconv.Itoa(code)).Run()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		return err
	}
	tests := []struct {
		name    string
		test    string
		out     string
		exit    error
		wantErr string
	}{
		{name: "pass", test: "TestA", out: "=== RUN   TestA\n--- PASS: TestA (0.01s)\nPASS\n"},
		{name: "subtest pass", test: "TestA/b_c", out: "=== RUN   TestA\n=== RUN   TestA/b_c\n    --- PASS: TestA/b_c (0.00s)\n--- PASS: TestA (0.00s)\nPASS\n"},
		{name: "failed", test: "TestA", out: "--- FAIL: TestA (0.00s)\nFAIL\n", exit: exitErr(1), wantErr: "failed (exit status 1)"},
		{name: "race", test: "TestA", out: "WARNING: DATA RACE\n--- PASS: TestA (0.00s)\n", exit: exitErr(66), wantErr: "failed (exit status 66)"},
		{name: "not started", test: "TestA", exit: &fs.PathError{Op: "fork/exec", Path: "/x", Err: syscall.EACCES}, wantErr: "did not start or finish"},
		{name: "skipped", test: "TestA", out: "--- SKIP: TestA (0.00s)\nPASS\n", wantErr: "skipped TestA"},
		{name: "nothing ran", test: "TestA", out: "testing: warning: no tests to run\nPASS\n", wantErr: "did not report TestA as passed"},
		{name: "another test passed", test: "TestA", out: "--- PASS: TestAB (0.00s)\nPASS\n", wantErr: "did not report TestA as passed"},
		{name: "name is not a pattern", test: "TestA.", out: "--- PASS: TestAx (0.00s)\nPASS\n", wantErr: "did not report TestA. as passed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := verdict(tt.test, []byte(tt.out), tt.exit)
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			if tt.exit != nil && !errors.As(tt.exit, new(*exec.ExitError)) {
				assert.ErrorIs(t, err, syscall.EACCES)
			}
		})
	}
}

func TestRunPattern(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"TestA":               `^TestA$`,
		"TestA/sub":           `^TestA$/^sub$`,
		"TestA/with.dot_(x)*": `^TestA$/^with\.dot_\(x\)\*$`,
	} {
		assert.Equal(t, want, runPattern(name), name)
	}
}

func TestEnterable(t *testing.T) {
	t.Parallel()
	// Not t.TempDir(): the directory above it is 0700.
	base, err := os.MkdirTemp("", "nobody-enterable-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	open := filepath.Join(base, "open")
	require.NoError(t, os.Mkdir(open, 0o755))
	require.NoError(t, os.Chmod(base, 0o711))
	assert.NoError(t, enterable(open))

	require.NoError(t, os.Chmod(base, 0o000))
	t.Cleanup(func() { _ = os.Chmod(base, 0o700) }) // so that RemoveAll can list it
	err = enterable(base)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot enter "+base+" (mode ----------)")
	assert.Contains(t, err.Error(), "TMPDIR")
	// Below a closed directory: root sees the mode, others cannot stat.
	assert.Error(t, enterable(open))
}

func TestPrefixLines(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "> a\n> b\n> c", prefixLines([]byte("a\nb\nc"), "> "))
	assert.Empty(t, prefixLines(nil, "> "))
}
