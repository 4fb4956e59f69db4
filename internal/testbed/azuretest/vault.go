package azuretest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// apiVersions are the Key Vault data-plane api-version values the vault
// accepts: the stable versions of the REST reference, and those of the
// azsecrets releases (v1.5.x sends 2026-04-01).
var apiVersions = map[string]bool{
	"2016-10-01": true,
	"7.0":        true, "7.1": true, "7.2": true, "7.3": true, "7.4": true, "7.5": true, "7.6": true,
	"2025-07-01": true,
	"2026-04-01": true,
}

// maxNameLen is the longest secret name Key Vault accepts (Azure resource
// naming rules, Microsoft.KeyVault vaults/secrets: 1-127 alphanumerics
// and hyphens).
const maxNameLen = 127

// checkName returns why Key Vault would refuse name, or "".
func checkName(name string) string {
	switch {
	case name == "":
		return "empty secret name"
	case len(name) > maxNameLen:
		return fmt.Sprintf("secret name longer than %d characters", maxNameLen)
	}
	for i := range len(name) {
		c := name[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-') {
			return fmt.Sprintf("secret name has %q at byte %d", c, i)
		}
	}
	return ""
}

// parseSecretPath splits an escaped request path of the form
// /secrets/{name}, /secrets/{name}/ or /secrets/{name}/{version} into
// the unescaped name and version. Each segment is unescaped on its own,
// so an escaped "/" stays inside the name (and makes it invalid, as in
// Key Vault).
func parseSecretPath(escaped string) (name, version string, ok bool) {
	rest, found := strings.CutPrefix(escaped, "/secrets/")
	if !found {
		return "", "", false
	}
	segs := strings.Split(rest, "/")
	switch {
	case len(segs) == 1:
	case len(segs) == 2:
	case len(segs) == 3 && segs[2] == "":
	default:
		return "", "", false
	}
	name, err := url.PathUnescape(segs[0])
	if err != nil || name == "" {
		return "", "", false
	}
	if len(segs) > 1 {
		if version, err = url.PathUnescape(segs[1]); err != nil {
			return "", "", false
		}
	}
	return name, version, true
}

// kvError is a Key Vault error answer.
type kvError struct {
	status     int
	code       string
	msg        string
	inner      string
	challenge  bool
	retryAfter time.Duration
}

func (s *Server) serveVault(w http.ResponseWriter, r *http.Request) {
	escaped := r.URL.EscapedPath()
	list := escaped == "/secrets" || escaped == "/secrets/"
	name, ver, pathOK := parseSecretPath(escaped)
	apiVersion := r.URL.Query().Get("api-version")
	bearer, hasBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	hasAuth := r.Header.Get("Authorization") != ""

	s.mu.Lock()
	op := OpGetSecret
	if list {
		op = OpListSecrets
	}
	switch {
	case r.Method != http.MethodGet || !pathOK && !list:
		op = OpOther
	case !hasAuth:
		op = OpChallenge
	case !hasBearer || !s.validToken(bearer):
		op = OpBadToken
	}
	i := s.record(Call{Op: op, Name: name, Version: ver, APIVersion: apiVersion})
	latency := s.latency
	drop := s.dropAll || s.dropN > 0
	if s.dropN > 0 {
		s.dropN--
	}
	s.mu.Unlock()

	if !wait(r, latency) {
		return
	}
	if drop {
		dropConnection(w)
		return
	}

	var e *kvError
	var body any
	switch {
	case op == OpOther && r.Method != http.MethodGet:
		e = &kvError{status: http.StatusMethodNotAllowed, code: "BadParameter", msg: "The requested method is not supported by this resource."}
	case op == OpOther:
		e = &kvError{status: http.StatusNotFound, code: "NotFound", msg: "The requested resource was not found."}
	case apiVersion == "":
		e = &kvError{status: http.StatusBadRequest, code: "BadParameter", msg: "The api-version query parameter is missing."}
	case !apiVersions[apiVersion]:
		e = &kvError{status: http.StatusBadRequest, code: "BadParameter", msg: fmt.Sprintf("The specified version (%s) is not recognized. Consider using the latest supported version (2026-04-01).", apiVersion)}
	case op == OpChallenge:
		e = &kvError{status: http.StatusUnauthorized, code: "Unauthorized", msg: "AKV10000: Request is missing a Bearer or PoP token.", challenge: true}
	case op == OpBadToken:
		e = &kvError{status: http.StatusUnauthorized, code: "Unauthorized", msg: "The access token is not valid: it was not issued by this tenant's authority for " + Resource + ", or it expired or was revoked.", challenge: true}
	case op == OpListSecrets:
		body, e = s.listSecrets(r)
	default:
		body, e = s.getSecret(r, name, ver)
	}

	if e != nil {
		s.setStatus(i, e.status)
		s.writeKVError(w, e)
		return
	}
	s.setStatus(i, http.StatusOK)
	writeJSON(w, http.StatusOK, body)
}

// validToken reports whether tok is a live token issued for the vault.
// The caller holds s.mu.
func (s *Server) validToken(tok string) bool {
	t, ok := s.tokens[tok]
	return ok && t.scope == Scope && t.tenant == s.TenantID && time.Now().Before(t.expires)
}

// getSecret answers an authenticated GetSecret of name and ver ("" for
// the latest version).
func (s *Server) getSecret(r *http.Request, name, ver string) (any, *kvError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.fault(); e != nil {
		return nil, e
	}
	if reason := checkName(name); reason != "" {
		return nil, &kvError{status: http.StatusBadRequest, code: "BadParameter", msg: "The request URI contains an invalid name: " + name}
	}
	if s.denyAll || s.denied[strings.ToLower(name)] {
		return nil, &kvError{status: http.StatusForbidden, code: "Forbidden", inner: "ForbiddenByRbac", msg: s.rbacMessage(getAction, "/secrets/"+strings.ToLower(name))}
	}
	v := s.lookup(name, ver)
	if v == nil {
		id := name
		if ver != "" {
			id += "/" + ver
		}
		return nil, &kvError{status: http.StatusNotFound, code: "SecretNotFound", msg: "A secret with (name/id) " + id + " was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"}
	}
	if !v.enabled {
		return nil, &kvError{status: http.StatusForbidden, code: "Forbidden", inner: "SecretDisabled", msg: "Operation get is not allowed on a disabled secret."}
	}
	sec := s.secrets[strings.ToLower(name)]
	bundle := map[string]any{
		"value":      v.value,
		"id":         "https://" + r.Host + "/secrets/" + sec.name + "/" + v.id,
		"attributes": attributes(v),
		"tags":       map[string]string{},
	}
	return bundle, nil
}

// attributes is the SecretAttributes object of version v.
func attributes(v *version) map[string]any {
	return map[string]any{
		"enabled":         v.enabled,
		"created":         v.created.Unix(),
		"updated":         v.updated.Unix(),
		"recoveryLevel":   "Recoverable+Purgeable",
		"recoverableDays": 90,
	}
}

// fault returns the injected fault the next authenticated secret request
// meets, or nil. The caller holds s.mu.
func (s *Server) fault() *kvError {
	switch {
	case s.throttleAll || s.throttleN > 0:
		if s.throttleN > 0 {
			s.throttleN--
		}
		return s.errThrottled()
	case s.failN > 0:
		s.failN--
		switch s.failStatus {
		case http.StatusTooManyRequests:
			return s.errThrottled()
		case http.StatusInternalServerError:
			return &kvError{status: s.failStatus, code: "InternalServerError", msg: "An unexpected error occurred."}
		case http.StatusServiceUnavailable:
			return &kvError{status: s.failStatus, code: "ServiceUnavailable", msg: "The service is temporarily unavailable. Please retry later.", retryAfter: s.retryAfter}
		default:
			return &kvError{status: s.failStatus, code: "Error", msg: http.StatusText(s.failStatus)}
		}
	}
	return nil
}

// errThrottled is Key Vault's 429. The caller holds s.mu.
func (s *Server) errThrottled() *kvError {
	return &kvError{status: http.StatusTooManyRequests, code: "Throttled", msg: "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached", retryAfter: s.retryAfter}
}

// RBAC data actions of the operations the vault answers.
const (
	getAction  = "Microsoft.KeyVault/vaults/secrets/getSecret/action"
	listAction = "Microsoft.KeyVault/vaults/secrets/readMetadata/action"
)

// rbacMessage is the message of an RBAC denial of action on the vault's
// resource path sub ("" for the vault itself), in Key Vault's layout.
func (s *Server) rbacMessage(action, sub string) string {
	return "Caller is not authorized to perform action on resource.\r\n" +
		"If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n" +
		"Caller: appid=" + s.ClientID + ";oid=00000000-0000-0000-0000-000000000000;iss=https://sts.windows.net/" + s.TenantID + "/\r\n" +
		"Action: '" + action + "'\r\n" +
		"Resource: '/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/azuretest/providers/microsoft.keyvault/vaults/azuretest" + sub + "'\r\n" +
		"Assignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: 'DeniedWithNoValidRBAC' \r\nVault: azuretest;location=westeurope\r\n"
}

// accessPolicyMessage is the message of an access policy denial of the
// secret permission perm ("list"), in Key Vault's layout.
func (s *Server) accessPolicyMessage(perm string) string {
	return "The user, group or application 'appid=" + s.ClientID + ";oid=00000000-0000-0000-0000-000000000000;iss=https://sts.windows.net/" + s.TenantID + "/' does not have secrets " + perm + " permission on key vault 'azuretest;location=westeurope'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287"
}

// ListPage is the most secrets one page of Get Secrets holds, and the
// page size without maxresults (REST reference, Get Secrets: maxresults
// "Maximum number of results to return in a page. If not specified, the
// service will return up to 25 results."; the service refuses more).
const ListPage = 25

// listSecrets answers an authenticated Get Secrets (GET /secrets): one
// page of SecretItems, the secrets ordered by lower-cased name, each with
// the attributes of its latest version, and a nextLink carrying the
// api-version, maxresults and a $skiptoken (the last name listed, so a
// secret set or deleted between pages neither repeats nor shifts others).
func (s *Server) listSecrets(r *http.Request) (any, *kvError) {
	q := r.URL.Query()
	size := ListPage
	if v := q.Get("maxresults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > ListPage {
			return nil, &kvError{status: http.StatusBadRequest, code: "BadParameter", msg: "invalid maxresults"}
		}
		size = n
	}
	after := ""
	if tok := q.Get("$skiptoken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			return nil, &kvError{status: http.StatusBadRequest, code: "BadParameter", msg: "The specified skiptoken is not valid."}
		}
		after = string(b)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.fault(); e != nil {
		return nil, e
	}
	switch {
	case s.denyAll || s.denyList == DenyRBAC:
		return nil, &kvError{status: http.StatusForbidden, code: "Forbidden", inner: "ForbiddenByRbac", msg: s.rbacMessage(listAction, "")}
	case s.denyList == DenyAccessPolicy:
		return nil, &kvError{status: http.StatusForbidden, code: "Forbidden", inner: "AccessDenied", msg: s.accessPolicyMessage("list")}
	}
	keys := make([]string, 0, len(s.secrets))
	for k := range s.secrets {
		if k > after {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	items := make([]any, 0, min(size, len(keys)))
	for _, k := range keys[:min(size, len(keys))] {
		sec := s.secrets[k]
		items = append(items, map[string]any{
			"id":         "https://" + r.Host + "/secrets/" + sec.name,
			"attributes": attributes(sec.versions[len(sec.versions)-1]),
			"tags":       map[string]string{},
		})
	}
	page := map[string]any{"value": items, "nextLink": nil}
	if len(keys) > size {
		next := url.Values{"api-version": {q.Get("api-version")}, "$skiptoken": {base64.RawURLEncoding.EncodeToString([]byte(keys[size-1]))}}
		if q.Get("maxresults") != "" {
			next.Set("maxresults", q.Get("maxresults"))
		}
		page["nextLink"] = "https://" + r.Host + "/secrets?" + next.Encode()
	}
	return page, nil
}

// challenge is the WWW-Authenticate value of the vault's 401s.
func (s *Server) challenge() string {
	return fmt.Sprintf(`Bearer authorization="%s%s", resource="%s"`, s.AuthorityHost(), s.TenantID, Resource)
}

func (s *Server) writeKVError(w http.ResponseWriter, e *kvError) {
	if e.challenge {
		w.Header().Set("WWW-Authenticate", s.challenge())
	}
	retryAfterHeader(w, e.retryAfter)
	inner := map[string]any{"code": e.code, "message": e.msg}
	if e.inner != "" {
		inner["innererror"] = map[string]string{"code": e.inner}
	}
	writeJSON(w, e.status, map[string]any{"error": inner})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic("azuretest: marshal answer: " + err.Error())
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("x-ms-request-id", newVersionID())
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
