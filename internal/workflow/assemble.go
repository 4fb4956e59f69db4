package workflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"omsecrets/internal/render"
)

// ErrUnsupportedPipeline marks a pipeline type Assemble does not build; the
// message names the type and why.
var ErrUnsupportedPipeline = errors.New("unsupported pipeline type")

// ErrService marks a Service that does not fit the pipeline or definition
// it is given to.
var ErrService = errors.New("service does not fit")

// Service is the part of a service entity (as the OpenMetadata REST API
// returns it) that a workflow config needs.
type Service struct {
	// EntityType is the entity type, e.g. "databaseService"; it must equal
	// the pipeline's service.type.
	EntityType string
	// ID, Name and FQN identify the service.
	ID, Name, FQN string
	// ServiceType is the connection type, e.g. "Mysql" (the entity's
	// serviceType).
	ServiceType string
	// Connection is the entity's connection object, e.g. {"config":{...}};
	// nil when the API hid it.
	Connection json.RawMessage
}

// String describes the service without its connection.
func (s Service) String() string {
	return fmt.Sprintf("%s %q (%s)", s.EntityType, s.Name, s.ServiceType)
}

// GoString is String, so that %#v prints no connection either.
func (s Service) GoString() string { return s.String() }

// HasConnection reports whether the service carries its connection: its
// Connection is {"config": {...}} where the config object has at least one
// field besides "type". A service fetched with a token that may not see
// connections (OpenMetadata 0.12–0.13 hid them from bots and kept them in
// the secrets manager instead, see ConnectionSecretID) has none, or only
// {"config": {"type": "Mysql"}}.
func (s *Service) HasConnection() bool {
	var conn struct {
		Config map[string]json.RawMessage `json:"config"`
	}
	if first(s.Connection) != '{' || json.Unmarshal(s.Connection, &conn) != nil {
		return false
	}
	for k := range conn.Config {
		if k != "type" {
			return true
		}
	}
	return false
}

// Service entity types build_source fetches (ENTITY_CLASS_MAP in
// openmetadata_managed_apis/workflows/ingestion/common.py); any other
// raises InvalidServiceException there.
var buildSourceEntities = []string{
	"apiService", "databaseService", "driveService", "pipelineService",
	"dashboardService", "messagingService", "mlmodelService",
	"metadataService", "storageService", "searchService",
}

// testSuiteEntity is the service.type of test suite pipelines; build_source
// makes their source without fetching any service.
const testSuiteEntity = "testSuite"

// defaultStageFile is databaseServiceQueryUsagePipeline.json's
// stageFileLocation default, which pydantic fills in when the field is
// absent.
const defaultStageFile = "/tmp/query_log"

// Assemble builds what OpenMetadata's Airflow side (openmetadata-airflow-apis,
// openmetadata_managed_apis/workflows/ingestion/*.py) builds from this
// pipeline before running it, as a Definition with Path, Name and the
// document set. svc is the pipeline's service as the OpenMetadata API
// returns it; pipeline types that fetch no service accept nil. A service
// with a nil Connection gives a source without serviceConnection, which
// `metadata ingest` then fetches itself.
//
// Per pipeline type (OpenMetadata's registry.py maps each to a builder):
//
//	pipelineType          outcome  source.type                 service  added components                                   raiseOnError
//	metadata              built    <serviceType>               needed   sink metadata-rest                                 yes
//	usage                 built    <serviceType>-usage         needed   processor query-parser, stage table-usage,         yes
//	                                                                    bulkSink metadata-usage (filename: stageFileLocation)
//	lineage               built    <serviceType>-lineage       needed   sink metadata-rest                                 yes
//	dbt                   built    dbt                         needed   sink metadata-rest                                 yes
//	profiler              built    <serviceType>               needed   processor orm-profiler, sink metadata-rest         no
//	autoClassification    built    <serviceType>               needed   processor tag-pii-processor, sink metadata-rest    no
//	TestSuite             built    testSuite (no connection)   none¹    processor orm-test-runner, sink metadata-rest      no
//	elasticSearchReindex  built    metadata_elasticsearch      none     sink metadata-rest; serviceConnection is           no
//	                                                                    {"config":{"type":"MetadataES"}}, serviceName the
//	                                                                    service FQN
//	application           built    (no source: an application config for `metadata app -c`, Kind       yes
//	                               KindApplicationConfig: sourcePythonClass, appConfig, appPrivateConfig
//	                               from sourceConfig.config, enableStreamableLogs)
//	dataInsight           error    ErrUnsupportedPipeline: current OpenMetadata registers no builder (data insights run as
//	                               an application); older ones built an elasticsearch sink from the OpenMetadata
//	                               service's elasticsSearch settings
//	reverseMetadata       error    ErrUnsupportedPipeline: OpenMetadata's Airflow APIs register no builder for it
//	policyAgent           error    ErrUnsupportedPipeline: OpenMetadata 2.0.7.0's Airflow APIs register no builder for it
//
// ¹ build_source branches on the pipeline's service.type, not on its
// pipelineType: service.type "testSuite" gives the test suite source (no
// service fetched, serviceName the suite's name) whatever the type, and a
// TestSuite pipeline pointing at another service needs that service.
//
// <serviceType> is the service's serviceType lower-cased ("Mysql" →
// "mysql"). "needed" means svc is required, its EntityType must equal the
// pipeline's service.type and be one build_source fetches. The usage
// staging file is sourceConfig.config.stageFileLocation, /tmp/query_log
// (its schema default) when absent, null or empty. Every built
// config has workflowConfig {loggerLevel (INFO when unset),
// raiseOnError (the pipeline's, true when unset; only where the column says
// yes, as build_workflow_config_property sets it), openMetadataServerConfig
// (the pipeline's openMetadataServerConnection as is)} and
// ingestionPipelineFQN; sourceConfig is the pipeline's as is. No
// pipelineRunId: OpenMetadata draws one when Airflow parses the DAG, not at
// deploy time, and `metadata ingest` draws its own. Key order follows
// OpenMetadata's models: source, processor, sink, stage, bulkSink,
// workflowConfig, ingestionPipelineFQN.
func (p *Pipeline) Assemble(svc *Service) (*Definition, error) {
	var (
		doc  ordered
		kind = KindWorkflowConfig
		err  error
	)
	switch p.pipelineType {
	case "metadata":
		doc, err = p.serviceWorkflow(svc, "", nil, true)
	case "usage":
		doc, err = p.serviceWorkflow(svc, "-usage", nil, true)
		if err == nil {
			file := p.stageFile()
			// usage.py has no sink: the bulk sink writes.
			doc = doc.without("sink").with(
				member{"processor", component("query-parser", ordered{})},
				member{"stage", component("table-usage", ordered{{"filename", file}})},
				member{"bulkSink", component("metadata-usage", ordered{{"filename", file}})},
			)
		}
	case "lineage":
		doc, err = p.serviceWorkflow(svc, "-lineage", nil, true)
	case "dbt":
		doc, err = p.serviceWorkflow(svc, "", func(string) string { return "dbt" }, true)
	case "profiler", "autoClassification":
		doc, err = p.serviceWorkflow(svc, "", nil, false)
		if err == nil {
			// As openmetadata-managed-apis 2.0.7.0's profiler.py and
			// auto_classification.py name them.
			processor := "orm-profiler"
			if p.pipelineType == "autoClassification" {
				processor = "tag-pii-processor"
			}
			doc = doc.with(member{"processor", component(processor, ordered{})})
		}
	case "TestSuite":
		doc, err = p.serviceWorkflow(svc, "", nil, false)
		if err == nil {
			doc = doc.with(member{"processor", component("orm-test-runner", ordered{})})
		}
	case "elasticSearchReindex":
		doc = p.esReindex()
	case "application":
		doc, err = p.application()
		kind = KindApplicationConfig
	case "dataInsight":
		return nil, fmt.Errorf("%s: %w: dataInsight: current OpenMetadata deploys no DAG for it (data insights run as an application) and older releases built an elasticsearch sink from the OpenMetadata service's settings", p.path, ErrUnsupportedPipeline)
	case "reverseMetadata", "policyAgent":
		return nil, fmt.Errorf("%s: %w: %s: OpenMetadata's Airflow APIs register no DAG builder for it", p.path, ErrUnsupportedPipeline, p.pipelineType)
	default:
		// Parse only accepts PipelineTypes; this guards a new enum value.
		return nil, fmt.Errorf("%s: %w: pipelineType has no builder", p.path, ErrUnsupportedPipeline)
	}
	if err != nil {
		return nil, err
	}
	out, err := doc.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("%s: assemble: %w", p.path, err)
	}
	d, err := render.Parse(out, render.JSON)
	if err != nil {
		return nil, fmt.Errorf("%s: assemble: %w", p.path, err)
	}
	return &Definition{Path: p.path, Name: p.name, Kind: kind, Doc: d}, nil
}

// serviceWorkflow builds the workflow config every service-based builder
// starts from: build_source, a metadata-rest sink, the workflowConfig and
// ingestionPipelineFQN. typeOf, when set, replaces the source type (dbt.py
// sets "dbt").
func (p *Pipeline) serviceWorkflow(svc *Service, suffix string, typeOf func(string) string, raiseOnError bool) (ordered, error) {
	source, err := p.buildSource(svc)
	if err != nil {
		return nil, err
	}
	t := source[0].val.(string) + suffix
	if typeOf != nil {
		t = typeOf(t)
	}
	source[0].val = t
	return ordered{
		{"source", source},
		{"sink", component("metadata-rest", ordered{})},
		{"workflowConfig", p.workflowConfig(raiseOnError)},
		{"ingestionPipelineFQN", p.fqn},
	}, nil
}

// buildSource does what build_source in common.py does. Its first member
// is always the source type.
func (p *Pipeline) buildSource(svc *Service) (ordered, error) {
	sourceConfig := json.RawMessage(p.sourceConfig)
	if p.service.Type == testSuiteEntity {
		// The test suite workflow finds its connection through
		// sourceConfig.config.entityFullyQualifiedName.
		return ordered{
			{"type", testSuiteEntity},
			{"serviceName", p.service.Name},
			{"sourceConfig", sourceConfig},
		}, nil
	}
	if !slices.Contains(buildSourceEntities, p.service.Type) {
		return nil, fmt.Errorf("%s: service.type: %w: want one of %s, or %s", p.path, ErrInvalidField, strings.Join(buildSourceEntities, ", "), testSuiteEntity)
	}
	if svc == nil {
		return nil, fmt.Errorf("%s: %w: pipeline type %s needs its %s", p.path, ErrService, p.pipelineType, p.service.Type)
	}
	switch {
	case svc.EntityType != p.service.Type:
		return nil, fmt.Errorf("%s: %w: service entity type is not the pipeline's service.type %s", p.path, ErrService, p.service.Type)
	case svc.ServiceType == "":
		return nil, fmt.Errorf("%s: %w: service type missing", p.path, ErrService)
	case svc.Name == "":
		return nil, fmt.Errorf("%s: %w: service name missing", p.path, ErrService)
	}
	source := ordered{
		{"type", strings.ToLower(svc.ServiceType)},
		{"serviceName", svc.Name},
	}
	conn, err := svc.connection()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.path, err)
	}
	if conn != nil {
		source = append(source, member{"serviceConnection", conn})
	}
	return append(source, member{"sourceConfig", sourceConfig}), nil
}

// connection returns the service's connection, nil when hidden, or an
// error when it is not a JSON object.
func (s *Service) connection() (json.RawMessage, error) {
	c := bytes.TrimSpace(s.Connection)
	if len(c) == 0 || bytes.Equal(c, []byte("null")) {
		return nil, nil
	}
	doc, err := render.Parse(c, render.JSON)
	if err != nil {
		return nil, fmt.Errorf("%w: service connection: %w", ErrService, err)
	}
	if !doc.IsMapping() {
		return nil, fmt.Errorf("%w: service connection: not an object", ErrService)
	}
	return json.RawMessage(c), nil
}

// workflowConfig is build_workflow_config_property (raiseOnError true) or
// the WorkflowConfig(loggerLevel, openMetadataServerConfig) the profiler,
// auto classification, test suite and reindex builders make.
func (p *Pipeline) workflowConfig(raiseOnError bool) ordered {
	level := p.loggerLevel
	if level == "" {
		level = "INFO" // `ingestion_pipeline.loggerLevel or LogLevels.INFO`
	}
	wc := ordered{{"loggerLevel", level}}
	if raiseOnError {
		// IngestionPipeline.raiseOnError defaults to true in the model (a
		// null counts as unset).
		wc = append(wc, member{"raiseOnError", p.raiseOnError == nil || *p.raiseOnError})
	}
	return append(wc, member{"openMetadataServerConfig", json.RawMessage(p.server)})
}

// stageFile is usage.py's staging file: sourceConfig.config.
// stageFileLocation, whose schema default pydantic fills in when absent.
// When it is null or empty OpenMetadata stages to a NamedTemporaryFile; a
// file on disk needs a stable path, so the default is used then too.
func (p *Pipeline) stageFile() string {
	var sc struct {
		Config struct {
			StageFileLocation *string `json:"stageFileLocation"`
		} `json:"config"`
	}
	if json.Unmarshal(p.sourceConfig, &sc) == nil && sc.Config.StageFileLocation != nil && *sc.Config.StageFileLocation != "" {
		return *sc.Config.StageFileLocation
	}
	return defaultStageFile
}

// esReindex is build_es_reindex_workflow_config in es_reindex.py. It
// fetches the OpenMetadata service only to check it exists.
func (p *Pipeline) esReindex() ordered {
	name := p.service.FQN
	if name == "" {
		name = p.service.Name // a reference without fullyQualifiedName
	}
	return ordered{
		{"source", ordered{
			{"type", "metadata_elasticsearch"},
			{"serviceName", name},
			// MetadataConnection(config=MetadataESConnection()): every other
			// field of MetadataESConnection has a default.
			{"serviceConnection", ordered{{"config", ordered{{"type", "MetadataES"}}}}},
			{"sourceConfig", json.RawMessage(p.sourceConfig)},
		}},
		{"sink", component("metadata-rest", ordered{})},
		{"workflowConfig", p.workflowConfig(false)},
		{"ingestionPipelineFQN", p.fqn},
	}
}

// application is build_application_workflow_config in application.py.
func (p *Pipeline) application() (ordered, error) {
	var sc struct {
		Config map[string]json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(p.sourceConfig, &sc); err != nil {
		return nil, fmt.Errorf("%s: sourceConfig.config: %w: want an object", p.path, ErrInvalidField)
	}
	cfg := object{file: p.path, prefix: "sourceConfig.config", m: sc.Config}
	class, err := cfg.str("sourcePythonClass", false)
	if err != nil {
		return nil, err
	}
	app := ordered{{"workflowConfig", p.workflowConfig(true)}}
	if class != "" {
		app = append(app, member{"sourcePythonClass", class})
	}
	for _, key := range []string{"appConfig", "appPrivateConfig"} {
		if v, ok := cfg.get(key); ok {
			if first(v) != '{' {
				return nil, cfg.fail(key, ErrInvalidField, "want an object")
			}
			app = append(app, member{key, v})
		}
	}
	return append(app,
		member{"ingestionPipelineFQN", p.fqn},
		member{"enableStreamableLogs", p.streamLogs},
	), nil
}

// NeedsService reports whether a workflow config names its service but
// carries no connection for it (source.serviceName set, source.
// serviceConnection absent or null), and which service that is: Type is
// the entity type EntityTypeOf derives from source.type, Name the
// serviceName. It reports false for other kinds and for source types that
// name no service.
func (d *Definition) NeedsService() (ServiceRef, bool) {
	if d.Kind != KindWorkflowConfig {
		return ServiceRef{}, false
	}
	name, ok := d.Doc.Lookup("source", "serviceName")
	if !ok || name == "" || d.Doc.IsMapping("source", "serviceConnection") {
		return ServiceRef{}, false
	}
	if _, ok := d.Doc.Lookup("source", "serviceConnection"); ok {
		return ServiceRef{}, false // a string, e.g. a reference to resolve
	}
	st, _ := d.Doc.Lookup("source", "type")
	entity, ok := EntityTypeOf(st)
	if !ok {
		return ServiceRef{}, false
	}
	return ServiceRef{Type: entity, Name: name}, true
}

// CompleteService sets source.serviceConnection of a workflow config for
// which NeedsService reports true to svc's connection. svc must be that
// service (same entity type and name) and carry a connection.
func (d *Definition) CompleteService(svc *Service) error {
	ref, ok := d.NeedsService()
	if !ok {
		return fmt.Errorf("%s: %w: the definition needs no service connection", d.Path, ErrService)
	}
	switch {
	case svc == nil:
		return fmt.Errorf("%s: %w: no service", d.Path, ErrService)
	case svc.EntityType != ref.Type:
		return fmt.Errorf("%s: %w: service entity type is not %s", d.Path, ErrService, ref.Type)
	case svc.Name != ref.Name:
		return fmt.Errorf("%s: %w: service name is not source.serviceName", d.Path, ErrService)
	}
	conn, err := svc.connection()
	if err != nil {
		return fmt.Errorf("%s: %w", d.Path, err)
	}
	if conn == nil {
		return fmt.Errorf("%s: %w: the service has no connection", d.Path, ErrService)
	}
	if err := d.Doc.SetJSON([]string{"source"}, "serviceConnection", conn); err != nil {
		return fmt.Errorf("%s: %w", d.Path, err)
	}
	return nil
}

// component is a processor, stage, sink or bulkSink entry.
func component(typ string, config ordered) ordered {
	return ordered{{"type", typ}, {"config", config}}
}

// member is one key of an ordered JSON object. val is a string, a bool, a
// json.RawMessage (valid JSON, written as is) or an ordered.
type member struct {
	key string
	val any
}

// ordered is a JSON object that keeps its key order.
type ordered []member

// with returns o with the members inserted in OpenMetadata's key order
// (workflowOrder); members of other names go before workflowConfig.
func (o ordered) with(ms ...member) ordered {
	out := append(slices.Clone(o), ms...)
	slices.SortStableFunc(out, func(a, b member) int {
		return rank(a.key) - rank(b.key)
	})
	return out
}

// without returns o without the member named key.
func (o ordered) without(key string) ordered {
	return slices.DeleteFunc(slices.Clone(o), func(m member) bool { return m.key == key })
}

// workflowOrder is the property order of openMetadataWorkflowConfig in
// metadataIngestion/workflow.json, which pydantic keeps when it dumps.
var workflowOrder = []string{"source", "processor", "sink", "stage", "bulkSink", "workflowConfig", "ingestionPipelineFQN"}

func rank(key string) int {
	if i := slices.Index(workflowOrder, key); i >= 0 {
		return i
	}
	return slices.Index(workflowOrder, "workflowConfig")
}

// MarshalJSON writes the object with its keys in order and without HTML
// escaping.
func (o ordered) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := o.write(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (o ordered) write(b *bytes.Buffer) error {
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(b, m.key)
		b.WriteByte(':')
		switch v := m.val.(type) {
		case string:
			writeString(b, v)
		case bool:
			fmt.Fprint(b, v)
		case json.RawMessage:
			if !json.Valid(v) {
				return fmt.Errorf("%s: invalid JSON", m.key)
			}
			b.Write(v)
		case ordered:
			if err := v.write(b); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: unsupported value", m.key)
		}
	}
	b.WriteByte('}')
	return nil
}

func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	b.Truncate(b.Len() - 1)
}

// NeedsService reports whether Assemble needs the pipeline's service
// entity: every pipeline type that build_source fetches a service for,
// unless its service is a test suite (see the table on Assemble).
func (p *Pipeline) NeedsService() bool {
	switch p.pipelineType {
	case "elasticSearchReindex", "application", "dataInsight", "reverseMetadata":
		return false
	}
	return p.service.Type != testSuiteEntity
}
