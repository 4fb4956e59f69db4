package resolvertest_test

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"omsecrets/resolver/resolvertest"
)

func TestLogBuffer(t *testing.T) {
	t.Parallel()
	var logs resolvertest.LogBuffer
	assert.Empty(t, logs.String())

	logger := slog.New(slog.NewTextHandler(&logs, nil))
	const writers = 8
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			logger.Info("line", "writer", i)
			_ = logs.String() // reads race with writes under -race if unguarded
		})
	}
	wg.Wait()

	got := logs.String()
	assert.Equal(t, writers, strings.Count(got, "msg=line"))
	for i := range writers {
		assert.Contains(t, got, fmt.Sprintf("writer=%d\n", i))
	}
}
