package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	usageHeader = `omsecrets resolves OpenMetadata "secret:" references in workflow configs.

Usage:
  omsecrets resolve [flags] DEFINITION...   resolve and write the workflow config(s); a DEFINITION is
                                            an IngestionPipeline or a workflow config file, or a
                                            directory of them (its *.json, *.yaml and *.yml files, as
                                            run --once reads it)
  omsecrets check [flags] DEFINITION...     resolve every reference, write nothing, report outcomes
  omsecrets run [flags] [DIR...]            the sidecar: keep a resolved config per definition in the
                                            watch dirs on tmpfs, current as files change and secrets
                                            rotate (--once: one pass, then exit)
  omsecrets plan [flags] DEFINITION...      size a fleet: per store, the unique secret ids, calls per pass
                                            and refresh, the fleet's rate against the store's published
                                            quota (--pods, --refresh-interval; --from-status URL reads a
                                            running sidecar's /status instead)
  omsecrets probe [ready|live]              ask a running "run" for /readyz or /healthz: exit 0 on 200
                                            (a healthcheck for images without curl)
  omsecrets version                         print the version

Run "omsecrets resolve -h" for the flags. Every flag has an OMSECRETS_* environment twin; flags win.
`
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A stop that does not come within stopGrace (a read stuck in the
	// kernel, which no context can end) ends the process anyway: SIGTERM
	// always means a prompt exit.
	go func() {
		<-ctx.Done()
		time.Sleep(stopGrace)
		fmt.Fprintf(os.Stderr, "omsecrets: not stopped %s after the signal: exiting\n", stopGrace)
		os.Exit(1)
	}()
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// stopGrace bounds the time from SIGTERM or SIGINT to the exit.
const stopGrace = 10 * time.Second

// usageError is a command-line or configuration mistake: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// errFailed means some definition or reference failed; the details were
// already reported. Exit code 1.
var errFailed = errors.New("resolution failed")

// run is main without the process: it parses args and environ, runs the
// command and returns the exit code.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageHeader+"\n"+storesHelp())
		return exitUsage
	}
	var err error
	switch args[0] {
	case "resolve":
		err = runResolve(ctx, args[1:], environ, stdout, stderr)
	case "check":
		err = runCheck(ctx, args[1:], environ, stdout, stderr)
	case "run":
		err = runDaemon(ctx, args[1:], environ, stdout, stderr)
	case "plan":
		err = runPlan(ctx, args[1:], environ, stdout, stderr)
	case "probe":
		err = runProbe(ctx, args[1:], environ, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "omsecrets %s (%s, %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usageHeader+"\n"+storesHelp())
	default:
		err = usagef("unknown command %q", args[0])
	}
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "omsecrets: %v\n", err)
		fmt.Fprintln(stderr, `run "omsecrets help" for usage`)
		return exitUsage
	case errors.Is(err, errFailed):
		return exitFailed
	default:
		fmt.Fprintf(stderr, "omsecrets: %v\n", err)
		return exitFailed
	}
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}
