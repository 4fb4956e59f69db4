package vault

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"omsecrets/resolver"
)

// maxErrorText bounds the text of Vault's errors quoted in a message.
const maxErrorText = 240

// reply is one answer from Vault.
type reply struct {
	status int
	header http.Header
	body   []byte
	// token is the token the request carried ("" for a login), so that
	// messages can be scrubbed of it; never printed.
	token string
	// hint says why a 403 is the token's fault (expired, revoked), when
	// the authenticator found out.
	hint string
}

// classify maps an answer that is not a success to an error class. what
// names the request ("read secret/data/db"). Vault's error texts are
// quoted through scrub and sanitize, never the body itself.
func classify(what string, r *reply, scrub func(string) string) error {
	detail := vaultErrors(r.body, scrub)
	if r.hint != "" {
		detail += " (" + r.hint + ")"
	}
	switch s := r.status; {
	case s == http.StatusTooManyRequests:
		return resolver.Throttled(fmt.Sprintf("%s: Vault rate limit quota (HTTP 429)%s", what, detail), retryAfter(r.header))
	case s == http.StatusPreconditionFailed:
		// A performance standby that has not caught up yet.
		return fmt.Errorf("%w: %s: HTTP 412%s", resolver.ErrUnavailable, what, detail)
	case s >= 500:
		return resolver.WithRetryAfter(fmt.Errorf("%w: %s: HTTP %d%s", resolver.ErrUnavailable, what, s, detail), retryAfter(r.header))
	case s >= 300 && s < 400:
		return fmt.Errorf("%w: %s: Vault redirected (HTTP %d) to %s, which is not followed; point the address at the active node or a load balancer",
			resolver.ErrUnavailable, what, s, redirectHost(r.header))
	case s == http.StatusUnauthorized, s == http.StatusForbidden:
		return fmt.Errorf("%w: %s: HTTP %d%s", resolver.ErrPermission, what, s, detail)
	case s == http.StatusNotFound:
		return fmt.Errorf("%w: %s: HTTP 404%s", resolver.ErrNotFound, what, detail)
	case s == http.StatusBadRequest, s == http.StatusMethodNotAllowed:
		return fmt.Errorf("%w: %s: Vault rejected the request (HTTP %d)%s", resolver.ErrBadRef, what, s, detail)
	case s >= 400:
		// Vault refused the request; retrying will not change that.
		return fmt.Errorf("%w: %s: HTTP %d%s", resolver.ErrPermission, what, s, detail)
	}
	return fmt.Errorf("%w: %s: unexpected HTTP %d", resolver.ErrUnavailable, what, r.status)
}

// vaultErrors returns ": " and Vault's error texts from an error body
// {"errors":[...]}, scrubbed and sanitized, or "" when there are none. A
// body that is not Vault's JSON (a proxy's page) is not quoted.
func vaultErrors(body []byte, scrub func(string) string) string {
	var e struct {
		Errors []string `json:"errors"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		if len(strings.TrimSpace(string(body))) > 0 {
			return ": the answer is not Vault's JSON"
		}
		return ""
	}
	var msgs []string
	for _, m := range e.Errors {
		if scrub != nil {
			m = scrub(m)
		}
		if m = sanitize(m, maxErrorText); m != "" {
			msgs = append(msgs, m)
		}
	}
	if len(msgs) == 0 {
		return ""
	}
	return ": " + sanitize(strings.Join(msgs, "; "), 2*maxErrorText)
}

// sanitize makes s one short printable line of at most max bytes
// (resolver.OneLine).
func sanitize(s string, max int) string { return resolver.OneLine(s, max) }

// scrubAll returns a function that replaces each of secrets (those at
// least 4 bytes long) in a text with [redacted].
func scrubAll(secrets ...string) func(string) string {
	return func(s string) string {
		for _, v := range secrets {
			if len(v) >= 4 {
				s = strings.ReplaceAll(s, v, resolver.Redacted)
			}
		}
		return s
	}
}

// retryAfter reads a Retry-After header (resolver.ParseRetryAfter).
func retryAfter(h http.Header) time.Duration { return resolver.ParseRetryAfter(h, time.Now()) }

// redirectHost names the host of a redirect's Location, for a message.
func redirectHost(h http.Header) string {
	u, err := url.Parse(h.Get("Location"))
	if err != nil || u.Host == "" {
		return "another address"
	}
	return sanitize(u.Host, 128)
}
