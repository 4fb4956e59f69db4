package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
)

func TestNew(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	l, err := New(&b, "json", slog.LevelWarn)
	require.NoError(t, err)
	l.Info("dropped")
	l.Warn("kept", "value", resolver.NewSecret("hunter2-logging"))
	var line map[string]any
	require.NoError(t, json.Unmarshal(b.Bytes(), &line), b.String())
	assert.Equal(t, "kept", line["msg"])
	assert.Equal(t, resolver.Redacted, line["value"])
	assert.NotContains(t, b.String(), "dropped")
	assert.NotContains(t, b.String(), "hunter2")

	b.Reset()
	l, err = New(&b, "text", slog.LevelInfo)
	require.NoError(t, err)
	l.Info("hello", "value", resolver.NewSecret("hunter2-logging"))
	assert.Contains(t, b.String(), "msg=hello value=[redacted]")

	_, err = New(&b, "xml", slog.LevelInfo)
	assert.Error(t, err)
}
