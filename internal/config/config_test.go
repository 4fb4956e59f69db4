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
	c.OutputGroup = "4294967294"
	id, err = c.GroupID()
	require.NoError(t, err)
	assert.Equal(t, 4294967294, id)
	// Out of gid_t's range: these used to wrap (4294967296 to group 0).
	for _, bad := range []string{"4294967295", "4294967296", "8589934592", "-1", "+0", "99999999999999999999999", "1e3", "0x10"} {
		c.OutputGroup = bad
		_, err := c.GroupID()
		require.ErrorIs(t, err, ErrInvalidGroup, bad)
		assert.Contains(t, err.Error(), "0 to 4294967294", bad)
	}
}

func TestLevel(t *testing.T) {
	t.Parallel()
	l, err := Config{LogLevel: "debug"}.Level()
	require.NoError(t, err)
	assert.Equal(t, slog.LevelDebug, l)
}

func TestDaemonSettings(t *testing.T) {
	t.Parallel()
	c, err := Load(nil)
	require.NoError(t, err)
	assert.Equal(t, 5*time.Minute, c.CacheTTL)
	assert.Equal(t, 5*time.Minute, c.RefreshInterval)
	assert.Equal(t, "127.0.0.1:8686", c.HTTPAddr)
	assert.Equal(t, LayoutAuto, c.OMLayout)
	assert.Empty(t, c.WatchDirs)

	c, err = Load([]string{
		"OMSECRETS_WATCH_DIRS=/opt/airflow/dag_generated_configs,/etc/omsecrets/defs",
		"OMSECRETS_CACHE_TTL=0s", "OMSECRETS_RATE_LIMITS=aws=50, aws-ssm=10:3",
		"OMSECRETS_OM_LAYOUT=connection-secret", "OMSECRETS_OM_JWT_FILE=/var/run/secrets/om/jwt",
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"/opt/airflow/dag_generated_configs", "/etc/omsecrets/defs"}, c.WatchDirs)
	assert.Zero(t, c.CacheTTL)
	limits, err := c.Limits()
	require.NoError(t, err)
	assert.Equal(t, map[string]Limit{"aws": {Rate: 50}, "aws-ssm": {Rate: 10, Burst: 3}}, limits)
	require.NoError(t, c.Validate())
	assert.NotContains(t, slog.AnyValue(c).Resolve().String(), "/var/run/secrets/om/jwt", "only whether the JWT file is set is logged")
}

func TestValidateDaemonSettings(t *testing.T) {
	t.Parallel()
	base, err := Load(nil)
	require.NoError(t, err)
	tests := []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"negative ttl", func(c *Config) { c.CacheTTL = -time.Second }, "OMSECRETS_CACHE_TTL"},
		{"limits no rate", func(c *Config) { c.RateLimits = "aws" }, "OMSECRETS_RATE_LIMITS"},
		{"limits bad rate", func(c *Config) { c.RateLimits = "aws=fast" }, "OMSECRETS_RATE_LIMITS"},
		{"limits bad burst", func(c *Config) { c.RateLimits = "aws=5:0" }, "OMSECRETS_RATE_LIMITS"},
		{"limits NaN", func(c *Config) { c.RateLimits = "aws=NaN" }, "OMSECRETS_RATE_LIMITS"},
		{"workers", func(c *Config) { c.Workers = 0 }, "OMSECRETS_WORKERS"},
		{"concurrency", func(c *Config) { c.Concurrency = -1 }, "OMSECRETS_CONCURRENCY"},
		{"refresh", func(c *Config) { c.RefreshInterval = 0 }, "OMSECRETS_REFRESH_INTERVAL"},
		{"max wait below quiet", func(c *Config) { c.WatchMaxWait = c.WatchQuiet / 2 }, "OMSECRETS_WATCH_MAX_WAIT"},
		{"layout", func(c *Config) { c.OMLayout = "guess" }, "OMSECRETS_OM_LAYOUT"},
		{"om timeout", func(c *Config) { c.OMTimeout = 0 }, "OMSECRETS_OM_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := base
			tt.edit(&c)
			err := c.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.field)
		})
	}
}

func FuzzLimits(f *testing.F) {
	for _, s := range []string{"", "aws=100", "aws=50, aws-ssm=10:3", "aws", "=5", "aws=NaN", "aws=1e308:2", "a=1,,b=2:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Config{RateLimits: s}
		limits, err := c.Limits()
		if err != nil {
			if !errors.Is(err, ErrInvalidLimits) {
				t.Fatalf("error %v is not ErrInvalidLimits", err)
			}
			return
		}
		for store, l := range limits {
			if store == "" || l.Rate < 0 || l.Rate != l.Rate || l.Burst < 0 {
				t.Fatalf("accepted %q as %q=%+v", s, store, l)
			}
		}
	})
}
