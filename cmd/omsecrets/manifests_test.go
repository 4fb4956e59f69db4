package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
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
	for _, set := range storeSettings() {
		known[set.Twin(config.Prefix)] = true
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
	workers, err := filepath.Glob("../../examples/kubernetes/worker-sidecar*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(workers), 3, "the AWS, AKS and GKE worker sidecars")
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
	for _, path := range workers {
		readDeployment(t, path, &deployment)
		for _, c := range deployment.Spec.Template.Spec.InitContainers {
			if c.Name != "omsecrets" {
				continue
			}
			var environ []string
			for _, e := range c.Env {
				environ = append(environ, e.Name+"="+e.Value)
			}
			calls = append(calls, invocation{filepath.Base(path), c.Args, environ})
		}
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
	_, _, _, err = parseCommand(side.Healthcheck.Test[2], side.Healthcheck.Test[3:], sideEnv, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"probe", "ready"}, side.Healthcheck.Test[2:])

	svc := compose.Services["omsecrets"]
	var environ []string
	for k, v := range svc.Environment {
		environ = append(environ, k+"="+v)
	}
	calls = append(calls, invocation{"compose file", svc.Command, environ})
	require.Len(t, calls, 3+len(workers))

	for _, c := range calls {
		require.NotEmpty(t, c.args, c.where)
		// Every example sets a trust policy: the hosts the bot JWT may go
		// to (README, "Trust boundary").
		assert.True(t, slices.ContainsFunc(c.environ, func(kv string) bool {
			return strings.HasPrefix(kv, config.Prefix+"OM_HOSTS=") || strings.HasPrefix(kv, config.Prefix+"OM_HOST_PORT=")
		}) || slices.Contains(c.args, "--om-hosts"), "%s sets no OpenMetadata host policy", c.where)
		for _, kv := range c.environ {
			name, _, _ := strings.Cut(kv, "=")
			if strings.HasPrefix(name, config.Prefix) {
				assert.True(t, known[name], "%s sets %s, which omsecrets does not read", c.where, name)
			}
		}
		cfg, _, pos, err := parseCommand(c.args[0], c.args[1:], c.environ, io.Discard)
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

// readDeployment decodes the Deployment of a multi-document YAML file
// (the worker sidecars may come with their RBAC objects).
func readDeployment(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		require.NoError(t, err, "%s has no Deployment", path)
		var kind struct{ Kind string }
		require.NoError(t, doc.Decode(&kind), path)
		if kind.Kind == "Deployment" {
			require.NoError(t, doc.Decode(v), path)
			return
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, v), path)
}

// TestManifestsKeepStoreCredentialsInOmsecrets holds every example to the
// split issue 14 makes: only the omsecrets container can reach the store;
// every Airflow container runs the omsecrets-airflow image (airflow/
// Dockerfile) and carries no store credential, no secrets-manager setting
// and no Secret, so it can only run what omsecrets resolved.
func TestManifestsKeepStoreCredentialsInOmsecrets(t *testing.T) {
	t.Parallel()
	dockerfile, err := os.ReadFile("../../airflow/Dockerfile")
	require.NoError(t, err)
	pin := regexp.MustCompile(`(?m)^ARG OM_INGESTION_IMAGE=docker\.getcollate\.io/openmetadata/ingestion:(\d+\.\d+\.\d+)$`).FindSubmatch(dockerfile)
	require.NotNil(t, pin, "airflow/Dockerfile pins OpenMetadata's ingestion image")
	airflowImage := "omsecrets-airflow:om-" + string(pin[1])
	// The OMSECRETS_ variables the DAG runner reads.
	runner, err := os.ReadFile("../../airflow/omsecrets_runner.py")
	require.NoError(t, err)
	runnerVars := map[string]bool{}
	for _, m := range regexp.MustCompile(`env\.get\("(OMSECRETS_[A-Z_]+)"\)`).FindAllSubmatch(runner, -1) {
		runnerVars[string(m[1])] = true
	}
	require.Equal(t, map[string]bool{"OMSECRETS_OUTPUT_DIR": true, "OMSECRETS_WAIT_SECONDS": true}, runnerVars)
	credential := func(name string) bool {
		for _, p := range []string{"AWS_", "AIRFLOW__OPENMETADATA_SECRETS_MANAGER__", "OMSECRETS_SECRET_", "AZURE_", "GOOGLE_", "VAULT_"} {
			if strings.HasPrefix(name, p) {
				return true
			}
		}
		return false
	}

	type k8sContainer struct {
		Name  string
		Image string
		Args  []string
		Env   []struct {
			Name      string
			Value     string
			ValueFrom map[string]any `yaml:"valueFrom"`
		}
		EnvFrom      []map[string]any        `yaml:"envFrom"`
		VolumeMounts []struct{ Name string } `yaml:"volumeMounts"`
	}
	type podSpec struct {
		ServiceAccountName string         `yaml:"serviceAccountName"`
		AutomountToken     *bool          `yaml:"automountServiceAccountToken"`
		InitContainers     []k8sContainer `yaml:"initContainers"`
		Containers         []k8sContainer
		Volumes            []struct {
			Name      string
			Secret    map[string]any
			Projected struct{ Sources []map[string]any }
		}
	}
	type meta struct{ Annotations map[string]string }
	var podTemplate, dagRunner struct {
		Metadata meta
		Spec     podSpec
	}
	readYAML(t, "../../examples/kubernetes/pod-template.yaml", &podTemplate)
	readYAML(t, "../../examples/kubernetes/pod-template-dag-runner.yaml", &dagRunner)
	pods := []struct {
		where string
		meta  meta
		spec  podSpec
	}{
		{"kubernetes pod template", podTemplate.Metadata, podTemplate.Spec},
		{"kubernetes DAG runner pod template", dagRunner.Metadata, dagRunner.Spec},
	}
	workers, err := filepath.Glob("../../examples/kubernetes/worker-sidecar*.yaml")
	require.NoError(t, err)
	for _, path := range workers {
		var worker struct {
			Spec struct {
				Template struct {
					Metadata meta
					Spec     podSpec
				}
			}
		}
		readDeployment(t, path, &worker)
		pods = append(pods, struct {
			where string
			meta  meta
			spec  podSpec
		}{filepath.Base(path), worker.Spec.Template.Metadata, worker.Spec.Template.Spec})
	}
	for _, pod := range pods {
		secretVolumes := map[string]bool{}
		for _, v := range pod.spec.Volumes {
			if v.Secret != nil {
				secretVolumes[v.Name] = true
			}
			for _, src := range v.Projected.Sources {
				// A Secret, or a service account token (the Kubernetes
				// store's and Vault's Kubernetes auth's credential).
				if _, ok := src["secret"]; ok {
					secretVolumes[v.Name] = true
				}
				if _, ok := src["serviceAccountToken"]; ok {
					secretVolumes[v.Name] = true
				}
			}
		}
		noAutomount := pod.spec.AutomountToken != nil && !*pod.spec.AutomountToken
		// The identity webhooks' per-container switches: EKS pod identity
		// (","-separated) and Azure workload identity (";"-separated).
		// GKE's metadata server has none (worker-sidecar-gke.yaml says so).
		skipped := map[string]bool{}
		for _, name := range strings.FieldsFunc(pod.meta.Annotations["eks.amazonaws.com/skip-containers"]+";"+pod.meta.Annotations["azure.workload.identity/skip-containers"],
			func(r rune) bool { return r == ',' || r == ';' }) {
			skipped[strings.TrimSpace(name)] = true
		}
		perContainer := !strings.Contains(pod.where, "gke")
		var omsecrets, airflow int
		for _, c := range append(append([]k8sContainer{}, pod.spec.InitContainers...), pod.spec.Containers...) {
			where := pod.where + " container " + c.Name
			if c.Name == "omsecrets" {
				omsecrets++
				assert.False(t, skipped[c.Name], "%s must keep the service account's role", where)
				continue
			}
			airflow++
			assert.Equal(t, airflowImage, c.Image, "%s runs the DAG runner's image", where)
			if pod.spec.ServiceAccountName != "" && perContainer {
				// The service account's credential reaches a container by
				// a cloud identity webhook (kept out by skip-containers) or
				// by the automounted token (kept out by not automounting
				// it and projecting it into omsecrets alone).
				assert.True(t, skipped[c.Name] || noAutomount,
					"%s must not get the service account's credential (skip-containers, or automountServiceAccountToken: false)", where)
			}
			assert.Empty(t, c.EnvFrom, "%s takes no variables from Secrets or ConfigMaps", where)
			for _, e := range c.Env {
				assert.False(t, credential(e.Name), "%s sets %s", where, e.Name)
				assert.Nil(t, e.ValueFrom["secretKeyRef"], "%s reads %s from a Secret", where, e.Name)
				if strings.HasPrefix(e.Name, config.Prefix) {
					assert.True(t, runnerVars[e.Name], "%s sets %s, which the DAG runner does not read", where, e.Name)
				}
			}
			for _, m := range c.VolumeMounts {
				assert.False(t, secretVolumes[m.Name], "%s mounts the Secret volume %s", where, m.Name)
			}
		}
		assert.Equal(t, 1, omsecrets, pod.where)
		assert.Equal(t, 1, airflow, pod.where)
	}

	// The DAG runner pod resolves the task's own definition, named by the
	// dag_id annotation the KubernetesExecutor sets.
	init := dagRunner.Spec.InitContainers[0]
	var environ []string
	for _, e := range init.Env {
		if e.Name == "DAG_ID" {
			assert.Equal(t, map[string]any{"fieldRef": map[string]any{"fieldPath": "metadata.annotations['dag_id']"}}, e.ValueFrom)
			continue
		}
		environ = append(environ, e.Name+"="+e.Value)
	}
	require.NotEmpty(t, init.Args)
	cfg, _, pos, err := parseCommand(init.Args[0], init.Args[1:], environ, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "run", init.Args[0])
	assert.True(t, cfg.Once)
	assert.Equal(t, "/omsecrets", cfg.OutputDir)
	assert.Equal(t, "json", cfg.LogFormat)
	assert.Equal(t, []string{"/opt/airflow/dag_generated_configs/$(DAG_ID).json"}, pos)

	type service struct {
		Image       string
		Command     []string
		Environment map[string]string
		Secrets     []any
	}
	for _, file := range []struct {
		path    string
		airflow []string // services that run Airflow, so the DAG runner
	}{
		{"../../examples/compose/docker-compose.yml", nil},
		{"../../examples/compose/sidecar.yml", []string{"ingestion"}},
	} {
		var compose struct{ Services map[string]service }
		readYAML(t, file.path, &compose)
		require.Contains(t, compose.Services, "omsecrets", file.path)
		for name, svc := range compose.Services {
			where := file.path + " service " + name
			if name == "omsecrets" {
				continue
			}
			assert.Empty(t, svc.Secrets, "%s gets compose secrets", where)
			for k := range svc.Environment {
				assert.False(t, credential(k), "%s sets %s", where, k)
				if strings.HasPrefix(k, config.Prefix) {
					assert.True(t, runnerVars[k], "%s sets %s, which the DAG runner does not read", where, k)
				}
			}
		}
		for _, name := range file.airflow {
			require.Contains(t, compose.Services, name, file.path)
			assert.Equal(t, airflowImage, compose.Services[name].Image, "%s service %s runs the DAG runner's image", file.path, name)
		}
	}
	// The sidecar is where the store credential lives.
	var sidecar struct{ Services map[string]service }
	readYAML(t, "../../examples/compose/sidecar.yml", &sidecar)
	assert.Contains(t, sidecar.Services["omsecrets"].Environment, "AWS_ACCESS_KEY_ID")
}
