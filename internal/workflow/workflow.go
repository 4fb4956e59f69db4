package workflow

import (
	"errors"
	"fmt"
	"path/filepath"
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
)

// ServerConfigPath is where a workflow config keeps its OpenMetadata
// server connection, which holds secretsManagerProvider.
var ServerConfigPath = []string{"workflowConfig", "openMetadataServerConfig"}

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
	// config, the file's base name without its extension.
	Name string
	// Kind is the definition's shape.
	Kind Kind
	// Doc is the decoded document.
	Doc *render.Document
}

// Parse decodes a definition file's contents. The format follows the
// file's extension (.json, .yaml, .yml), sniffed from content otherwise.
// Errors name the file.
func Parse(path string, data []byte) (*Definition, error) {
	doc, err := render.Parse(data, render.FormatOf(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
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

// Provider returns the secretsManagerProvider the definition names, or ""
// when it names none.
func (d *Definition) Provider() string {
	v, _ := d.Doc.Lookup(append(ServerConfigPath, ProviderKey)...)
	return v
}

// MarkResolved sets secretsManagerProvider to "db" so that the Python
// ingestion side, reading the resolved config, makes no second lookup. It
// does nothing when the definition has no server connection.
func (d *Definition) MarkResolved() {
	d.Doc.SetString(ServerConfigPath, ProviderKey, "db")
}
