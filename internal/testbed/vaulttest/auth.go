package vaulttest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxBody bounds the request bodies the Server reads (logins, renewals).
const maxBody = 1 << 20

// TokenOptions describes a token to issue.
type TokenOptions struct {
	// TTL is the token's lifetime from issue and from each renewal; 0
	// means it never expires.
	TTL time.Duration
	// MaxTTL caps the lifetime from issue across renewals; 0 means none.
	MaxTTL time.Duration
	// Renewable allows renew-self.
	Renewable bool
	// Namespace is the namespace the token is valid in.
	Namespace string
	// AllNamespaces makes the token valid in every namespace (as a root
	// namespace token with access to its children).
	AllNamespaces bool
	// Policies are reported by lookup-self ("default" if empty).
	Policies []string
}

// token is an issued token.
type token struct {
	id       string
	accessor string
	opts     TokenOptions
	method   string // "token", "kubernetes", "approle"
	role     string
	issued   time.Time
	expiry   time.Time // zero: never
	revoked  bool
}

// KubernetesRole is a role of a Kubernetes auth mount.
type KubernetesRole struct {
	// Namespace is the Vault namespace of the auth mount.
	Namespace string
	// Mount is the auth mount ("kubernetes" if empty).
	Mount string
	// Role is the role name a login names.
	Role string
	// JWT is the service account token a login must present.
	JWT string
	// Token describes the tokens a login issues (its Namespace is
	// ignored: tokens are valid in the mount's namespace).
	Token TokenOptions
}

// AppRole is a role of an AppRole auth mount.
type AppRole struct {
	// Namespace is the Vault namespace of the auth mount.
	Namespace string
	// Mount is the auth mount ("approle" if empty).
	Mount string
	// RoleID and SecretID are what a login must present; an empty
	// SecretID accepts logins with the role id alone (bind_secret_id
	// false).
	RoleID   string
	SecretID string
	// Token describes the tokens a login issues.
	Token TokenOptions
}

// IssueToken issues a token and returns it.
func (s *Server) IssueToken(o TokenOptions) string {
	return s.issue(o, "token", "")
}

func (s *Server) issue(o TokenOptions, method, role string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueLocked(o, method, role)
}

func (s *Server) issueLocked(o TokenOptions, method, role string) string {
	o.Namespace = normNamespace(o.Namespace)
	if len(o.Policies) == 0 {
		o.Policies = []string{"default"}
	}
	now := s.now()
	t := &token{id: "hvs." + randomID(24), accessor: randomID(24), opts: o, method: method, role: role, issued: now}
	if o.TTL > 0 {
		t.expiry = now.Add(o.TTL)
		if o.MaxTTL > 0 && t.expiry.After(now.Add(o.MaxTTL)) {
			t.expiry = now.Add(o.MaxTTL)
		}
	}
	s.tokens[t.id] = t
	return t.id
}

// RevokeToken revokes tok: requests with it get 403 from now on.
func (s *Server) RevokeToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tokens[tok]; t != nil {
		t.revoked = true
	}
}

// ExpireToken makes tok expire now, whatever its TTL.
func (s *Server) ExpireToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tokens[tok]; t != nil {
		t.expiry = s.now().Add(-time.Second)
	}
}

// TokenExpiry returns when tok expires (zero for never) and whether the
// Server issued it.
func (s *Server) TokenExpiry(tok string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[tok]
	if t == nil {
		return time.Time{}, false
	}
	return t.expiry, true
}

// AddKubernetesRole enables a Kubernetes role.
func (s *Server) AddKubernetesRole(r KubernetesRole) {
	if r.Mount == "" {
		r.Mount = "kubernetes"
	}
	r.Namespace = normNamespace(r.Namespace)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.k8sRoles[authKey(r.Namespace, r.Mount, r.Role)] = r
}

// AddAppRole enables an AppRole.
func (s *Server) AddAppRole(r AppRole) {
	if r.Mount == "" {
		r.Mount = "approle"
	}
	r.Namespace = normNamespace(r.Namespace)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appRoles[authKey(r.Namespace, r.Mount, r.RoleID)] = r
}

// SetAppRoleSecretID changes the secret id of an AppRole added before, as
// rotating it does.
func (s *Server) SetAppRoleSecretID(ns, mountName, roleID, secretID string) {
	if mountName == "" {
		mountName = "approle"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := authKey(normNamespace(ns), mountName, roleID)
	r := s.appRoles[k]
	r.SecretID = secretID
	s.appRoles[k] = r
}

func authKey(ns, mountName, role string) string { return ns + "\x00" + mountName + "\x00" + role }

// authenticate returns the valid token of r for namespace ns, or nil.
func (s *Server) authenticateLocked(r *http.Request, ns string) *token {
	t := s.tokens[r.Header.Get("X-Vault-Token")]
	switch {
	case t == nil, t.revoked:
		return nil
	case !t.expiry.IsZero() && !s.now().Before(t.expiry):
		return nil
	case !t.opts.AllNamespaces && t.opts.Namespace != ns:
		return nil
	}
	return t
}

// ttlSeconds is the remaining lifetime of t in whole seconds (0: none).
func (s *Server) ttlSeconds(t *token) int {
	if t.expiry.IsZero() {
		return 0
	}
	return int(t.expiry.Sub(s.now()).Round(time.Second) / time.Second)
}

// lookupSelf answers auth/token/lookup-self.
func (s *Server) lookupSelf(w http.ResponseWriter, t *token) {
	expire := any(nil)
	if !t.expiry.IsZero() {
		expire = t.expiry.UTC().Format(time.RFC3339Nano)
	}
	writeJSON(w, http.StatusOK, secretBody(map[string]any{
		"accessor":         t.accessor,
		"creation_time":    t.issued.Unix(),
		"creation_ttl":     int(t.opts.TTL / time.Second),
		"display_name":     t.method,
		"entity_id":        "",
		"expire_time":      expire,
		"explicit_max_ttl": int(t.opts.MaxTTL / time.Second),
		// Vault returns the token itself as "id": clients must not
		// log this response.
		"id":          t.id,
		"issue_time":  t.issued.UTC().Format(time.RFC3339Nano),
		"meta":        map[string]any{"role": t.role},
		"num_uses":    0,
		"orphan":      true,
		"path":        "auth/" + t.method + "/login",
		"policies":    t.opts.Policies,
		"renewable":   t.opts.Renewable,
		"ttl":         s.ttlSeconds(t),
		"type":        "service",
		"namespace":   t.opts.Namespace,
		"accessor_ns": t.opts.Namespace,
	}, nil))
}

// renewSelf answers auth/token/renew-self: the token lives TTL (or the
// requested increment, if shorter) from now, capped by its MaxTTL.
func (s *Server) renewSelf(w http.ResponseWriter, r *http.Request, t *token) {
	if !t.opts.Renewable || t.opts.TTL == 0 {
		writeErrors(w, http.StatusBadRequest, "lease is not renewable")
		return
	}
	var body struct {
		Increment any `json:"increment"`
	}
	if err := readJSON(r, &body); err != nil {
		writeErrors(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	inc := t.opts.TTL
	if d, ok := parseIncrement(body.Increment); ok && d > 0 && d < inc {
		inc = d
	}
	now := s.now()
	t.expiry = now.Add(inc)
	if t.opts.MaxTTL > 0 && t.expiry.After(t.issued.Add(t.opts.MaxTTL)) {
		t.expiry = t.issued.Add(t.opts.MaxTTL)
	}
	writeJSON(w, http.StatusOK, secretBody(nil, s.authBody(t)))
}

// parseIncrement reads renew-self's increment: seconds as a number or
// string, or a Go duration string.
func parseIncrement(v any) (time.Duration, bool) {
	switch x := v.(type) {
	case float64:
		return time.Duration(x) * time.Second, true
	case string:
		if n, err := strconv.Atoi(x); err == nil {
			return time.Duration(n) * time.Second, true
		}
		d, err := time.ParseDuration(x)
		return d, err == nil
	}
	return 0, false
}

// authBody is the "auth" object of a login or renewal.
func (s *Server) authBody(t *token) map[string]any {
	return map[string]any{
		"client_token":   t.id,
		"accessor":       t.accessor,
		"policies":       t.opts.Policies,
		"token_policies": t.opts.Policies,
		"metadata":       map[string]any{"role": t.role},
		"lease_duration": s.ttlSeconds(t),
		"renewable":      t.opts.Renewable,
		"entity_id":      "",
		"token_type":     "service",
		"orphan":         true,
	}
}

// login answers auth/<mount>/login for a Kubernetes or AppRole mount.
func (s *Server) login(w http.ResponseWriter, r *http.Request, ns, mountName string) {
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	var body struct {
		Role     string `json:"role"`
		JWT      string `json:"jwt"`
		RoleID   string `json:"role_id"`
		SecretID string `json:"secret_id"`
	}
	if err := readJSON(r, &body); err != nil {
		writeErrors(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	if s.kubernetesMountLocked(ns, mountName) {
		if body.Role == "" {
			writeErrors(w, http.StatusBadRequest, "missing role")
			return
		}
		role, ok := s.k8sRoles[authKey(ns, mountName, body.Role)]
		switch {
		case !ok:
			writeErrors(w, http.StatusBadRequest, fmt.Sprintf("invalid role name %q", body.Role))
		case body.JWT == "":
			writeErrors(w, http.StatusBadRequest, "missing jwt")
		case body.JWT != role.JWT:
			writeErrors(w, http.StatusForbidden, ErrPermissionDenied)
		default:
			s.grant(w, role.Token, ns, "kubernetes", mountName, body.Role)
		}
		return
	}
	if s.appRoleMountLocked(ns, mountName) {
		role, ok := s.appRoles[authKey(ns, mountName, body.RoleID)]
		switch {
		case body.RoleID == "":
			writeErrors(w, http.StatusBadRequest, "missing role_id")
		case !ok || (role.SecretID != "" && body.SecretID != role.SecretID):
			writeErrors(w, http.StatusBadRequest, "invalid role or secret ID")
		default:
			s.grant(w, role.Token, ns, "approle", mountName, body.RoleID)
		}
		return
	}
	writeErrors(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", "auth/"+mountName+"/login"))
}

func (s *Server) grant(w http.ResponseWriter, o TokenOptions, ns, method, mountName, role string) {
	o.Namespace, o.AllNamespaces = ns, false
	id := s.issueLocked(o, method, role)
	s.logins = append(s.logins, Login{Method: method, Mount: mountName, Role: role, Token: id})
	writeJSON(w, http.StatusOK, secretBody(nil, s.authBody(s.tokens[id])))
}

func (s *Server) kubernetesMountLocked(ns, mountName string) bool {
	prefix := ns + "\x00" + mountName + "\x00"
	for k := range s.k8sRoles {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

func (s *Server) appRoleMountLocked(ns, mountName string) bool {
	prefix := ns + "\x00" + mountName + "\x00"
	for k := range s.appRoles {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// readJSON decodes r's body into v; an empty body is no fields.
func readJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return err
	}
	if len(b) > maxBody {
		return fmt.Errorf("request body larger than %d bytes", maxBody)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	return json.Unmarshal(b, v)
}
