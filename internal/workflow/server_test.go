package workflow

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ResolvedServer is the server connection alone, as a resolved output's
// workflowConfig.openMetadataServerConfig: the JWT in, the host
// overridden when asked, provider db; nothing when another reference is
// left in it.
func TestResolvedServer(t *testing.T) {
	t.Parallel()
	edit := func(f func(srv map[string]any)) *Pipeline {
		var m map[string]any
		require.NoError(t, json.Unmarshal(readTestdata(t, "pipeline-metadata.json"), &m))
		f(m["openMetadataServerConnection"].(map[string]any))
		data, err := json.Marshal(m)
		require.NoError(t, err)
		def, err := Parse("p.json", data)
		require.NoError(t, err)
		return def.Pipeline
	}
	p := edit(func(map[string]any) {})
	data, ok, err := p.ResolvedServer(marker, "")
	require.NoError(t, err)
	require.True(t, ok)
	var got map[string]any
	require.NoError(t, json.Unmarshal(data, &got))
	assert.Equal(t, marker, got["securityConfig"].(map[string]any)["jwtToken"])
	assert.Equal(t, "db", got["secretsManagerProvider"])
	assert.Equal(t, "http://openmetadata-server:8585/api", got["hostPort"])
	assert.Equal(t, true, got["includeTopics"], "the rest of the connection is kept")
	assert.NotContains(t, string(data), "secret:")

	data, ok, err = edit(func(srv map[string]any) { srv["securityConfig"] = nil }).ResolvedServer(marker, "https://om.example:8585/api")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, json.Unmarshal(data, &got))
	assert.Equal(t, marker, got["securityConfig"].(map[string]any)["jwtToken"], "a null securityConfig gets one")
	assert.Equal(t, "https://om.example:8585/api", got["hostPort"])

	_, ok, err = edit(func(srv map[string]any) {
		srv["extraHeaders"] = map[string]any{"X-Key": "secret:/openmetadata/bot/ingestion-bot/header"}
	}).ResolvedServer(marker, "")
	require.NoError(t, err)
	assert.False(t, ok, "another reference left: no usable connection")
}
