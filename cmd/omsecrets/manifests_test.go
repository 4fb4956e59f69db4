package main

import (
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"omsecrets/internal/config"
)

// TestManifestsUseRealFlags keeps the Kubernetes and compose examples true
// to the CLI: their omsecrets commands must parse and validate, and every
// OMSECRETS_ variable they set must be one the configuration reads.
func TestManifestsUseRealFlags(t *testing.T) {
	t.Parallel()
	known := map[string]bool{}
	ct := reflect.TypeFor[config.Config]()
	for i := range ct.NumField() {
		name, _, _ := strings.Cut(ct.Field(i).Tag.Get("env"), ",")
		known[config.Prefix+name] = true
	}

	type container struct {
		Name string
		Args []string
		Env  []struct{ Name, Value string }
	}
	var pod struct {
		Spec struct {
			InitContainers []container `yaml:"initContainers"`
		}
	}
	readYAML(t, "../../examples/kubernetes/pod-template.yaml", &pod)
	var deployment struct {
		Spec struct {
			Template struct {
				Spec struct {
					InitContainers []container `yaml:"initContainers"`
				}
			}
		}
	}
	readYAML(t, "../../examples/kubernetes/worker-sidecar.yaml", &deployment)
	var compose struct {
		Services map[string]struct {
			Command     []string
			Environment map[string]string
		}
	}
	readYAML(t, "../../examples/compose/docker-compose.yml", &compose)

	type invocation struct {
		where   string
		args    []string
		environ []string
	}
	var calls []invocation
	for _, c := range pod.Spec.InitContainers {
		if c.Name != "omsecrets" {
			continue
		}
		var environ []string
		for _, e := range c.Env {
			environ = append(environ, e.Name+"="+e.Value)
		}
		calls = append(calls, invocation{"kubernetes pod template", c.Args, environ})
	}
	for _, c := range deployment.Spec.Template.Spec.InitContainers {
		if c.Name != "omsecrets" {
			continue
		}
		var environ []string
		for _, e := range c.Env {
			environ = append(environ, e.Name+"="+e.Value)
		}
		calls = append(calls, invocation{"kubernetes worker sidecar", c.Args, environ})
	}
	var sidecar struct {
		Services map[string]struct {
			Command     []string
			Environment map[string]string
			Healthcheck struct{ Test []string }
		}
	}
	readYAML(t, "../../examples/compose/sidecar.yml", &sidecar)
	side := sidecar.Services["omsecrets"]
	var sideEnv []string
	for k, v := range side.Environment {
		sideEnv = append(sideEnv, k+"="+v)
	}
	calls = append(calls, invocation{"compose sidecar", side.Command, sideEnv})
	// Its healthcheck runs the image's binary (the Dockerfile's entrypoint)
	// with a probe the CLI accepts.
	require.Len(t, side.Healthcheck.Test, 4)
	dockerfile, err := os.ReadFile("../../Dockerfile")
	require.NoError(t, err)
	assert.Contains(t, string(dockerfile), `ENTRYPOINT ["`+side.Healthcheck.Test[1]+`"]`)
	_, _, err = parseCommand(side.Healthcheck.Test[2], side.Healthcheck.Test[3:], sideEnv, io.Discard, probeFlags)
	require.NoError(t, err)
	assert.Equal(t, []string{"probe", "ready"}, side.Healthcheck.Test[2:])

	svc := compose.Services["omsecrets"]
	var environ []string
	for k, v := range svc.Environment {
		environ = append(environ, k+"="+v)
	}
	calls = append(calls, invocation{"compose file", svc.Command, environ})
	require.Len(t, calls, 4)

	for _, c := range calls {
		require.NotEmpty(t, c.args, c.where)
		for _, kv := range c.environ {
			name, _, _ := strings.Cut(kv, "=")
			if strings.HasPrefix(name, config.Prefix) {
				assert.True(t, known[name], "%s sets %s, which omsecrets does not read", c.where, name)
			}
		}
		specs := [][]flagSpec{commonFlags}
		switch c.args[0] {
		case "resolve":
			specs = append(specs, outputFlags)
		case "run":
			specs = append(specs, daemonOutputFlags, runFlags, omFlags)
		}
		cfg, pos, err := parseCommand(c.args[0], c.args[1:], c.environ, io.Discard, specs...)
		require.NoError(t, err, c.where)
		if c.args[0] == "run" {
			assert.NotEmpty(t, cfg.WatchDirs, "%s names watch dirs", c.where)
			assert.NotEmpty(t, cfg.OutputDir, c.where)
			continue
		}
		assert.NotEmpty(t, pos, "%s names a definition", c.where)
		assert.NotEmpty(t, cfg.Provider, c.where)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, v), path)
}
