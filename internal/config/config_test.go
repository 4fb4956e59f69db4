package config

import (
	"errors"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadDefaultsAndEnvironment(t *testing.T) {
	t.Parallel()
	c, err := Load(nil)
	require.NoError(t, err)
	assert.Equal(t, "OMSECRETS_SECRET_", c.EnvPrefix)
	assert.Equal(t, 60*time.Second, c.Timeout)
	assert.Equal(t, "info", c.LogLevel)
	assert.Equal(t, "text", c.LogFormat)
	assert.NoError(t, c.Validate())

	c, err = Load([]string{
		"OMSECRETS_PROVIDER=file", "OMSECRETS_FILE_DIR=/run/secrets", "OMSECRETS_OUTPUT_DIR=/dev/shm/om",
		"OMSECRETS_ALLOW_DISK=true", "OMSECRETS_TIMEOUT=5s", "OMSECRETS_FORMAT=yaml", "NOT_OURS=1", "malformed",
	})
	require.NoError(t, err)
	assert.Equal(t, "file", c.Provider)
	assert.Equal(t, "/run/secrets", c.FileDir)
	assert.Equal(t, "/dev/shm/om", c.OutputDir)
	assert.True(t, c.AllowDisk)
	assert.Equal(t, 5*time.Second, c.Timeout)
	assert.Equal(t, "yaml", c.Format)
}

func TestLoadErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	_, err := Load([]string{"OMSECRETS_TIMEOUT=soon", "OMSECRETS_ALLOW_DISK=perhaps"})
	require.Error(t, err)
	var fe *FieldError
	require.True(t, errors.As(err, &fe))
	assert.Contains(t, err.Error(), "OMSECRETS_TIMEOUT")
	assert.Contains(t, err.Error(), "OMSECRETS_ALLOW_DISK")
}

func TestValidate(t *testing.T) {
	t.Parallel()
	base, err := Load(nil)
	require.NoError(t, err)
	tests := []struct {
		name  string
		edit  func(*Config)
		errIs error
		field string
	}{
		{"format", func(c *Config) { c.Format = "toml" }, ErrInvalidFormat, "OMSECRETS_FORMAT"},
		{"log level", func(c *Config) { c.LogLevel = "loud" }, ErrInvalidLogLevel, "OMSECRETS_LOG_LEVEL"},
		{"log format", func(c *Config) { c.LogFormat = "xml" }, ErrInvalidLogFormat, "OMSECRETS_LOG_FORMAT"},
		{"timeout", func(c *Config) { c.Timeout = 0 }, ErrInvalidTimeout, "--timeout"},
		{"group", func(c *Config) { c.OutputGroup = "no-such-group-omsecrets" }, ErrInvalidGroup, "--group"},
		{"both outputs", func(c *Config) { c.OutputFile, c.OutputDir = "a", "b" }, ErrOutputConflict, "--out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := base
			tt.edit(&c)
			err := c.Validate()
			assert.ErrorIs(t, err, tt.errIs)
			assert.Contains(t, err.Error(), tt.field)
		})
	}
}

func TestGroupID(t *testing.T) {
	t.Parallel()
	c := Config{}
	id, err := c.GroupID()
	require.NoError(t, err)
	assert.Equal(t, -1, id)
	c.OutputGroup = strconv.Itoa(os.Getgid())
	id, err = c.GroupID()
	require.NoError(t, err)
	assert.Equal(t, os.Getgid(), id)
	c.OutputGroup = "root" // present on Debian and in CI
	if id, err = c.GroupID(); err == nil {
		assert.Equal(t, 0, id)
	}
}

func TestLevel(t *testing.T) {
	t.Parallel()
	l, err := Config{LogLevel: "debug"}.Level()
	require.NoError(t, err)
	assert.Equal(t, slog.LevelDebug, l)
}
