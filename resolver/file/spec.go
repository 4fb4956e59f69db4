package file

import (
	"context"

	"omsecrets/resolver"
)

// SettingDir is the setting naming the store's directory.
const SettingDir = "file-dir"

// Spec describes the file store to the store table: on when a directory
// is set.
var Spec = resolver.Spec{
	Name:      "file",
	Providers: []string{"file"},
	Summary:   "a directory of files, one per secret (a mounted Kubernetes Secret volume, compose secrets)",
	Settings: []resolver.Setting{{
		Name:  SettingDir,
		Usage: "directory of the file store: one file per secret, the id without its leading / is the path",
	}},
	BatchSize: 1,
	Open: func(_ context.Context, cfg resolver.StoreConfig) (resolver.Getter, error) {
		dir := cfg.Settings[SettingDir]
		if dir == "" {
			return nil, &resolver.NotConfiguredError{Store: "file", Need: []string{SettingDir}}
		}
		return New(dir)
	},
}
