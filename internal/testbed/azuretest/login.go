package azuretest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// maxForm bounds the token request bodies the authority reads.
const maxForm = 64 << 10

// Client credentials flow values (RFC 6749 section 4.4, RFC 7521).
const (
	grantClientCredentials = "client_credentials"
	assertionJWTBearer     = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// defaultScopes are the scopes MSAL adds to every token request.
var defaultScopes = []string{"openid", "offline_access", "profile"}

// entraError is an Entra ID error answer.
type entraError struct {
	status int
	code   string // "error"
	aadsts int    // the AADSTS number of error_codes
	desc   string // after "AADSTSnnn: "
}

func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	op := OpOther
	tenant := ""
	switch {
	case r.Method == http.MethodGet && len(parts) == 3 && parts[0] == "common" && parts[1] == "discovery" && parts[2] == "instance":
		op = OpInstanceDiscovery
	case r.Method == http.MethodGet && len(parts) == 4 && parts[1] == "v2.0" && parts[2] == ".well-known" && parts[3] == "openid-configuration":
		op, tenant = OpOpenIDConfiguration, parts[0]
	case r.Method == http.MethodPost && len(parts) == 4 && parts[1] == "oauth2" && parts[2] == "v2.0" && parts[3] == "token":
		op, tenant = OpToken, parts[0]
	}
	var form map[string][]string
	if op == OpToken {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			s.mu.Lock()
			i := s.record(Call{Op: op})
			s.mu.Unlock()
			s.answerLogin(w, i, nil, &entraError{status: http.StatusBadRequest, code: "invalid_request", aadsts: 900144, desc: "The request body must contain a form-encoded token request."})
			return
		}
		form = r.PostForm
	}

	s.mu.Lock()
	i := s.record(Call{Op: op, ClientID: first(form, "client_id")})
	latency := s.latency
	s.mu.Unlock()
	if !wait(r, latency) {
		return
	}

	base := s.AuthorityHost()
	switch op {
	case OpInstanceDiscovery:
		host := strings.TrimPrefix(strings.TrimSuffix(base, "/"), "https://")
		s.answerLogin(w, i, map[string]any{
			"tenant_discovery_endpoint": base + s.TenantID + "/v2.0/.well-known/openid-configuration",
			"api-version":               "1.1",
			"metadata":                  []map[string]any{{"preferred_network": host, "preferred_cache": host, "aliases": []string{host}}},
		}, nil)
	case OpOpenIDConfiguration:
		if tenant != s.TenantID {
			s.answerLogin(w, i, nil, errTenant(tenant))
			return
		}
		s.answerLogin(w, i, map[string]any{
			"token_endpoint":                        base + tenant + "/oauth2/v2.0/token",
			"authorization_endpoint":                base + tenant + "/oauth2/v2.0/authorize",
			"issuer":                                base + tenant + "/v2.0",
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
			"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
			"tenant_region_scope":                   "EU",
		}, nil)
	case OpToken:
		tok, e := s.issueToken(w, tenant, form)
		s.answerLogin(w, i, tok, e)
	default:
		s.answerLogin(w, i, nil, &entraError{status: http.StatusNotFound, code: "invalid_request", aadsts: 900561, desc: "The endpoint only accepts the requests of the client credentials flow."})
	}
}

// issueToken answers a token request of tenant with form.
func (s *Server) issueToken(w http.ResponseWriter, tenant string, form map[string][]string) (map[string]any, *entraError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokenFailN > 0 {
		s.tokenFailN--
		if s.tokenStatus == http.StatusTooManyRequests {
			retryAfterHeader(w, s.retryAfter)
			return nil, &entraError{status: s.tokenStatus, code: "temporarily_unavailable", aadsts: 50196, desc: "The server terminated an operation because it encountered a client request loop. Please retry later."}
		}
		return nil, &entraError{status: s.tokenStatus, code: "server_error", aadsts: 90033, desc: "A transient error has occurred. Please try again."}
	}
	if tenant != s.TenantID {
		return nil, errTenant(tenant)
	}
	client := first(form, "client_id")
	switch {
	case first(form, "grant_type") != grantClientCredentials:
		return nil, &entraError{status: http.StatusBadRequest, code: "unsupported_grant_type", aadsts: 70003, desc: "The app requested an unsupported grant type."}
	case client != s.ClientID:
		return nil, &entraError{status: http.StatusBadRequest, code: "unauthorized_client", aadsts: 700016, desc: fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.", client, tenant)}
	}
	if assertion, ok := form["client_assertion"]; ok {
		if first(form, "client_assertion_type") != assertionJWTBearer || s.assertion == "" || len(assertion) != 1 || assertion[0] != s.assertion {
			return nil, &entraError{status: http.StatusUnauthorized, code: "invalid_client", aadsts: 70021, desc: "No matching federated identity record found for presented assertion."}
		}
	} else if first(form, "client_secret") != s.ClientSecret {
		return nil, &entraError{status: http.StatusUnauthorized, code: "invalid_client", aadsts: 7000215, desc: fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", client)}
	}
	var resources []string
	for sc := range strings.FieldsSeq(first(form, "scope")) {
		if !slices.Contains(defaultScopes, sc) {
			resources = append(resources, sc)
		}
	}
	if len(resources) != 1 || resources[0] != Scope {
		return nil, &entraError{status: http.StatusBadRequest, code: "invalid_scope", aadsts: 70011, desc: "The provided request must include a 'scope' input parameter with one resource's /.default scope, here " + Scope + "."}
	}
	tok := newToken()
	s.tokens[tok] = token{tenant: tenant, scope: Scope, expires: time.Now().Add(s.lifetime)}
	secs := int64(s.lifetime / time.Second)
	return map[string]any{
		"token_type":     "Bearer",
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   tok,
	}, nil
}

func errTenant(tenant string) *entraError {
	return &entraError{status: http.StatusBadRequest, code: "invalid_tenant", aadsts: 90002, desc: fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant)}
}

// answerLogin writes body, or e in Entra ID's error layout, and records
// the status of call i.
func (s *Server) answerLogin(w http.ResponseWriter, i int, body map[string]any, e *entraError) {
	if e == nil {
		s.setStatus(i, http.StatusOK)
		writeJSON(w, http.StatusOK, body)
		return
	}
	s.setStatus(i, e.status)
	trace := newVersionID()
	writeJSON(w, e.status, map[string]any{
		"error":             e.code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", e.aadsts, e.desc, trace, trace, time.Now().UTC().Format("2006-01-02 15:04:05Z")),
		"error_codes":       []int{e.aadsts},
		"timestamp":         time.Now().UTC().Format("2006-01-02 15:04:05Z"),
		"trace_id":          trace,
		"correlation_id":    trace,
		"error_uri":         s.AuthorityHost() + "error?code=" + fmt.Sprint(e.aadsts),
	})
}

func first(form map[string][]string, key string) string {
	if v := form[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}
