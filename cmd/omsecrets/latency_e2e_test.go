package main

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunChunkedWriterNeverYieldsPartialOutput runs the daemon at its
// default watch settings (a JSON definition that parses whole goes at
// once) while writers put definitions down in small chunks with pauses,
// new files and truncate-then-rewrite of existing ones. Every output the
// daemon writes must be the whole definition's (its pipeline name and
// password right), no definition may fail (a partial read would be an
// invalid definition), and each definition written whole at once reaches
// its output well before the 300 ms quiet period.
func TestRunChunkedWriterNeverYieldsPartialOutput(t *testing.T) {
	t.Parallel()
	om, srv := omWorld(t)
	defs, out := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(defs, "seed.json"), pipelineJSON(t, om, "seed", "mysql_prod"), 0o644))

	d := startDaemon(t, omEnv(om, srv), "--watch-dirs", defs, "--out-dir", out, "--allow-disk")
	stderr := d.stderr
	d.waitReady(t)

	// Every output write, checked when it happens.
	fw, err := fsnotify.NewWatcher()
	require.NoError(t, err)
	defer fw.Close()
	require.NoError(t, fw.Add(out))
	bad := make(chan string, 100)
	seen := make(chan string, 100)
	go func() {
		for ev := range fw.Events {
			name := filepath.Base(ev.Name)
			if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") || !ev.Has(fsnotify.Create) {
				continue
			}
			data, err := os.ReadFile(ev.Name)
			if err != nil {
				continue // replaced again meanwhile
			}
			if strings.HasSuffix(name, ".report.json") {
				// The bot's server connection only: never the password.
				if strings.Contains(string(data), "PLANTED-pw") {
					bad <- name
				}
				continue
			}
			var cfg map[string]any
			if json.Unmarshal(data, &cfg) != nil || !strings.Contains(string(data), "PLANTED-pw") {
				bad <- name
				continue
			}
			seen <- name
		}
	}()

	writeChunked := func(path string, data []byte, trunc bool) {
		flags := os.O_WRONLY | os.O_CREATE
		if trunc {
			flags |= os.O_TRUNC
		}
		f, err := os.OpenFile(path, flags, 0o644)
		require.NoError(t, err)
		for i := 0; i < len(data); i += 7 {
			_, err := f.Write(data[i:min(i+7, len(data))])
			require.NoError(t, err)
			if rand.IntN(4) == 0 {
				time.Sleep(time.Duration(5+rand.IntN(25)) * time.Millisecond)
			}
		}
		require.NoError(t, f.Close())
	}
	// New files written in chunks, then the same files rewritten in
	// place in chunks (another pipeline name: its output is new).
	for _, name := range []string{"c1", "c2", "c3"} {
		writeChunked(filepath.Join(defs, name+".json"), pipelineJSON(t, om, name, "mysql_prod"), false)
	}
	for _, name := range []string{"c1", "c2"} {
		writeChunked(filepath.Join(defs, name+".json"), pipelineJSON(t, om, name+"_v2", "mysql_prod"), true)
	}
	want := map[string]bool{"c1.json": false, "c2.json": false, "c3.json": false, "c1_v2.json": false, "c2_v2.json": false}
	deadline := time.After(20 * time.Second)
	for remaining := len(want); remaining > 0; {
		select {
		case n := <-seen:
			if done, ok := want[n]; ok && !done {
				want[n] = true
				remaining--
			}
		case n := <-bad:
			t.Fatalf("output %s was written from a partial definition", n)
		case <-deadline:
			t.Fatalf("outputs missing: %v\n%s", want, stderr.String())
		}
	}

	// Whole-at-once writes: time from the write to the output.
	var lat []time.Duration
	for i := range 10 {
		name := "w" + string(rune('a'+i))
		start := time.Now()
		require.NoError(t, os.WriteFile(filepath.Join(defs, name+".json"), pipelineJSON(t, om, name, "mysql_prod"), 0o644))
		require.Eventually(t, func() bool { _, err := os.Stat(filepath.Join(out, name+".json")); return err == nil }, 10*time.Second, time.Millisecond)
		lat = append(lat, time.Since(start))
	}
	t.Logf("write to output, whole JSON at default settings: %v", lat)
	fastest := lat[0]
	for _, d := range lat {
		fastest = min(fastest, d)
	}
	assert.Less(t, fastest, 250*time.Millisecond, "whole JSON does not wait the 300 ms quiet period")

	d.stop(t)
	logs := stderr.String()
	assert.NotContains(t, logs, `"level":"ERROR"`, "no definition failed: a partial read would have")
	assert.NotContains(t, logs, "PLANTED")
	select {
	case n := <-bad:
		t.Fatalf("output %s was written from a partial definition", n)
	default:
	}
}
