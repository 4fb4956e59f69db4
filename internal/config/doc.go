// Package config holds omsecrets' configuration: one Config struct loaded
// from OMSECRETS_* environment variables, validated in one place. Command
// line flags are layered on top by package main, which is the only
// importer. It builds nothing from the config.
package config
