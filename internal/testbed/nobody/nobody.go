//go:build unix

package nobody

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// UID and GID are the identity Run drops to when the test process is
// root: 65534, the kernel's overflow uid and gid ("nobody" and "nogroup"
// on Debian-like systems), which owns nothing on a test machine.
const (
	UID = 65534
	GID = 65534
)

// The environment by which a parent tells its child which test it is and
// where that test's directory is. envTest also marks the child.
const (
	envTest = "OMSECRETS_NOBODY_TEST"
	envDir  = "OMSECRETS_NOBODY_DIR"
)

// started holds the tests that called Run, so that a second call in the
// same test, which the child could not tell apart, fails.
var started sync.Map // *testing.T -> struct{}

// Run runs body as a user that file modes apply to, in a directory dir
// that body may write. setup, if not nil, first prepares dir as the test's
// own user.
//
// When the process is not root, dir is t.TempDir() and setup and body run
// in process, one after the other.
//
// When it is root:
//
//  1. Run makes a base directory that uid 65534 may enter but not list
//     (0711), holding dir (0755), a link to or copy of the test binary
//     (the build directory is root's alone) and a TMPDIR for the child. It
//     fails t if some directory above the base is closed to uid 65534.
//  2. setup runs, as root: what it creates is root's, with the modes it
//     gives. Then dir itself, not what is in it, is given to UID:GID so
//     that body may create files there.
//  3. Run re-executes the copied binary for just this test
//     (-test.run '^Name$', per subtest level, with -test.v), as UID:GID
//     with no supplementary groups (so without root's capabilities), with
//     the test's name and dir in the environment.
//  4. In the child the test function runs again from the top; its call to
//     Run finds the environment and calls body(t, dir) instead, after
//     checking that the child is not root.
//  5. The parent logs the child's output, each line prefixed "child| ",
//     and fails t unless the child exited 0 and reported this test as
//     passed: a child that failed, skipped it or did not run it fails t.
//
// Code before Run in the test function runs in both processes: keep it to
// t.Parallel and what body needs either way. body should work in dir (or
// a t.TempDir), not on files of the repository, which uid 65534 may not be
// able to read. Run may be called once per test (or subtest). What body
// covers as root does not count in the parent's -cover figures.
func Run(t *testing.T, setup, body func(t *testing.T, dir string)) {
	t.Helper()
	if _, dup := started.LoadOrStore(t, struct{}{}); dup {
		t.Fatal("nobody: Run called twice in one test")
	}
	t.Cleanup(func() { started.Delete(t) })

	if name, ok := os.LookupEnv(envTest); ok {
		if name != t.Name() {
			t.Fatalf("nobody: a child started for %s reached Run in %s", name, t.Name())
		}
		if os.Geteuid() == 0 {
			t.Fatal("nobody: the child runs as root: its credentials were not dropped")
		}
		body(t, os.Getenv(envDir))
		return
	}
	if os.Geteuid() != 0 {
		dir := t.TempDir()
		if setup != nil {
			setup(t, dir)
		}
		body(t, dir)
		return
	}
	c := newChild(t, true)
	if setup != nil {
		setup(t, c.dir)
	}
	out, err := c.run(t, t.Name(), nil)
	if err := verdict(t.Name(), out, err); err != nil {
		t.Error(err)
	}
}

// child is a prepared re-execution of the test binary.
type child struct {
	bin string // the test binary to run
	dir string // body's directory
	tmp string // the child's TMPDIR; "" keeps the parent's
	// cred is the child's identity; nil runs it as the current user
	// (which this package's own tests use when not root).
	cred *syscall.Credential
}

// newChild prepares a child that drops to UID:GID (step 1 of Run), or,
// without drop, one that runs as the current user in a t.TempDir.
func newChild(t *testing.T, drop bool) *child {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err, "nobody: locating the test binary")
	if !drop {
		return &child{bin: exe, dir: t.TempDir()}
	}
	base, err := os.MkdirTemp("", "omsecrets-nobody-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	require.NoError(t, os.Chmod(base, 0o711))
	require.NoError(t, enterable(filepath.Dir(base)))

	c := &child{
		bin:  filepath.Join(base, filepath.Base(exe)),
		dir:  filepath.Join(base, "dir"),
		tmp:  filepath.Join(base, "tmp"),
		cred: &syscall.Credential{Uid: UID, Gid: GID, Groups: []uint32{}},
	}
	require.NoError(t, os.Mkdir(c.dir, 0o755))
	require.NoError(t, os.Chmod(c.dir, 0o755)) // whatever the umask
	require.NoError(t, os.Mkdir(c.tmp, 0o700))
	require.NoError(t, os.Chown(c.tmp, UID, GID))
	require.NoError(t, installBinary(exe, c.bin), "nobody: copying the test binary where uid %d can run it", UID)
	return c
}

// enterable checks that uid UID (gid GID, no other groups) may search
// every directory from dir up to the root.
func enterable(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		perm := fi.Mode().Perm()
		x := perm & 0o001
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			switch {
			case st.Uid == UID:
				x = perm & 0o100
			case st.Gid == GID:
				x = perm & 0o010
			}
		}
		if x == 0 {
			return fmt.Errorf("nobody: uid %d cannot enter %s (mode %v), which holds the temporary directory %s: point TMPDIR at a directory it can reach", UID, d, perm, dir)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// installBinary puts the executable exe at dst, readable and executable
// by anyone: a hard link when exe already is and the filesystem allows
// it, else a copy.
func installBinary(exe, dst string) error {
	if fi, err := os.Stat(exe); err == nil && fi.Mode().Perm()&0o005 == 0o005 {
		if os.Link(exe, dst) == nil {
			return nil
		}
	}
	src, err := os.Open(exe)
	if err != nil {
		return err
	}
	defer func() { _ = src.Close() }()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, src); err != nil {
		_ = out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, 0o755) // whatever the umask
}

// run hands c.dir to the child's user (step 2 of Run, after setup) and
// runs the test named name in the child with the extra environment env
// (steps 3 and 5). It logs the child's output and returns it with the
// error of its exit.
func (c *child) run(t *testing.T, name string, env []string) ([]byte, error) {
	t.Helper()
	if c.cred != nil {
		require.NoError(t, os.Chown(c.dir, int(c.cred.Uid), int(c.cred.Gid)))
	}
	args := []string{"-test.run=" + runPattern(name), "-test.v=true", "-test.count=1"}
	if d, ok := t.Deadline(); ok {
		// Time out before the parent does, so a hung child dumps its
		// goroutines into the output relayed below.
		if left := time.Until(d) * 9 / 10; left > 0 {
			args = append(args, "-test.timeout="+left.String())
		}
	}
	cmd := exec.Command(c.bin, args...)
	// Under -race the child would otherwise sleep a second on exit
	// (atexit_sleep_ms, for reports from threads still running).
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd.Env = append(childEnv(), envTest+"="+name, envDir+"="+c.dir, "GORACE="+gorace)
	if c.tmp != "" {
		cmd.Env = append(cmd.Env, "TMPDIR="+c.tmp)
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	out, err := cmd.CombinedOutput()
	who := "the current user"
	if c.cred != nil {
		who = fmt.Sprintf("uid %d gid %d", c.cred.Uid, c.cred.Gid)
	}
	t.Logf("nobody: %s ran %s as %s; its output:\n%s", filepath.Base(c.bin), name, who, prefixLines(out, "child| "))
	return out, err
}

// childEnv is the parent's environment without what run sets itself and
// without GOCOVERDIR, which the child may not be able to write.
func childEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return k == envTest || k == envDir || k == "TMPDIR" || k == "GORACE" || k == "GOCOVERDIR"
	})
}

// runPattern is the -test.run pattern that matches the test named name
// and nothing else: each level of the name, quoted and anchored.
func runPattern(name string) string {
	levels := strings.Split(name, "/")
	for i, l := range levels {
		levels[i] = "^" + regexp.QuoteMeta(l) + "$"
	}
	return strings.Join(levels, "/")
}

// verdict says why the child's run of the test named name did not pass,
// from its -test.v output and the error of its exit; nil if it passed.
func verdict(name string, out []byte, exit error) error {
	line := func(result string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^\s*--- ` + result + `: ` + regexp.QuoteMeta(name) + ` \(`)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(exit, &ee):
		return fmt.Errorf("nobody: the child running %s failed (%v); its output is logged above", name, ee)
	case exit != nil:
		return fmt.Errorf("nobody: the child running %s did not start or finish: %w", name, exit)
	case line("SKIP").Match(out):
		return fmt.Errorf("nobody: the child skipped %s; a skip does not count as a pass", name)
	case !line("PASS").Match(out):
		return fmt.Errorf("nobody: the child exited 0 but did not report %s as passed (did -test.run match it?)", name)
	}
	return nil
}

// prefixLines puts prefix before every line of b.
func prefixLines(b []byte, prefix string) string {
	var s strings.Builder
	for line := range bytes.Lines(b) {
		s.WriteString(prefix)
		s.Write(line)
	}
	return s.String()
}
