package vaulttest

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// fault is what an injected fault makes the Server answer instead of the
// request.
type fault int

const (
	noFault fault = iota
	faultDrop
	faultSealed
	faultStandby
	faultThrottle
	faultFail
)

// ServeHTTP implements http.Handler: it records the call, applies the
// latency and the pending faults, then answers as Vault would.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, isAPI := APIPath(r.URL.Path)
	ns := normNamespace(r.Header.Get("X-Vault-Namespace"))

	s.mu.Lock()
	idx := len(s.calls)
	h := r.Header.Clone()
	h.Del("X-Vault-Token")
	s.calls = append(s.calls, Call{Method: r.Method, Path: path, Namespace: ns, Header: h, At: s.now()})
	latency := s.latency
	f, failCode, retryAfter := s.takeFaultLocked(path)
	s.mu.Unlock()

	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		s.mu.Lock()
		s.calls[idx].Status = rec.status
		s.mu.Unlock()
	}()

	switch f {
	case faultDrop:
		dropConnection(w)
		return
	case faultSealed:
		writeErrors(rec, http.StatusServiceUnavailable, ErrSealed)
		return
	case faultStandby:
		writeErrors(rec, http.StatusServiceUnavailable, ErrStandby)
		return
	case faultThrottle:
		if retryAfter > 0 {
			secs := int((retryAfter + time.Second - 1) / time.Second)
			rec.Header().Set("Retry-After", strconv.Itoa(secs))
		}
		writeErrors(rec, http.StatusTooManyRequests, "request path \""+path+"\": rate limit quota exceeded")
		return
	case faultFail:
		writeErrors(rec, failCode, "internal error")
		return
	}
	if !isAPI {
		writeErrors(rec, http.StatusNotFound)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.serveLocked(rec, r, ns, path)
}

// takeFaultLocked returns the fault the next request gets, consuming a
// counted one.
func (s *Server) takeFaultLocked(path string) (fault, int, time.Duration) {
	for i := range s.pathFails {
		if pf := &s.pathFails[i]; pf.n > 0 && matchPath(pf.pattern, path) {
			pf.n--
			return faultFail, pf.code, 0
		}
	}
	switch {
	case s.dropN > 0:
		s.dropN--
		return faultDrop, 0, 0
	case s.sealed:
		return faultSealed, 0, 0
	case s.standby:
		return faultStandby, 0, 0
	case s.throttleN > 0:
		s.throttleN--
		return faultThrottle, 0, s.retryIn
	case s.failN > 0:
		s.failN--
		return faultFail, s.failCode, 0
	}
	return noFault, 0, 0
}

// serveLocked answers an API request that no fault intercepted.
func (s *Server) serveLocked(w http.ResponseWriter, r *http.Request, ns, path string) {
	// Logins are the only unauthenticated paths the Server has; a token
	// sent along is ignored.
	if mountName, ok := loginMount(path); ok {
		s.login(w, r, ns, mountName)
		return
	}
	t := s.authenticateLocked(r, ns)
	if t == nil || s.deniedLocked(path) {
		writeErrors(w, http.StatusForbidden, ErrPermissionDenied)
		return
	}
	switch {
	case path == "auth/token/lookup-self":
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
			return
		}
		s.lookupSelf(w, t)
	case path == "auth/token/renew-self":
		if r.Method != http.MethodPut && r.Method != http.MethodPost {
			writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
			return
		}
		s.renewSelf(w, r, t)
	case strings.HasPrefix(path, "sys/internal/ui/mounts/"):
		s.mountInfo(w, ns, strings.TrimPrefix(path, "sys/internal/ui/mounts/"), true)
	case strings.HasPrefix(path, "sys/mounts/"):
		s.mountInfo(w, ns, strings.TrimPrefix(path, "sys/mounts/"), false)
	case strings.HasPrefix(path, "sys/"), strings.HasPrefix(path, "auth/"):
		writeErrors(w, http.StatusNotFound, "no handler for route \""+path+"\". route entry not found.")
	default:
		s.kvRead(w, r, ns, path)
	}
}

// APIPath returns the API path of a request URL path: what follows
// "/v1/", and whether the URL path had that prefix.
func APIPath(urlPath string) (string, bool) {
	p, ok := strings.CutPrefix(urlPath, "/v1/")
	return p, ok
}

// loginMount returns the auth mount of a login path
// "auth/<mount>/login" (the mount may have slashes; auth/token is not a
// login mount).
func loginMount(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "auth/")
	if !ok {
		return "", false
	}
	m, ok := strings.CutSuffix(rest, "/login")
	if !ok || m == "" || m == "token" {
		return "", false
	}
	return m, true
}

// statusRecorder remembers the status code written.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// dropConnection closes the client's connection without an answer.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("vaulttest: the ResponseWriter cannot be hijacked")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic("vaulttest: hijack: " + err.Error())
	}
	_ = conn.Close()
}
