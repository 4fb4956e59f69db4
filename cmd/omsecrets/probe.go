package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"omsecrets/internal/config"
)

// probeFlags are probe's flags.
var probeFlags = []flagSpec{
	{"http-addr", "HTTP_ADDR", "address of the running omsecrets run's HTTP endpoints"},
}

// runProbe is `omsecrets probe [ready|live]`: it asks a running `omsecrets
// run` for /readyz (default) or /healthz on --http-addr and exits 0 when
// the answer is 200, 1 otherwise. The container image has no shell or
// curl, so this is what a compose or Docker healthcheck runs.
func runProbe(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, _, pos, err := parseCommand("probe", args, environ, stderr)
	if err != nil {
		return err
	}
	path := "/readyz"
	switch {
	case len(pos) == 0 || (len(pos) == 1 && pos[0] == "ready"):
	case len(pos) == 1 && pos[0] == "live":
		path = "/healthz"
	default:
		return usagef("probe takes ready (the default) or live")
	}
	if cfg.HTTPAddr == "" || cfg.HTTPAddr == "off" {
		return usagef("probe needs --http-addr / %sHTTP_ADDR", config.Prefix)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+cfg.HTTPAddr+path, nil)
	if err != nil {
		return usagef("--http-addr: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "omsecrets: probe %s: %v\n", path, err)
		return errFailed
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	fmt.Fprintf(stdout, "%s %d %s", path, resp.StatusCode, body)
	if resp.StatusCode != http.StatusOK {
		return errFailed
	}
	return nil
}
