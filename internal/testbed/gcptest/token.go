package gcptest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
)

// jwtBearerGrant is the grant_type of a service account's token request
// (RFC 7523).
const jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// maxTokenRequest bounds the token request body read.
const maxTokenRequest = 64 << 10

// tokenResponse is the JSON answer of both token endpoints.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	TokenType   string `json:"token_type"`
}

// serveToken is the OAuth 2.0 token endpoint of service account keys
// (Google's https://oauth2.googleapis.com/token): a form POST with
// grant_type jwt-bearer and the signed assertion, answered with an access
// token or a JSON {"error", "error_description"} with status 400.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	call := s.arrivedLocked(Call{Op: OpToken, Code: codes.Unknown})
	s.mu.Unlock()
	if r.URL.Path != "/token" {
		oauthFail(w, http.StatusNotFound, &oauthError{"not_found", "No such endpoint."})
		return
	}
	if r.Method != http.MethodPost {
		oauthFail(w, http.StatusMethodNotAllowed, &oauthError{"invalid_request", "Use POST."})
		return
	}
	if status, ok := s.takeTokenFault(); ok {
		oauthFail(w, status, &oauthError{"internal_failure", "Backend Error"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequest)
	if err := r.ParseForm(); err != nil {
		oauthFail(w, http.StatusBadRequest, &oauthError{"invalid_request", "Request body does not parse."})
		return
	}
	if g := r.PostForm.Get("grant_type"); g != jwtBearerGrant {
		oauthFail(w, http.StatusBadRequest, &oauthError{"unsupported_grant_type", "Invalid grant_type: " + g})
		return
	}
	claims, err := verifyAssertion(r.PostForm.Get("assertion"), &s.key.PublicKey, s.keyID, s.Email, s.TokenURL(), time.Now())
	s.mu.Lock()
	if err == nil && s.keyDisabled {
		err = errBadSignature
	}
	var tok string
	var life time.Duration
	if err == nil {
		tok, life = s.issueLocked(claims.Scope, OpToken)
	}
	s.mu.Unlock()
	if err != nil {
		var oe *oauthError
		if !errors.As(err, &oe) {
			oe = &oauthError{"invalid_grant", "Invalid JWT."}
		}
		oauthFail(w, http.StatusBadRequest, oe)
		return
	}
	s.mu.Lock()
	call.Token, call.Code = tok, codes.OK
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: tok, ExpiresIn: int64(life / time.Second), TokenType: "Bearer"})
}

// serveMetadata is the part of the GCE/GKE metadata server that ADC
// uses: the default service account's access token and the project id,
// behind the Metadata-Flavor: Google header.
func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	const prefix = "/computeMetadata/v1/"
	var op string
	switch r.URL.Path {
	case prefix + "instance/service-accounts/default/token":
		op = OpMetadataToken
	case prefix + "project/project-id":
		op = OpMetadataProject
	default:
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	s.mu.Lock()
	call := s.arrivedLocked(Call{Op: op, Code: codes.Unknown})
	s.mu.Unlock()
	w.Header().Set("Metadata-Flavor", "Google")
	if r.Header.Get("Metadata-Flavor") != "Google" {
		http.Error(w, "Missing required header: Metadata-Flavor", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if op == OpMetadataProject {
		s.mu.Lock()
		call.Code = codes.OK
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/text")
		_, _ = w.Write([]byte(s.Project))
		return
	}
	if status, ok := s.takeTokenFault(); ok {
		http.Error(w, http.StatusText(status), status)
		return
	}
	scope := CloudPlatformScope
	if q := r.URL.Query().Get("scopes"); q != "" {
		scope = strings.ReplaceAll(q, ",", " ")
	}
	s.mu.Lock()
	if s.noMetadataSA {
		s.mu.Unlock()
		http.Error(w, "Service account not found: default", http.StatusNotFound)
		return
	}
	tok, life := s.issueLocked(scope, OpMetadataToken)
	call.Token, call.Code = tok, codes.OK
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: tok, ExpiresIn: int64(life / time.Second), TokenType: "Bearer"})
}

// takeTokenFault consumes one FailTokenNext fault, if any.
func (s *Server) takeTokenFault() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokenFailN <= 0 {
		return 0, false
	}
	s.tokenFailN--
	return s.tokenFail, true
}

func oauthFail(w http.ResponseWriter, status int, e *oauthError) {
	writeJSON(w, status, map[string]string{"error": e.code, "error_description": e.description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
