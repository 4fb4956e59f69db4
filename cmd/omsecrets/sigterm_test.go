package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSIGTERMEndsEveryCommand runs the real binary on the inputs that
// used to hang (a FIFO definition, a definition linked to an endless
// device, a FIFO as the bot JWT file) and on a run daemon, sends SIGTERM
// once each is running, and requires it to exit within the bound, having
// printed no planted value.
func TestSIGTERMEndsEveryCommand(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "omsecrets")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	writeFiles(t, store, map[string]string{"db/password": hostilePW, "bot/jwt": hostileJWT})
	fifo := filepath.Join(dir, "fifo.yaml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	zero := filepath.Join(dir, "zero.yaml")
	require.NoError(t, os.Symlink("/dev/zero", zero))
	jwtFIFO := filepath.Join(dir, "jwt")
	require.NoError(t, syscall.Mkfifo(jwtFIFO, 0o600))
	defs := filepath.Join(dir, "defs")
	writeFiles(t, defs, map[string]string{"good.yaml": workflowConfig("secret:/db/password", "secret:/bot/jwt")})
	outDir := filepath.Join(dir, "out")
	require.NoError(t, os.Mkdir(outDir, 0o700))
	file := []string{"--provider", "file", "--file-dir", store}

	for _, tt := range []struct {
		name string
		args []string
	}{
		{"check a FIFO", append([]string{"check"}, append(file, fifo)...)},
		{"check /dev/zero", append([]string{"check"}, append(file, zero)...)},
		{"resolve a FIFO", append([]string{"resolve", "--out", "-"}, append(file, fifo)...)},
		{"resolve /dev/zero", append([]string{"resolve", "--out", "-"}, append(file, zero)...)},
		{"run --once with a FIFO JWT file", append([]string{"run", "--once", "--allow-disk", "--out-dir", outDir, "--om-jwt-file", jwtFIFO}, append(file, defs)...)},
		{"check with a FIFO kubeconfig", append([]string{"check", "--kubernetes-kubeconfig-path", jwtFIFO}, append(file, filepath.Join(defs, "good.yaml"))...)},
		{"run daemon", append([]string{"run", "--allow-disk", "--out-dir", outDir, "--watch-dirs", defs, "--http-addr", "off"}, file...)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			cmd.Env = []string{"OMSECRETS_OM_HOSTS=" + fixtureHost, "HOME=" + t.TempDir()}
			var stderr lockedBuffer
			cmd.Stdout, cmd.Stderr = &stderr, &stderr
			require.NoError(t, cmd.Start())
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			refused := strings.Contains(tt.name, "FIFO") || strings.Contains(tt.name, "zero") || strings.Contains(tt.name, "kubeconfig")
			if refused {
				// Signal once it refused the input (or exited, or
				// hung for the bound): a fixed pause was no bound on
				// a loaded machine's start-up, and a SIGTERM before
				// the refusal ended the command before it could say
				// so.
				waitFor(&stderr, "not a regular file", done, exitBound)
			} else {
				time.Sleep(300 * time.Millisecond)
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(exitBound):
				_ = cmd.Process.Kill()
				t.Fatalf("still running %s after SIGTERM:\n%s", exitBound, stderr.String())
			}
			assert.NotContains(t, stderr.String(), "PLANTED")
			if refused {
				assert.Contains(t, stderr.String(), "not a regular file", "the input was refused, not waited on")
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer a process writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor returns once b holds s, done is closed or d has passed.
func waitFor(b *lockedBuffer, s string, done <-chan struct{}, d time.Duration) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(b.String(), s) {
		select {
		case <-done:
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}
