package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
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
	helm := readHelmValues(t)
	for _, c := range helm.Airflow.Workers.ExtraInitContainers {
		if c.Name != "omsecrets" {
			continue
		}
		var environ []string
		for _, e := range c.Env {
			environ = append(environ, e.Name+"="+e.Value)
		}
		calls = append(calls, invocation{"helm values", c.Args, environ})
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
	require.Len(t, calls, 4+len(workers))

	for _, c := range calls {
		require.NotEmpty(t, c.args, c.where)
		// Every example sets a trust policy: the hosts the bot JWT may go
		// to (docs/trust-boundary.md).
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
	airflowImage := dagRunnerImage(t)
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

	var podTemplate, dagRunner struct {
		Metadata podMeta
		Spec     podSpec
	}
	readYAML(t, "../../examples/kubernetes/pod-template.yaml", &podTemplate)
	readYAML(t, "../../examples/kubernetes/pod-template-dag-runner.yaml", &dagRunner)
	pods := []workerPod{
		{where: "kubernetes pod template", meta: podTemplate.Metadata, spec: podTemplate.Spec, airflow: 1},
		{where: "kubernetes DAG runner pod template", meta: dagRunner.Metadata, spec: dagRunner.Spec, airflow: 1},
	}
	workers, err := filepath.Glob("../../examples/kubernetes/worker-sidecar*.yaml")
	require.NoError(t, err)
	for _, path := range workers {
		pods = append(pods, readWorkerPod(t, path))
	}
	pods = append(pods, helmWorkerPod(t, readHelmValues(t), airflowImage), helmApacheWorkerPod(t, readHelmApacheValues(t), airflowImage))
	for _, pod := range pods {
		checkCredentialsInOmsecrets(t, pod, airflowImage, runnerVars, credential)
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

// checkCredentialsInOmsecrets holds one pod to the split: the omsecrets
// container alone gets the store credential; each Airflow container runs
// airflowImage with no credential, no Secret and only the DAG runner's
// OMSECRETS_ variables.
func checkCredentialsInOmsecrets(t *testing.T, pod workerPod, airflowImage string, runnerVars map[string]bool, credential func(string) bool) {
	t.Helper()
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
	assert.Equal(t, pod.airflow, airflow, "%s: Airflow containers", pod.where)
}

// dagRunnerImage is the image of omsecrets' DAG runner (airflow/
// Dockerfile) for the OpenMetadata release it pins.
func dagRunnerImage(t *testing.T) string {
	t.Helper()
	dockerfile, err := os.ReadFile("../../airflow/Dockerfile")
	require.NoError(t, err)
	pin := regexp.MustCompile(`(?m)^ARG OM_INGESTION_IMAGE=docker\.getcollate\.io/openmetadata/ingestion:(\d+\.\d+\.\d+)$`).FindSubmatch(dockerfile)
	require.NotNil(t, pin, "airflow/Dockerfile pins OpenMetadata's ingestion image")
	return "omsecrets-airflow:om-" + string(pin[1])
}

// k8sContainer is the part of a Kubernetes container the manifest tests
// read.
type k8sContainer struct {
	Name          string
	Image         string
	RestartPolicy string `yaml:"restartPolicy"`
	Args          []string
	Env           []struct {
		Name      string
		Value     string
		ValueFrom map[string]any `yaml:"valueFrom"`
	}
	EnvFrom []map[string]any `yaml:"envFrom"`
	Ports   []struct {
		Name          string
		ContainerPort int `yaml:"containerPort"`
	}
	StartupProbe   *k8sProbe `yaml:"startupProbe"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string
		Limits   map[string]string
	}
	SecurityContext struct {
		RunAsUser                *int  `yaml:"runAsUser"`
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		Capabilities             struct{ Drop []string }
	} `yaml:"securityContext"`
	VolumeMounts []k8sVolumeMount `yaml:"volumeMounts"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string
		Port any
	} `yaml:"httpGet"`
}

type k8sVolumeMount struct {
	Name      string
	MountPath string `yaml:"mountPath"`
	ReadOnly  bool   `yaml:"readOnly"`
}

type k8sVolume struct {
	Name     string
	Secret   map[string]any
	EmptyDir *struct {
		Medium    string
		SizeLimit string `yaml:"sizeLimit"`
	} `yaml:"emptyDir"`
	PersistentVolumeClaim map[string]any `yaml:"persistentVolumeClaim"`
	Projected             struct{ Sources []map[string]any }
}

type podSpec struct {
	ServiceAccountName string `yaml:"serviceAccountName"`
	AutomountToken     *bool  `yaml:"automountServiceAccountToken"`
	SecurityContext    struct {
		FSGroup *int `yaml:"fsGroup"`
	} `yaml:"securityContext"`
	InitContainers []k8sContainer `yaml:"initContainers"`
	Containers     []k8sContainer
	Volumes        []k8sVolume
}

type podMeta struct{ Annotations map[string]string }

// workerPod is one example's pod, with the number of Airflow containers it
// has beside omsecrets.
type workerPod struct {
	where   string
	meta    podMeta
	spec    podSpec
	airflow int
}

// readWorkerPod reads the pod template of a worker-sidecar*.yaml
// Deployment.
func readWorkerPod(t *testing.T, path string) workerPod {
	t.Helper()
	var d struct {
		Spec struct {
			Template struct {
				Metadata podMeta
				Spec     podSpec
			}
		}
	}
	readDeployment(t, path, &d)
	return workerPod{where: filepath.Base(path), meta: d.Spec.Template.Metadata, spec: d.Spec.Template.Spec, airflow: 1}
}

// The examples/helm values files: for openmetadata-dependencies releases on
// the Apache Airflow chart (1.11.0 and later), and for those on the
// community chart (before 1.11.0).
const (
	helmApacheValuesPath = "../../examples/helm/values-openmetadata-dependencies.yaml"
	helmValuesPath       = "../../examples/helm/values-openmetadata-dependencies-community-chart.yaml"
)

// helmValues is the part of the community chart's values file the tests
// read: the openmetadata-dependencies chart's airflow: key, which holds the
// values of the community Airflow chart.
type helmValues struct {
	Airflow struct {
		Airflow struct {
			Image struct {
				Repository, Tag string
			}
			Executor string
			Config   map[string]*string
			ExtraEnv []struct {
				Name, Value string
			} `yaml:"extraEnv"`
			PodAnnotations map[string]string `yaml:"podAnnotations"`
		}
		ServiceAccount struct {
			Name        string
			Annotations map[string]string
		} `yaml:"serviceAccount"`
		Workers struct {
			Enabled         bool
			PodAnnotations  map[string]string `yaml:"podAnnotations"`
			SecurityContext struct {
				FSGroup *int `yaml:"fsGroup"`
			} `yaml:"securityContext"`
			ExtraInitContainers []k8sContainer   `yaml:"extraInitContainers"`
			ExtraContainers     []k8sContainer   `yaml:"extraContainers"`
			ExtraVolumeMounts   []k8sVolumeMount `yaml:"extraVolumeMounts"`
			ExtraVolumes        []k8sVolume      `yaml:"extraVolumes"`
		}
	}
}

func readHelmValues(t *testing.T) helmValues {
	t.Helper()
	var v helmValues
	readYAML(t, helmValuesPath, &v)
	return v
}

// helmWorkerPod is the worker pod the community Airflow chart (8.9.0)
// renders from v, as its worker-statefulset.yaml and _helpers/pods.tpl
// build it: the chart's check-db and wait-for-db-migrations init
// containers, then workers.extraInitContainers; the airflow-worker
// container, running airflow.image, with airflow.config (through the
// chart's config Secret) and airflow.extraEnv as its variables, the chart's
// dags-data and logs-data mounts and workers.extraVolumeMounts; the
// chart's volumes and workers.extraVolumes; airflow.podAnnotations and
// workers.podAnnotations. What the chart adds of its own (the Airflow
// database and Redis passwords, from Secrets) is Airflow's, not a store
// credential, and is left out. Its values are held to what airflowImage
// and the omsecrets sidecar need.
func helmWorkerPod(t *testing.T, v helmValues, airflowImage string) workerPod {
	t.Helper()
	a := v.Airflow
	require.Equal(t, "CeleryExecutor", a.Airflow.Executor, "workers.* renders only with Celery workers")
	require.True(t, a.Workers.Enabled, "workers.enabled: the chart's worker StatefulSet")
	image := a.Airflow.Image.Repository + ":" + a.Airflow.Image.Tag
	airflowContainer := func(name string) k8sContainer {
		c := k8sContainer{Name: name, Image: image}
		keys := make([]string, 0, len(a.Airflow.Config))
		for k := range a.Airflow.Config {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if val := a.Airflow.Config[k]; val != nil {
				c.Env = append(c.Env, struct {
					Name      string
					Value     string
					ValueFrom map[string]any `yaml:"valueFrom"`
				}{Name: k, Value: *val})
			}
		}
		for _, e := range a.Airflow.ExtraEnv {
			c.Env = append(c.Env, struct {
				Name      string
				Value     string
				ValueFrom map[string]any `yaml:"valueFrom"`
			}{Name: e.Name, Value: e.Value})
		}
		return c
	}
	worker := airflowContainer("airflow-worker")
	worker.VolumeMounts = append([]k8sVolumeMount{
		{Name: "dags-data", MountPath: "/opt/airflow/dags"},
		{Name: "logs-data", MountPath: "/opt/airflow/logs"},
	}, a.Workers.ExtraVolumeMounts...)
	annotations := map[string]string{}
	for k, val := range a.Airflow.PodAnnotations {
		annotations[k] = val
	}
	for k, val := range a.Workers.PodAnnotations {
		_, dup := annotations[k]
		assert.False(t, dup, "%s in both airflow.podAnnotations and workers.podAnnotations: the chart writes it twice", k)
		annotations[k] = val
	}
	pod := workerPod{
		where: "helm values",
		meta:  podMeta{Annotations: annotations},
		spec: podSpec{
			ServiceAccountName: a.ServiceAccount.Name,
			InitContainers:     append([]k8sContainer{airflowContainer("check-db"), airflowContainer("wait-for-db-migrations")}, a.Workers.ExtraInitContainers...),
			Containers:         append([]k8sContainer{worker}, a.Workers.ExtraContainers...),
			Volumes: append([]k8sVolume{
				{Name: "dags-data", PersistentVolumeClaim: map[string]any{"claimName": "openmetadata-dependencies-dags"}},
				{Name: "logs-data", PersistentVolumeClaim: map[string]any{"claimName": "openmetadata-dependencies-logs"}},
			}, a.Workers.ExtraVolumes...),
		},
		airflow: 3,
	}
	pod.spec.SecurityContext.FSGroup = a.Workers.SecurityContext.FSGroup
	assert.Equal(t, airflowImage, image, "airflow.image is the DAG runner's image")
	return pod
}

// helmApacheValues is the part of the Apache chart's values file the tests
// read: the openmetadata-dependencies chart's airflow: key, which holds the
// values of the Apache Airflow chart.
type helmApacheValues struct {
	Airflow struct {
		Executor string
		Images   struct {
			Airflow struct {
				Repository, Tag string
			}
		}
		Config map[string]map[string]string
		Env    []struct {
			Name, Value string
		}
		AirflowPodAnnotations map[string]string `yaml:"airflowPodAnnotations"`
		Dags                  struct {
			Persistence struct {
				Enabled       bool
				ExistingClaim string `yaml:"existingClaim"`
			}
		}
		Redis struct {
			Enabled bool
		}
		Workers struct {
			Persistence struct {
				Enabled *bool
			}
			ServiceAccount struct {
				Create      *bool
				Name        string
				Annotations map[string]string
			} `yaml:"serviceAccount"`
			PodAnnotations   map[string]string `yaml:"podAnnotations"`
			SecurityContexts struct {
				Pod struct {
					FSGroup *int `yaml:"fsGroup"`
				}
			} `yaml:"securityContexts"`
			WaitForMigrations struct {
				Enabled *bool
			} `yaml:"waitForMigrations"`
			Env []struct {
				Name, Value string
			}
			ExtraInitContainers []k8sContainer   `yaml:"extraInitContainers"`
			ExtraContainers     []k8sContainer   `yaml:"extraContainers"`
			ExtraVolumeMounts   []k8sVolumeMount `yaml:"extraVolumeMounts"`
			ExtraVolumes        []k8sVolume      `yaml:"extraVolumes"`
		}
	}
}

func readHelmApacheValues(t *testing.T) helmApacheValues {
	t.Helper()
	var v helmApacheValues
	readYAML(t, helmApacheValuesPath, &v)
	return v
}

// helmApacheRelease is the release name examples/helm's README installs
// openmetadata-dependencies as; the Apache chart names its PVCs after it.
const helmApacheRelease = "openmetadata-dependencies"

// helmApacheWorkerPod is the Celery worker pod the Apache Airflow chart
// (1.18.0) renders from v, as its workers/worker-deployment.yaml and
// _helpers.yaml build it: with workers.persistence.enabled false, a
// Deployment whose pod has the wait-for-airflow-migrations init container
// (workers.waitForMigrations.enabled, on by default), then
// workers.extraInitContainers; the worker container, running
// images.airflow, with env (custom_airflow_environment) and workers.env
// (container_extra_envs) as its variables, workers.extraVolumeMounts and the
// chart's logs, config and dags mounts; workers.extraContainers; the
// volumes workers.extraVolumes, config, dags (the PVC <release>-dags, or
// dags.persistence.existingClaim) and logs; airflowPodAnnotations merged
// with workers.podAnnotations (mergeOverwrite); the service account
// worker.serviceAccountName names; and workers.securityContexts.pod. What
// the chart adds of its own (the Airflow database, fernet, API secret and
// broker secrets, as secretKeyRefs; DUMB_INIT_SETSID) is Airflow's, not a
// store credential, and is left out. Its values are held to what
// airflowImage and the omsecrets sidecar need.
func helmApacheWorkerPod(t *testing.T, v helmApacheValues, airflowImage string) workerPod {
	t.Helper()
	a := v.Airflow
	require.Contains(t, []string{"CeleryExecutor", "CeleryKubernetesExecutor"}, a.Executor, "the worker Deployment renders only with Celery workers")
	require.True(t, a.Redis.Enabled, "redis.enabled: the CeleryExecutor's broker")
	require.True(t, a.Dags.Persistence.Enabled, "dags.persistence.enabled: the definitions' volume")
	require.NotNil(t, a.Workers.Persistence.Enabled, "workers.persistence.enabled (the chart's default, true, adds worker-log-groomer)")
	require.False(t, *a.Workers.Persistence.Enabled, "workers.persistence.enabled: false, a Deployment")
	image := a.Images.Airflow.Repository + ":" + a.Images.Airflow.Tag
	type envVar = struct {
		Name      string
		Value     string
		ValueFrom map[string]any `yaml:"valueFrom"`
	}
	configMounts := []k8sVolumeMount{
		{Name: "config", MountPath: "/opt/airflow/airflow.cfg", ReadOnly: true},
		{Name: "config", MountPath: "/opt/airflow/config/airflow_local_settings.py", ReadOnly: true},
	}
	logs := k8sVolumeMount{Name: "logs", MountPath: "/opt/airflow/logs"}
	airflowContainer := func(name string, workerEnv bool) k8sContainer {
		c := k8sContainer{Name: name, Image: image}
		for _, e := range a.Env {
			c.Env = append(c.Env, envVar{Name: e.Name, Value: e.Value})
		}
		if workerEnv {
			for _, e := range a.Workers.Env {
				c.Env = append(c.Env, envVar{Name: e.Name, Value: e.Value})
			}
		}
		return c
	}
	var inits []k8sContainer
	if a.Workers.WaitForMigrations.Enabled == nil || *a.Workers.WaitForMigrations.Enabled {
		wait := airflowContainer("wait-for-airflow-migrations", false)
		wait.VolumeMounts = append(append([]k8sVolumeMount{logs}, configMounts...), a.Workers.ExtraVolumeMounts...)
		inits = append(inits, wait)
	}
	worker := airflowContainer("worker", true)
	worker.VolumeMounts = append(append(append(slices.Clone(a.Workers.ExtraVolumeMounts), logs), configMounts...),
		k8sVolumeMount{Name: "dags", MountPath: "/opt/airflow/dags"})
	claim := helmApacheRelease + "-dags"
	if a.Dags.Persistence.ExistingClaim != "" {
		claim = a.Dags.Persistence.ExistingClaim
	}
	annotations := map[string]string{}
	for k, val := range a.AirflowPodAnnotations {
		annotations[k] = val
	}
	for k, val := range a.Workers.PodAnnotations {
		annotations[k] = val
	}
	serviceAccount := a.Workers.ServiceAccount.Name
	if serviceAccount == "" {
		serviceAccount = helmApacheRelease + "-worker"
		if a.Workers.ServiceAccount.Create != nil && !*a.Workers.ServiceAccount.Create {
			serviceAccount = "default"
		}
	}
	pod := workerPod{
		where: "helm values (Apache chart)",
		meta:  podMeta{Annotations: annotations},
		spec: podSpec{
			ServiceAccountName: serviceAccount,
			InitContainers:     append(inits, a.Workers.ExtraInitContainers...),
			Containers:         append([]k8sContainer{worker}, a.Workers.ExtraContainers...),
			Volumes: append(slices.Clone(a.Workers.ExtraVolumes),
				k8sVolume{Name: "config"},
				k8sVolume{Name: "dags", PersistentVolumeClaim: map[string]any{"claimName": claim}},
				k8sVolume{Name: "logs"},
			),
		},
		airflow: len(inits) + 1,
	}
	pod.spec.SecurityContext.FSGroup = a.Workers.SecurityContexts.Pod.FSGroup
	assert.Equal(t, airflowImage, image, "images.airflow is the DAG runner's image")
	return pod
}

// checkWorkerSidecar holds a worker pod to the shape every worker sidecar
// example has: omsecrets as a native sidecar (an init container with
// restartPolicy: Always) that the worker waits for (startupProbe on
// /readyz), restarted when /healthz fails, locked down, with requests and
// a memory limit; its outputs on a memory-backed emptyDir of the pod's
// fsGroup, which the worker mounts read-only where the DAG runner reads
// them; and the definitions it watches mounted read-only.
func checkWorkerSidecar(t *testing.T, pod workerPod) {
	t.Helper()
	where := pod.where
	var side *k8sContainer
	for i, c := range pod.spec.InitContainers {
		if c.Name == "omsecrets" {
			side = &pod.spec.InitContainers[i]
		}
	}
	require.NotNil(t, side, "%s: omsecrets is an init container", where)
	assert.Equal(t, "Always", side.RestartPolicy, "%s: a native sidecar", where)
	var environ []string
	for _, e := range side.Env {
		environ = append(environ, e.Name+"="+e.Value)
	}
	require.NotEmpty(t, side.Args, where)
	cfg, _, _, err := parseCommand(side.Args[0], side.Args[1:], environ, io.Discard)
	require.NoError(t, err, where)
	assert.False(t, cfg.Once, "%s: the sidecar keeps running", where)
	ports := map[string]int{}
	for _, p := range side.Ports {
		ports[p.Name] = p.ContainerPort
	}
	_, httpPort, err := net.SplitHostPort(cfg.HTTPAddr)
	require.NoError(t, err, where)
	assert.Equal(t, httpPort, strconv.Itoa(ports["omsecrets"]), "%s: the omsecrets port is --http-addr's", where)
	for _, probe := range []struct {
		name string
		p    *k8sProbe
		path string
	}{{"startupProbe", side.StartupProbe, "/readyz"}, {"livenessProbe", side.LivenessProbe, "/healthz"}} {
		require.NotNil(t, probe.p, "%s: %s", where, probe.name)
		require.NotNil(t, probe.p.HTTPGet, "%s: %s", where, probe.name)
		assert.Equal(t, probe.path, probe.p.HTTPGet.Path, "%s: %s", where, probe.name)
		assert.Equal(t, "omsecrets", probe.p.HTTPGet.Port, "%s: %s", where, probe.name)
	}
	sc := side.SecurityContext
	if assert.NotNil(t, sc.RunAsNonRoot, where) {
		assert.True(t, *sc.RunAsNonRoot, where)
	}
	if assert.NotNil(t, sc.ReadOnlyRootFilesystem, where) {
		assert.True(t, *sc.ReadOnlyRootFilesystem, where)
	}
	if assert.NotNil(t, sc.AllowPrivilegeEscalation, where) {
		assert.False(t, *sc.AllowPrivilegeEscalation, where)
	}
	assert.Equal(t, []string{"ALL"}, sc.Capabilities.Drop, where)
	assert.NotEmpty(t, side.Resources.Requests["memory"], where)
	assert.NotEmpty(t, side.Resources.Limits["memory"], where)

	volumes := map[string]k8sVolume{}
	for _, v := range pod.spec.Volumes {
		volumes[v.Name] = v
	}
	mounts := func(c k8sContainer) map[string]k8sVolumeMount {
		m := map[string]k8sVolumeMount{}
		for _, vm := range c.VolumeMounts {
			_, ok := volumes[vm.Name]
			assert.True(t, ok, "%s container %s mounts %s, which the pod does not have", where, c.Name, vm.Name)
			m[vm.MountPath] = vm
		}
		return m
	}
	sideMounts := mounts(*side)
	out, ok := sideMounts[cfg.OutputDir]
	require.True(t, ok, "%s: omsecrets' output dir %s is a volume", where, cfg.OutputDir)
	assert.False(t, out.ReadOnly, where)
	ed := volumes[out.Name].EmptyDir
	if assert.NotNil(t, ed, "%s: the outputs are on an emptyDir", where) {
		assert.Equal(t, "Memory", ed.Medium, "%s: tmpfs", where)
		assert.NotEmpty(t, ed.SizeLimit, where)
	}
	if assert.NotNil(t, pod.spec.SecurityContext.FSGroup, where) {
		assert.Equal(t, strconv.Itoa(*pod.spec.SecurityContext.FSGroup), cfg.OutputGroup, "%s: outputs readable by the pod's fsGroup", where)
	}
	for _, dir := range cfg.WatchDirs {
		m, ok := sideMounts[dir]
		if assert.True(t, ok, "%s: watch dir %s is a volume", where, dir) {
			assert.True(t, m.ReadOnly, "%s: omsecrets only reads %s", where, dir)
		}
	}
	var workers int
	for _, c := range pod.spec.Containers {
		if c.Name == "omsecrets" {
			continue
		}
		workers++
		outputDir := "/omsecrets" // the DAG runner's default
		for _, e := range c.Env {
			if e.Name == "OMSECRETS_OUTPUT_DIR" {
				outputDir = e.Value
			}
		}
		m, ok := mounts(c)[outputDir]
		if assert.True(t, ok, "%s container %s: the outputs at %s", where, c.Name, outputDir) {
			assert.Equal(t, out.Name, m.Name, "%s container %s", where, c.Name)
			assert.True(t, m.ReadOnly, "%s container %s mounts the outputs read-only", where, c.Name)
		}
	}
	assert.Equal(t, 1, workers, where)
}

// TestManifestsWorkerSidecarShape applies checkWorkerSidecar to every
// worker sidecar example, the helm values' included.
func TestManifestsWorkerSidecarShape(t *testing.T) {
	t.Parallel()
	workers, err := filepath.Glob("../../examples/kubernetes/worker-sidecar*.yaml")
	require.NoError(t, err)
	var pods []workerPod
	for _, path := range workers {
		pods = append(pods, readWorkerPod(t, path))
	}
	pods = append(pods, helmWorkerPod(t, readHelmValues(t), dagRunnerImage(t)), helmApacheWorkerPod(t, readHelmApacheValues(t), dagRunnerImage(t)))
	aws := readWorkerPod(t, "../../examples/kubernetes/worker-sidecar.yaml")
	for _, pod := range pods {
		t.Run(pod.where, func(t *testing.T) {
			t.Parallel()
			checkWorkerSidecar(t, pod)
		})
	}
	// The helm values' sidecar is worker-sidecar.yaml's, but for the watch
	// dir (OpenMetadata's chart writes the definitions into its dags
	// volume) and the volume it is on.
	helm := readHelmValues(t)
	var got, want k8sContainer
	for _, c := range helm.Airflow.Workers.ExtraInitContainers {
		if c.Name == "omsecrets" {
			got = c
		}
	}
	for _, c := range aws.spec.InitContainers {
		if c.Name == "omsecrets" {
			want = c
		}
	}
	for i, e := range want.Env {
		if e.Name == "OMSECRETS_WATCH_DIRS" {
			want.Env[i].Value = "/opt/airflow/dags"
		}
	}
	want.VolumeMounts = []k8sVolumeMount{{Name: "resolved", MountPath: "/omsecrets"}, {Name: "dags-data", MountPath: "/opt/airflow/dags", ReadOnly: true}}
	assert.Equal(t, want, got, "the helm values' sidecar and worker-sidecar.yaml's")

	// The Apache chart's: the same, on that chart's dags volume.
	var apache k8sContainer
	for _, c := range readHelmApacheValues(t).Airflow.Workers.ExtraInitContainers {
		if c.Name == "omsecrets" {
			apache = c
		}
	}
	want.VolumeMounts = []k8sVolumeMount{{Name: "resolved", MountPath: "/omsecrets"}, {Name: "dags", MountPath: "/opt/airflow/dags", ReadOnly: true}}
	assert.Equal(t, want, apache, "the Apache chart values' sidecar and worker-sidecar.yaml's")
}

// helmChart is one Airflow chart an examples/helm values file is written
// for, with the keys of it the file may set, each read in that chart.
// openmetadata-dependencies (open-metadata/openmetadata-helm-charts,
// charts/deps) passes its airflow: key to its dependency "airflow", so every
// key starts with airflow.; a key ending in a map or a list takes anything
// below it.
type helmChart struct {
	values  string   // the values file
	chart   string   // the Airflow chart, and its repository
	version string   // its version, in charts/deps/Chart.yaml
	deps    string   // the openmetadata-dependencies releases on it
	sources []string // where the keys were read
	keys    []string
}

// helmCharts are the charts of examples/helm, newest first.
var helmCharts = []helmChart{
	{
		values:  helmApacheValuesPath,
		chart:   "airflow (Apache Airflow chart, https://airflow.apache.org)",
		version: "1.18.0",
		deps:    "1.11.0 and later (1.12.7: charts/deps/Chart.yaml at 00ef8b9e)",
		sources: []string{
			// OpenMetadata's docs, deployment/upgrade/kubernetes ("Helm
			// Chart Refactor (v1.11.0)"): the move to the Apache chart
			// 1.18.0, KubernetesExecutor by default, the PVC
			// openmetadata-dependencies-dags.
			"open-metadata docs upgrade/kubernetes (index id 17105370348)",
			"open-metadata/openmetadata-helm-charts PR #430",
			// workers.extraInitContainers (tpl), extraContainers,
			// extraVolumes, extraVolumeMounts, env, podAnnotations with
			// airflowPodAnnotations (mergeOverwrite), persistence.enabled,
			// replicas, waitForMigrations; dags.persistence; executor; the
			// same keys at an older release (001394a9, extraInitContainers
			// with toYaml) bracket 1.18.0.
			"apache/airflow chart/templates/workers/worker-deployment.yaml at 56e737b7 and 001394a9",
			// workers.serviceAccount.create, .name, .annotations.
			"apache/airflow chart/templates/workers/worker-serviceaccount.yaml at ae3d9efe",
			// worker.serviceAccountName, airflowPodSecurityContext
			// (workers.securityContexts.pod replaces the uid/gid default),
			// airflow_image (images.airflow.repository, .tag),
			// airflow_dags_mount, airflow_dags_volume_claim,
			// container_extra_envs, custom_airflow_environment.
			"apache/airflow chart/templates/_helpers.yaml at 002843d6",
			// images.airflow.pullPolicy, redis.enabled, config.
			"apache/airflow chart/values.yaml at 001394a9",
			// workers.extraInitContainers in 1.19.0 and 1.20.0.
			"airflow.apache.org/docs/helm-chart/1.19.0 and 1.20.0 using-additional-containers",
		},
		keys: []string{
			"airflow.executor",
			"airflow.images.airflow.repository",
			"airflow.images.airflow.tag",
			"airflow.images.airflow.pullPolicy",
			"airflow.config",
			"airflow.dags.persistence.enabled",
			"airflow.redis.enabled",
			"airflow.workers.replicas",
			"airflow.workers.persistence.enabled",
			"airflow.workers.serviceAccount.create",
			"airflow.workers.serviceAccount.name",
			"airflow.workers.serviceAccount.annotations",
			"airflow.workers.podAnnotations",
			"airflow.workers.securityContexts.pod",
			"airflow.workers.env",
			"airflow.workers.extraInitContainers",
			"airflow.workers.extraVolumeMounts",
			"airflow.workers.extraVolumes",
		},
	},
	{
		values:  helmValuesPath,
		chart:   "airflow (community chart, airflow-helm/charts, https://airflow-helm.github.io/charts)",
		version: "8.9.0",
		deps:    "before 1.11.0 (charts/deps/Chart.yaml at 3c44046e)",
		sources: []string{
			"airflow-helm/charts charts/airflow/README.md values tables (8.9.0+)",
			"airflow-helm/charts charts/airflow/templates/_helpers/pods.tpl",
		},
		keys: helmChartKeys,
	},
}

// helmChartKeys are the community chart's keys (helmCharts' second): from
// its README's values tables (8.9.0+) and _helpers/pods.tpl
// (airflow.image.repository, .tag and .pullPolicy).
var helmChartKeys = []string{
	"airflow.airflow.image.repository",
	"airflow.airflow.image.tag",
	"airflow.airflow.image.pullPolicy",
	"airflow.airflow.executor",
	"airflow.airflow.config",
	"airflow.airflow.extraEnv",
	"airflow.airflow.podAnnotations",
	"airflow.serviceAccount.name",
	"airflow.serviceAccount.annotations",
	"airflow.redis.enabled",
	"airflow.workers.enabled",
	"airflow.workers.replicas",
	"airflow.workers.securityContext",
	"airflow.workers.extraInitContainers",
	"airflow.workers.extraVolumeMounts",
	"airflow.workers.extraVolumes",
}

// omDependenciesDefaults are the values of openmetadata-dependencies'
// charts/deps/values.yaml (at 00f24da3, the release with ingestion 1.7.1)
// that the example must override: Helm merges maps, so a key the file
// leaves out keeps these.
var omDependenciesDefaults = map[string]any{
	"airflow.airflow.executor":    "KubernetesExecutor",
	"airflow.workers.enabled":     false,
	"airflow.redis.enabled":       false,
	"airflow.serviceAccount.name": "airflow",
	"airflow.airflow.config.AIRFLOW__OPENMETADATA_AIRFLOW_APIS__DAG_GENERATED_CONFIGS": "/opt/airflow/dags",
	"airflow.airflow.config.AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_REGION":         "",
	"airflow.airflow.config.AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY_ID":  "",
	"airflow.airflow.config.AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY":     "",
}

// helmLeaves is a values file's leaves, by dotted path.
func helmLeaves(t *testing.T, path string) map[string]any {
	t.Helper()
	var tree map[string]any
	readYAML(t, path, &tree)
	leaves := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		m, ok := v.(map[string]any)
		if !ok || len(m) == 0 {
			leaves[prefix] = v
			return
		}
		for k, sub := range m {
			walk(prefix+"."+k, sub)
		}
	}
	for k, v := range tree {
		walk(k, v)
	}
	require.NotEmpty(t, leaves, path)
	return leaves
}

// TestManifestsHelmValuesUseChartKeys: every key each helm values file sets
// is one of its chart's verified keys (or below one), every examples/helm
// values file is one of helmCharts, and the defaults of
// openmetadata-dependencies that would undo the example are overridden.
func TestManifestsHelmValuesUseChartKeys(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../examples/helm/values*.yaml")
	require.NoError(t, err)
	var covered []string
	for _, c := range helmCharts {
		require.NotEmpty(t, c.chart, c.values)
		require.NotEmpty(t, c.version, c.values)
		require.NotEmpty(t, c.deps, c.values)
		require.NotEmpty(t, c.sources, c.values)
		covered = append(covered, c.values)
		for path := range helmLeaves(t, c.values) {
			assert.True(t, slices.ContainsFunc(c.keys, func(k string) bool {
				return path == k || strings.HasPrefix(path, k+".")
			}), "%s: %s is not among the keys verified in %s %s (helmCharts)", filepath.Base(c.values), path, c.chart, c.version)
		}
	}
	slices.Sort(files)
	slices.Sort(covered)
	assert.Equal(t, files, covered, "every examples/helm values file has its chart in helmCharts")

	// The Apache chart's file: omsecrets watches where it points
	// OpenMetadata's plugin, the chart's dags volume; OpenMetadata's
	// KubernetesExecutor default is overridden.
	apache := readHelmApacheValues(t).Airflow
	assert.Equal(t, "CeleryExecutor", apache.Executor, "OpenMetadata's default is the KubernetesExecutor")
	generated := apache.Config["openmetadata_airflow_apis"]["dag_generated_configs"]
	assert.Equal(t, "/opt/airflow/dags", generated, "dag_generated_configs is on the chart's dags volume (airflow_dags_mount)")
	var watch []string
	for _, c := range apache.Workers.ExtraInitContainers {
		for _, e := range c.Env {
			if e.Name == "OMSECRETS_WATCH_DIRS" {
				watch = append(watch, e.Value)
			}
		}
	}
	assert.Equal(t, []string{generated}, watch, "omsecrets watches where OpenMetadata's plugin writes the definitions")

	leaves := helmLeaves(t, helmValuesPath)
	for key, def := range omDependenciesDefaults {
		v, set := leaves[key]
		switch {
		case strings.Contains(key, "SECRETS_MANAGER"):
			assert.True(t, set, "%s is left at OpenMetadata's default %q: set it to null to delete it", key, def)
			assert.Nil(t, v, "%s reaches Airflow", key)
		case strings.HasSuffix(key, "DAG_GENERATED_CONFIGS"):
			assert.False(t, set, "the example relies on OpenMetadata's %s", key)
			var watch string
			for _, c := range readHelmValues(t).Airflow.Workers.ExtraInitContainers {
				for _, e := range c.Env {
					if e.Name == "OMSECRETS_WATCH_DIRS" {
						watch = e.Value
					}
				}
			}
			assert.Equal(t, def, watch, "omsecrets watches where OpenMetadata's plugin writes the definitions")
		case key == "airflow.serviceAccount.name":
			assert.Equal(t, def, v, "the service account OpenMetadata's chart creates")
		default:
			assert.True(t, set, "%s is left at OpenMetadata's default %v", key, def)
			assert.NotEqual(t, def, v, key)
		}
	}
}
