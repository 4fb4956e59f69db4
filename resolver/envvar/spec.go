package envvar

import (
	"context"
	"errors"

	"omsecrets/resolver"
)

// SettingPrefix is the setting naming the prefix of the store's
// variables.
const SettingPrefix = "env-prefix"

// Spec describes the env store to the store table. It reads the variables
// of StoreConfig.Env, never the live process environment, and only those
// under its prefix, so that a definition cannot read the process's other
// variables.
var Spec = resolver.Spec{
	Name:      "env",
	Providers: []string{"env"},
	Summary:   "one environment variable per secret, named after the id under a prefix",
	Settings: []resolver.Setting{{
		Name:    SettingPrefix,
		Default: DefaultPrefix,
		Usage:   "prefix of the env store's variables",
	}},
	BatchSize: 1,
	Open: func(_ context.Context, cfg resolver.StoreConfig) (resolver.Getter, error) {
		prefix := cfg.Settings[SettingPrefix]
		if prefix == "" {
			return nil, errors.New(SettingPrefix + " must not be empty: without a prefix a definition could read any variable of the process")
		}
		env := cfg.Env
		return New(prefix, func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		}), nil
	},
}
