package omtest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// entityTypes maps each service collection to its entity type, as the
// resource classes' @Path and Entity.java's constants name them.
var entityTypes = map[string]string{
	"databaseServices":  "databaseService",
	"dashboardServices": "dashboardService",
	"messagingServices": "messagingService",
	"pipelineServices":  "pipelineService",
	"mlmodelServices":   "mlmodelService",
	"storageServices":   "storageService",
	"metadataServices":  "metadataService",
	"searchServices":    "searchService",
	"apiServices":       "apiService",
	"driveServices":     "driveService",
	"securityServices":  "securityService",
	"llmServices":       "llmService",
}

// collectionOf returns the collection of a service entity type.
func collectionOf(entityType string) (string, bool) {
	for c, t := range entityTypes {
		if t == entityType {
			return c, true
		}
	}
	return "", false
}

// ServiceEntity builds a minimal service entity for PutService: name,
// serviceType, an empty description and connection {"config": config},
// with config's "type" defaulting to serviceType. config is copied
// (shallowly), not kept.
func ServiceEntity(name, serviceType string, config map[string]any) map[string]any {
	cfg := maps.Clone(config)
	if cfg == nil {
		cfg = map[string]any{}
	}
	if _, ok := cfg["type"]; !ok {
		cfg["type"] = serviceType
	}
	return map[string]any{
		"name":        name,
		"serviceType": serviceType,
		"description": "",
		"connection":  map[string]any{"config": cfg},
	}
}

// PutService stores a service entity of entityType (e.g. "databaseService")
// as the server will return it, and returns its id. svc is anything that
// marshals to a JSON object (a map, a json.RawMessage, a struct) and needs
// at least "name". Missing fields get OpenMetadata's: a random UUID id,
// fullyQualifiedName (the name, quoted if it holds a '.'), href, version
// 0.1, updatedAt, updatedBy and deleted false. An entity with the same id
// is replaced; another with the same fullyQualifiedName fails the test.
func (s *Server) PutService(entityType string, svc any) string {
	s.tb.Helper()
	coll, ok := collectionOf(entityType)
	if !ok {
		s.tb.Fatalf("omtest: PutService: unknown service entity type %q", entityType)
	}
	doc, err := toObject(svc)
	if err != nil {
		s.tb.Fatalf("omtest: PutService: %v", err)
	}
	name, _ := doc["name"].(string)
	if name == "" {
		s.tb.Fatalf("omtest: PutService: entity has no name")
	}
	id, _ := doc["id"].(string)
	if id == "" {
		id = newUUID()
	}
	doc["id"] = id
	setDefault(doc, "fullyQualifiedName", quoteName(name))
	setDefault(doc, "href", s.srv.URL+"/api/v1/services/"+coll+"/"+id)
	setDefault(doc, "version", json.Number("0.1"))
	setDefault(doc, "updatedAt", json.Number(strconv.FormatInt(time.Now().UnixMilli(), 10)))
	setDefault(doc, "updatedBy", "admin")
	setDefault(doc, "deleted", false)

	s.mu.Lock()
	defer s.mu.Unlock()
	byID := s.services[entityType]
	if byID == nil {
		byID = map[string]map[string]any{}
		s.services[entityType] = byID
	}
	for otherID, d := range byID {
		if otherID != id && d["fullyQualifiedName"] == doc["fullyQualifiedName"] {
			s.tb.Fatalf("omtest: PutService: %s %v already exists with id %s", entityType, doc["fullyQualifiedName"], otherID)
		}
	}
	byID[id] = doc
	return id
}

// DeleteService hard-deletes the service with that id, fullyQualifiedName
// or name: afterwards every lookup is a 404.
func (s *Server) DeleteService(entityType, nameOrID string) {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.findLocked(entityType, nameOrID)
	delete(s.services[entityType], id)
}

// SoftDeleteService marks the service deleted: lookups without include=all
// or include=deleted are a 404, with them it comes back with deleted true.
func (s *Server) SoftDeleteService(entityType, nameOrID string) {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.findLocked(entityType, nameOrID)
	s.services[entityType][id]["deleted"] = true
}

// RecreateService deletes the service and stores it again under a new id
// (as deleting and re-creating a service in OpenMetadata does), and returns
// the new id.
func (s *Server) RecreateService(entityType, nameOrID string) string {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	oldID := s.findLocked(entityType, nameOrID)
	doc := s.services[entityType][oldID]
	delete(s.services[entityType], oldID)
	newID := newUUID()
	doc["id"] = newID
	if href, ok := doc["href"].(string); ok {
		doc["href"] = strings.TrimSuffix(href, oldID) + newID
	}
	s.services[entityType][newID] = doc
	return newID
}

// RenameService changes the service's name and fullyQualifiedName; its id
// stays.
func (s *Server) RenameService(entityType, nameOrID, newName string) {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.findLocked(entityType, nameOrID)
	doc := s.services[entityType][id]
	doc["name"] = newName
	doc["fullyQualifiedName"] = quoteName(newName)
}

// findLocked returns the id of the service with that id,
// fullyQualifiedName or name, failing the test if there is none. s.mu must
// be held.
func (s *Server) findLocked(entityType, nameOrID string) string {
	s.tb.Helper()
	for id, d := range s.services[entityType] {
		if id == nameOrID || d["fullyQualifiedName"] == nameOrID || d["name"] == nameOrID {
			return id
		}
	}
	s.tb.Fatalf("omtest: no %s %q", entityType, nameOrID)
	return ""
}

// BotToken issues a token for the bot user name. Requests with it get
// connections as stored (secret:<id> references, or plain values).
func (s *Server) BotToken(name string) string { return s.issue(name, true) }

// UserToken issues a token for the non-bot user name. Requests with it get
// Mask for every connection string stored as a secret:<id> reference.
func (s *Server) UserToken(name string) string { return s.issue(name, false) }

// ExpireToken makes tok answer 401 "Expired token!".
func (s *Server) ExpireToken(tok string) {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.principalLocked(tok).expired = true
}

// ForbidToken makes requests with tok answer 403, as for a principal whose
// roles lack the permission to view the service.
func (s *Server) ForbidToken(tok string) {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.principalLocked(tok).forbidden = true
}

// principalLocked returns tok's principal or fails the test, without
// quoting the token. s.mu must be held.
func (s *Server) principalLocked(tok string) *principal {
	s.tb.Helper()
	p := s.tokens[tok]
	if p == nil {
		s.tb.Fatalf("omtest: token not issued by this server")
	}
	return p
}

// issue makes a JWT-shaped token: a header and claims like OpenMetadata's
// (kid, iss, sub, isBot) and a random signature. The server never verifies
// it; it only looks it up.
func (s *Server) issue(name string, bot bool) string {
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "omtest"})
	claims, _ := json.Marshal(map[string]any{
		"iss": "open-metadata.org", "sub": name, "isBot": bot,
		"email": name + "@openmetadata.org", "jti": randomHex(16),
	})
	sig := make([]byte, 64)
	_, _ = rand.Read(sig)
	tok := enc.EncodeToString(header) + "." + enc.EncodeToString(claims) + "." + enc.EncodeToString(sig)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = &principal{name: name, bot: bot}
	return tok
}

// toObject turns v into a generic JSON object (numbers as json.Number).
func toObject(v any) (map[string]any, error) {
	var b []byte
	switch x := v.(type) {
	case json.RawMessage:
		b = x
	case []byte:
		b = x
	case string:
		b = []byte(x)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("entity does not marshal to JSON: %w", err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, fmt.Errorf("entity is not a JSON object")
	}
	return m, nil
}

func setDefault(m map[string]any, k string, v any) {
	if cur, ok := m[k]; !ok || cur == nil || cur == "" {
		m[k] = v
	}
}

// clone deep-copies a generic JSON value.
func clone(m map[string]any) map[string]any {
	out, ok := cloneValue(m).(map[string]any)
	if !ok {
		panic("omtest: clone of a map is not a map")
	}
	return out
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneValue(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = cloneValue(e)
		}
		return a
	}
	return v
}

// isSecretRef reports a stored secret:<id> reference.
func isSecretRef(v any) bool {
	s, ok := v.(string)
	return ok && strings.HasPrefix(s, "secret:")
}

// mask replaces every secret reference in v by Mask, in place.
func mask(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = mask(e)
		}
	case []any:
		for i, e := range x {
			x[i] = mask(e)
		}
	default:
		if isSecretRef(v) {
			return Mask
		}
	}
	return v
}

// dropSecrets removes, in place, every object member whose value is a
// secret reference.
func dropSecrets(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if isSecretRef(e) {
				delete(x, k)
			} else {
				x[k] = dropSecrets(e)
			}
		}
	case []any:
		for i, e := range x {
			x[i] = dropSecrets(e)
		}
	}
	return v
}

// quoteName is OpenMetadata's FullyQualifiedName.quoteName for a valid
// name: quoted if it holds a '.'.
func quoteName(name string) string {
	if strings.Contains(name, ".") && !(strings.HasPrefix(name, `"`) && strings.HasSuffix(name, `"`)) {
		return `"` + name + `"`
	}
	return name
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func isUUID(s string) bool { return uuidRE.MatchString(s) }

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
