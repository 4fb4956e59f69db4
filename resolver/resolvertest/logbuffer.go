package resolvertest

import (
	"bytes"
	"sync"
)

// LogBuffer collects what a component logs, for tests that check the log
// (for example that no secret value leaked into it) while the component
// still runs. It is safe for concurrent writes, such as those of a
// slog.Handler shared by many goroutines, and concurrent String calls.
// The zero LogBuffer is empty and ready to use; it must not be copied
// after first use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the buffer. It never fails.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
