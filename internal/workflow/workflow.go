package workflow

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"omsecrets/internal/render"
)

// Kind names the shape of a definition.
type Kind string

// Kinds.
const (
	// KindWorkflowConfig is a self-contained workflow config, the file
	// `metadata ingest -c` reads: source, sink, workflowConfig.
	KindWorkflowConfig Kind = "workflow-config"
	// KindIngestionPipeline is an IngestionPipeline entity as OpenMetadata's
	// Airflow APIs deploy it to dag_generated_configs/<dag_id>.json. It is
	// not runnable as is: Pipeline.Assemble turns it into a workflow config.
	KindIngestionPipeline Kind = "ingestion-pipeline"
	// KindApplicationConfig is the config `metadata app -c` reads
	// (metadataIngestion/application.json): what Pipeline.Assemble builds
	// for an application pipeline. It keeps its server connection where a
	// workflow config does, at ServerConfigPath.
	KindApplicationConfig Kind = "application-config"
)

// ServerConfigPath is where a workflow config keeps its OpenMetadata
// server connection, which holds secretsManagerProvider.
var ServerConfigPath = []string{"workflowConfig", "openMetadataServerConfig"}

// PipelineServerConfigPath is where an ingestion pipeline keeps its
// OpenMetadata server connection.
var PipelineServerConfigPath = []string{"openMetadataServerConnection"}

// ProviderKey is the key of the secrets-manager provider in the server
// connection.
const ProviderKey = "secretsManagerProvider"

// ErrNotWorkflow marks a document that is not a workflow definition.
var ErrNotWorkflow = errors.New("not a workflow config")

// Definition is one parsed definition file.
type Definition struct {
	// Path is the file the definition came from.
	Path string
	// Name is the raw name its output is named after: for a workflow
	// config, the file's base name without its extension; for an ingestion
	// pipeline and what Assemble builds from it, the pipeline's name, which
	// OpenMetadata cleans into the DAG id (deploy.py: dag_id =
	// clean_dag_id(ingestion_pipeline.name)), as sink.Name does.
	Name string
	// Kind is the definition's shape.
	Kind Kind
	// Doc is the decoded document.
	Doc *render.Document
	// Pipeline is set for KindIngestionPipeline only.
	Pipeline *Pipeline
}

// Parse decodes a definition file's contents. The format follows the
// file's extension (.json, .yaml, .yml), sniffed from content otherwise.
// A document without a source and with a string pipelineType, a service
// object or an openMetadataServerConnection object is an ingestion
// pipeline (KindIngestionPipeline, with Pipeline set); anything else must
// be a workflow config. Errors are one line naming the file and, for a
// pipeline, the field; they never quote a value.
func Parse(path string, data []byte) (*Definition, error) {
	doc, err := render.Parse(data, render.FormatOf(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if isPipeline(doc) {
		return parsePipelineDefinition(path, data, doc)
	}
	for _, key := range []string{"source", "workflowConfig"} {
		if !doc.IsMapping(key) {
			return nil, fmt.Errorf("%s: %w: %s is missing or not an object", path, ErrNotWorkflow, key)
		}
	}
	base := filepath.Base(path)
	return &Definition{
		Path: path,
		Name: strings.TrimSuffix(base, filepath.Ext(base)),
		Kind: KindWorkflowConfig,
		Doc:  doc,
	}, nil
}

// parsePipelineDefinition reads an ingestion pipeline from its JSON form
// (YAML is converted, keeping key order).
func parsePipelineDefinition(path string, data []byte, doc *render.Document) (*Definition, error) {
	if doc.Format() != render.JSON {
		var err error
		if data, err = doc.Marshal(render.JSON); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	p, err := parsePipeline(path, data)
	if err != nil {
		return nil, err
	}
	return &Definition{Path: path, Name: p.name, Kind: KindIngestionPipeline, Doc: doc, Pipeline: p}, nil
}

// serverConfigPath is where the definition keeps its server connection.
func (d *Definition) serverConfigPath() []string {
	if d.Kind == KindIngestionPipeline {
		return PipelineServerConfigPath
	}
	return ServerConfigPath
}

// Provider returns the secretsManagerProvider the definition names, or ""
// when it names none.
func (d *Definition) Provider() string {
	v, _ := d.Doc.Lookup(append(slices.Clone(d.serverConfigPath()), ProviderKey)...)
	return v
}

// MarkResolved sets secretsManagerProvider to "db" so that the Python
// ingestion side, reading the resolved config, makes no second lookup. It
// does nothing when the definition has no server connection.
func (d *Definition) MarkResolved() {
	d.Doc.SetString(d.serverConfigPath(), ProviderKey, "db")
}
