package workflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"omsecrets/internal/render"
)

// Errors a malformed ingestion pipeline gives, each wrapped with the file
// and the field: "x.json: service.type: missing".
var (
	// ErrMissingField marks a required field that is absent or null.
	ErrMissingField = errors.New("missing")
	// ErrInvalidField marks a field of the wrong JSON type or outside its
	// enum. The message says what was wanted, never what was found.
	ErrInvalidField = errors.New("invalid")
)

// PipelineTypes is the pipelineType enum of
// entity/services/ingestionPipelines/ingestionPipeline.json, in its order,
// and policyAgent, which OpenMetadata 2.0.7.0's enum adds (its PipelineType
// has no reverseMetadata; older schemas have it and no policyAgent).
var PipelineTypes = []string{
	"metadata", "usage", "lineage", "profiler", "autoClassification",
	"TestSuite", "dataInsight", "elasticSearchReindex", "dbt", "application",
	"reverseMetadata", "policyAgent",
}

// logLevels is the logLevels enum of metadataIngestion/workflow.json.
var logLevels = []string{"DEBUG", "INFO", "WARN", "ERROR"}

// DefaultClusterName is openMetadataConnection.json's clusterName default.
const DefaultClusterName = "openmetadata"

// ServiceRef is the service EntityReference an ingestion pipeline points
// at. Type is the entity type ("databaseService", or "testSuite" for test
// suite pipelines).
type ServiceRef struct {
	ID, Type, Name, FQN string
}

// Pipeline is an IngestionPipeline entity as OpenMetadata's Airflow APIs
// deploy it to ${AIRFLOW_HOME}/dag_generated_configs/<dag_id>.json
// (openmetadata_managed_apis/operations/deploy.py writes the whole entity,
// secrets shown, with pydantic, so optional fields may be null). A Pipeline
// is immutable after Parse and safe for concurrent use.
//
// The rest of omsecrets reads it through Assemble, NeedsService,
// Definition.Server, Name and Service; its fields stay unexported.
//
// Its raw sourceConfig and openMetadataServerConnection may hold secrets
// (dbt credentials, the bot's JWT): String, GoString and LogValue print
// neither, and no error quotes them.
type Pipeline struct {
	path         string
	name, fqn    string
	pipelineType string
	service      ServiceRef
	loggerLevel  string
	raiseOnError *bool
	streamLogs   bool
	sourceConfig json.RawMessage
	server       json.RawMessage
	srv          serverConnection
}

// serverConnection holds the typed fields of openMetadataServerConnection
// (Definition.Server exports them). workflowBot is parsed so that a
// malformed one is refused, and otherwise ignored, as OpenMetadata 0.13's
// Python client ignored it: it always read the secrets of DefaultBot (see
// legacy.go).
type serverConnection struct {
	hostPort, authProvider, jwtToken   string
	provider, loader, verifySSL, caCrt string
	clusterName, workflowBot           string
	extraHeaders                       map[string]string
}

// Name returns the pipeline's name, which OpenMetadata turns into the DAG
// id and the file name with clean_dag_id (sink.Name does the same).
func (p *Pipeline) Name() string { return p.name }

// Service returns the service reference.
func (p *Pipeline) Service() ServiceRef { return p.service }

// String describes the pipeline without any secret. It and GoString and
// LogValue have value receivers so that a copied Pipeline prints no secret
// either.
func (p Pipeline) String() string {
	return fmt.Sprintf("ingestion pipeline %q (%s, service %s %q)", p.name, p.pipelineType, p.service.Type, p.service.Name)
}

// GoString is String, so that %#v prints no secret either.
func (p Pipeline) GoString() string { return p.String() }

// LogValue logs the pipeline's identity, never its secrets.
func (p Pipeline) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", p.name),
		slog.String("type", p.pipelineType),
		slog.String("service", p.service.Name),
		slog.String("serviceType", p.service.Type),
	)
}

// isPipeline reports whether a decoded document looks like an
// IngestionPipeline rather than a workflow config: it has no source and
// has a string pipelineType, a service or an openMetadataServerConnection
// object. A workflow config cannot have those keys (workflow.json sets
// additionalProperties false).
func isPipeline(doc *render.Document) bool {
	if doc.IsMapping("source") {
		return false
	}
	_, typed := doc.Lookup("pipelineType")
	return typed || doc.IsMapping("service") || doc.IsMapping("openMetadataServerConnection")
}

// parsePipeline reads the IngestionPipeline fields from the JSON form of a
// document already parsed (so syntax and duplicate keys are checked).
func parsePipeline(path string, data []byte) (*Pipeline, error) {
	root, err := decodeObject(path, "", data)
	if err != nil {
		return nil, err
	}
	p := &Pipeline{path: path}
	if p.name, err = root.str("name", true); err != nil {
		return nil, err
	}
	if p.fqn, err = root.str("fullyQualifiedName", true); err != nil {
		return nil, err
	}
	if p.pipelineType, err = root.enum("pipelineType", PipelineTypes, true); err != nil {
		return nil, err
	}
	if p.loggerLevel, err = root.enum("loggerLevel", logLevels, false); err != nil {
		return nil, err
	}
	if v, ok, err := root.boolean("raiseOnError"); err != nil {
		return nil, err
	} else if ok {
		p.raiseOnError = &v
	}
	if p.streamLogs, _, err = root.boolean("enableStreamableLogs"); err != nil {
		return nil, err
	}

	svc, _, err := root.object("service", true)
	if err != nil {
		return nil, err
	}
	if p.service.Type, err = svc.str("type", true); err != nil {
		return nil, err
	}
	if p.service.Name, err = svc.str("name", true); err != nil {
		return nil, err
	}
	if p.service.ID, err = svc.str("id", false); err != nil {
		return nil, err
	}
	if p.service.FQN, err = svc.str("fullyQualifiedName", false); err != nil {
		return nil, err
	}

	sc, raw, err := root.object("sourceConfig", true)
	if err != nil {
		return nil, err
	}
	if _, _, err := sc.object("config", true); err != nil {
		return nil, err
	}
	p.sourceConfig = raw

	srv, raw, err := root.object("openMetadataServerConnection", true)
	if err != nil {
		return nil, err
	}
	p.server = raw
	if err := p.srv.parse(srv); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *serverConnection) parse(o object) error {
	var err error
	for _, f := range []struct {
		key      string
		dst      *string
		required bool
	}{
		{"hostPort", &s.hostPort, true},
		{"authProvider", &s.authProvider, false},
		{ProviderKey, &s.provider, false},
		{"secretsManagerLoader", &s.loader, false},
		{"verifySSL", &s.verifySSL, false},
		{"clusterName", &s.clusterName, false},
		{"workflowBot", &s.workflowBot, false},
	} {
		if *f.dst, err = o.str(f.key, f.required); err != nil {
			return err
		}
	}
	if sec, _, err := o.object("securityConfig", false); err != nil {
		return err
	} else if sec.m != nil {
		if s.jwtToken, err = sec.str("jwtToken", false); err != nil {
			return err
		}
	}
	if ssl, _, err := o.object("sslConfig", false); err != nil {
		return err
	} else if ssl.m != nil {
		if s.caCrt, err = ssl.str("caCertificate", false); err != nil {
			return err
		}
		if s.caCrt == "" {
			if s.caCrt, err = ssl.str("certificatePath", false); err != nil {
				return err
			}
		}
	}
	if h, _, err := o.object("extraHeaders", false); err != nil {
		return err
	} else if h.m != nil {
		s.extraHeaders = make(map[string]string, len(h.m))
		for _, k := range slices.Sorted(maps.Keys(h.m)) {
			if s.extraHeaders[k], err = h.str(k, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// object is one decoded JSON object of a pipeline file, with the dotted
// path of the object for error messages.
type object struct {
	file, prefix string
	m            map[string]json.RawMessage
}

func decodeObject(file, prefix string, raw []byte) (object, error) {
	o := object{file: file, prefix: prefix}
	if first(raw) != '{' {
		return o, o.fail("", ErrInvalidField, "want an object")
	}
	if err := json.Unmarshal(raw, &o.m); err != nil {
		// Unreachable for documents render.Parse accepted; never quote err.
		return o, o.fail("", ErrInvalidField, "want an object")
	}
	return o, nil
}

// field returns the dotted path of key.
func (o object) field(key string) string {
	switch {
	case o.prefix == "":
		return key
	case key == "":
		return o.prefix
	}
	return o.prefix + "." + key
}

func (o object) fail(key string, err error, want string) error {
	field := o.field(key)
	if field == "" {
		field = "(root)"
	}
	if want != "" {
		return fmt.Errorf("%s: %s: %w: %s", o.file, field, err, want)
	}
	return fmt.Errorf("%s: %s: %w", o.file, field, err)
}

// get returns the raw value of key, treating null as absent.
func (o object) get(key string) (json.RawMessage, bool) {
	v, ok := o.m[key]
	if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return nil, false
	}
	return v, true
}

func (o object) str(key string, required bool) (string, error) {
	v, ok := o.get(key)
	if !ok {
		if required {
			return "", o.fail(key, ErrMissingField, "")
		}
		return "", nil
	}
	var s string
	if first(v) != '"' || json.Unmarshal(v, &s) != nil {
		return "", o.fail(key, ErrInvalidField, "want a string")
	}
	if required && s == "" {
		return "", o.fail(key, ErrMissingField, "")
	}
	return s, nil
}

func (o object) enum(key string, allowed []string, required bool) (string, error) {
	s, err := o.str(key, required)
	if err != nil || s == "" || slices.Contains(allowed, s) {
		return s, err
	}
	return "", o.fail(key, ErrInvalidField, "want one of "+strings.Join(allowed, ", "))
}

func (o object) boolean(key string) (value, ok bool, err error) {
	v, ok := o.get(key)
	if !ok {
		return false, false, nil
	}
	var b bool
	if json.Unmarshal(v, &b) != nil {
		return false, false, o.fail(key, ErrInvalidField, "want a boolean")
	}
	return b, true, nil
}

// object returns the object at key and its raw JSON; an absent optional
// object comes back with a nil map.
func (o object) object(key string, required bool) (object, json.RawMessage, error) {
	v, ok := o.get(key)
	if !ok {
		if required {
			return object{}, nil, o.fail(key, ErrMissingField, "")
		}
		return object{}, nil, nil
	}
	child, err := decodeObject(o.file, o.field(key), v)
	return child, v, err
}

// first returns the first non-blank byte of a JSON text, or 0.
func first(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}
