package omclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"omsecrets/internal/workflow"
)

// collections maps the EntityReference type of every service kind to its
// REST collection. Each was checked against the @Path of its resource class
// in open-metadata/OpenMetadata openmetadata-service/.../resources/services
// (e.g. MlModelServiceResource @Path("/v1/services/mlmodelServices"),
// APIServiceResource "/v1/services/apiServices", LLMServiceResource
// "/v1/services/llmServices"); the keys are Entity.DATABASE_SERVICE and its
// siblings in Entity.java.
var collections = map[string]string{
	"databaseService":  "databaseServices",
	"dashboardService": "dashboardServices",
	"messagingService": "messagingServices",
	"pipelineService":  "pipelineServices",
	"mlmodelService":   "mlmodelServices",
	"storageService":   "storageServices",
	"metadataService":  "metadataServices",
	"searchService":    "searchServices",
	"apiService":       "apiServices",
	"driveService":     "driveServices",
	"securityService":  "securityServices",
	"llmService":       "llmServices",
}

// ServiceTypes returns the service entity types [Client.Service] accepts,
// sorted.
func ServiceTypes() []string {
	out := make([]string, 0, len(collections))
	for t := range collections {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// ServiceRef names a service entity, as the service EntityReference of an
// IngestionPipeline does. Type is required; so is ID or one of Name and
// FQN. FQN is quoted as OpenMetadata does (e.g. "my.svc" with the double
// quotes) and takes precedence over Name, which is unquoted.
type ServiceRef = workflow.ServiceRef

// Service is a service entity as the API returned it: the part a workflow
// config needs, plus what only the client sees.
//
// Raw and Connection may hold secret values (with the "db" secrets manager
// provider a bot receives plain passwords): never log or print them.
// Service's String, GoString and LogValue show only its identity.
type Service struct {
	workflow.Service
	// Raw is the whole response body.
	Raw json.RawMessage
	// Deleted reports a soft-deleted service.
	Deleted bool
}

// String identifies the service, e.g. `databaseService "mysql" (id 891b…)`.
func (s *Service) String() string {
	if s == nil {
		return "<nil service>"
	}
	d := ""
	if s.Deleted {
		d = ", deleted"
	}
	return fmt.Sprintf("%s %q (id %s%s)", s.EntityType, s.FQN, s.ID, d)
}

// GoString is String, so that %#v cannot print Raw or Connection.
func (s *Service) GoString() string { return s.String() }

// LogValue logs the service's identity, never its connection.
func (s *Service) LogValue() slog.Value {
	if s == nil {
		return slog.StringValue("<nil service>")
	}
	return slog.GroupValue(
		slog.String("type", s.EntityType),
		slog.String("id", s.ID),
		slog.String("fqn", s.FQN),
		slog.String("serviceType", s.ServiceType),
		slog.Bool("deleted", s.Deleted),
		slog.Bool("connection", s.Connection != nil),
	)
}

// wireService is the part of a service entity this package reads.
type wireService struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	FQN         string          `json:"fullyQualifiedName"`
	ServiceType string          `json:"serviceType"`
	Connection  json.RawMessage `json:"connection"`
	Deleted     bool            `json:"deleted"`
}

// decodeService decodes a service entity body. body is kept as Raw, not
// copied. Errors describe the problem without quoting the body.
func decodeService(entityType string, body []byte) (*Service, error) {
	var w wireService
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, describeJSONError(err)
	}
	if w.ID == "" || w.Name == "" {
		return nil, errors.New("entity has no id or name")
	}
	conn := bytes.TrimSpace(w.Connection)
	switch {
	case len(conn) == 0 || string(conn) == "null":
		conn = nil
	case conn[0] != '{':
		return nil, errors.New("connection is not a JSON object")
	}
	fqn := w.FQN
	if fqn == "" {
		fqn = quoteName(w.Name)
	}
	return &Service{
		Service: workflow.Service{
			EntityType:  entityType,
			ID:          w.ID,
			Name:        w.Name,
			FQN:         fqn,
			ServiceType: w.ServiceType,
			Connection:  json.RawMessage(conn),
		},
		Raw:     json.RawMessage(body),
		Deleted: w.Deleted,
	}, nil
}

// describeJSONError describes a decoding error by position or Go type only:
// a *json.SyntaxError's message quotes the offending character, and the
// body may hold secrets.
func describeJSONError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Errorf("body is a JSON %s, not an object", typ.Value)
		}
		return fmt.Errorf("field %s is a JSON %s", typ.Field, typ.Value)
	default:
		return errors.New("invalid JSON")
	}
}

// quoteName turns a service name into its fully qualified name the way
// OpenMetadata's FullyQualifiedName.quoteName does: a name containing '.'
// is wrapped in double quotes ("my.svc"), an already quoted name keeps its
// quotes only if it contains '.', and any other name is unchanged. A name
// with a '"' inside is invalid there; it is returned as is and the server
// will not find it.
func quoteName(name string) string {
	if len(name) >= 2 && name[0] == '"' && name[len(name)-1] == '"' {
		inner := name[1 : len(name)-1]
		if inner != "" && !strings.Contains(inner, `"`) {
			if strings.Contains(inner, ".") {
				return name
			}
			return inner
		}
	}
	if !strings.Contains(name, `"`) && strings.Contains(name, ".") {
		return `"` + name + `"`
	}
	return name
}

// escapeSegment percent-encodes s as one path segment: every byte except
// ALPHA, DIGIT and "-._~", so '/', '"', '%', '+', spaces and non-ASCII
// bytes are all encoded. This is what OpenMetadata's Python client does
// (ometa_api.get_by_name: quote(fqn, safe="")). A segment made only of dots
// is encoded entirely, so that "." and ".." never act as path steps.
func escapeSegment(s string) string {
	allDots := strings.Trim(s, ".") == ""
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if unreserved(c) && (c != '.' || !allDots) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
