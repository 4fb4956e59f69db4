package kubetest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// Proxy is a TLS reverse proxy in front of the API server, for faults the
// real server cannot be made to produce on demand. It forwards requests
// unchanged (the server authenticates and authorizes them as usual) and
// streams watches, unless a queued Fault answers a request instead. It
// speaks HTTP/1.1, so that it can drop connections.
type Proxy struct {
	srv *httptest.Server
	c   *Cluster

	mu      sync.Mutex
	faults  []queued
	down    bool
	watches map[int]context.CancelFunc
	next    int
	counts  map[string]int // method + " " + path, requests forwarded or faulted
}

// Fault is what the Proxy answers a request with instead of forwarding
// it.
type Fault struct {
	// Status, if not 0, is the HTTP status answered: 429 is answered as
	// API Priority and Fairness does (text body "Too many requests,
	// please try again later."), any other status with a Status object
	// body as the API server writes it (410 as to a watch from a
	// compacted resource version, reason Expired).
	Status int
	// RetryAfter, if set, is the Retry-After header (seconds).
	RetryAfter string
	// Drop closes the connection in the middle of the answer's body.
	Drop bool
	// Delay waits before answering (or forwarding, when Status is 0 and
	// Drop false).
	Delay time.Duration
	// Match, if set, limits the fault to the requests it accepts; nil
	// matches every request.
	Match func(*http.Request) bool
}

type queued struct {
	f Fault
	n int // requests left to answer
}

// Proxy starts a Proxy in front of the server; it is closed when tb's
// test ends.
func (c *Cluster) Proxy(tb testing.TB) *Proxy {
	tb.Helper()
	target, err := url.Parse(c.URL())
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(c.pki.certFile, c.pki.keyFile)
	if err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	p := &Proxy{c: c, watches: make(map[int]context.CancelFunc), counts: make(map[string]int)}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.Host = target.Host },
		Transport:     &http.Transport{TLSClientConfig: c.tlsConfig(), ForceAttemptHTTP2: true},
		FlushInterval: -1, // watches stream
		// Cut watches and dropped clients end copies with errors the
		// tests cause on purpose.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.serve(w, r, rp) }))
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	p.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	p.srv.StartTLS()
	tb.Cleanup(func() {
		p.CutWatches()
		p.srv.CloseClientConnections()
		p.srv.Close()
	})
	return p
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request, rp *httputil.ReverseProxy) {
	p.mu.Lock()
	p.counts[r.Method+" "+r.URL.Path]++
	down := p.down
	var fault *Fault
	for i := range p.faults {
		q := &p.faults[i]
		if q.n > 0 && (q.f.Match == nil || q.f.Match(r)) {
			q.n--
			f := q.f
			fault = &f
			break
		}
	}
	p.mu.Unlock()

	if down {
		drop(w)
		return
	}
	if fault != nil {
		if fault.Delay > 0 {
			select {
			case <-time.After(fault.Delay):
			case <-r.Context().Done():
				return
			}
		}
		switch {
		case fault.Drop:
			drop(w)
			return
		case fault.Status != 0:
			writeFault(w, *fault)
			return
		}
	}
	if q := r.URL.Query().Get("watch"); q == "true" || q == "1" {
		ctx, cancel := context.WithCancel(r.Context())
		p.mu.Lock()
		id := p.next
		p.next++
		p.watches[id] = cancel
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			delete(p.watches, id)
			p.mu.Unlock()
			cancel()
		}()
		r = r.WithContext(ctx)
	}
	rp.ServeHTTP(w, r)
}

// drop closes the connection of w in the middle of an answer. Closing it
// before any byte of the answer would not do: Go's HTTP client sends an
// idempotent request again, unseen, when a reused connection closes
// before the answer starts.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, buf, err := hj.Hijack(); err == nil {
			_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{\"kind\":")
			_ = buf.Flush()
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler) // resets the stream
}

// writeFault answers with f's status as the API server would.
func writeFault(w http.ResponseWriter, f Fault) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Status == http.StatusTooManyRequests {
		// k8s.io/apiserver/pkg/server/filters tooManyRequests.
		http.Error(w, "Too many requests, please try again later.", http.StatusTooManyRequests)
		return
	}
	reason := metav1.StatusReasonInternalError
	msg := "Internal error occurred: kubetest fault"
	switch f.Status {
	case http.StatusServiceUnavailable:
		reason, msg = metav1.StatusReasonServiceUnavailable, "the server is currently unable to handle the request"
	case http.StatusGone:
		// What a watch from a compacted resource version gets.
		reason, msg = metav1.StatusReasonExpired, "too old resource version: 1 (2)"
	case http.StatusGatewayTimeout:
		reason, msg = metav1.StatusReasonTimeout, "the server was unable to return a response in the time allotted, but may still be processing the request"
	}
	st := metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: msg, Reason: reason, Code: int32(f.Status),
	}
	if f.RetryAfter != "" {
		if n, err := strconv.Atoi(f.RetryAfter); err == nil {
			st.Details = &metav1.StatusDetails{RetryAfterSeconds: int32(n)}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.Status)
	_ = json.NewEncoder(w).Encode(st)
}

// Inject queues f for the next n requests it matches. Faults are tried in
// the order queued; each request takes at most one.
func (p *Proxy) Inject(f Fault, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, queued{f: f, n: n})
}

// Clear drops the queued faults.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = nil
}

// SetDown makes the Proxy drop every connection (true), as an unreachable
// server, or forward again (false). Going down cuts the open watches.
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	if down {
		p.CutWatches()
	}
}

// CutWatches ends the watches open through the Proxy, as a dropped
// connection would, and returns how many it cut.
func (p *Proxy) CutWatches() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.watches)
	for id, cancel := range p.watches {
		cancel()
		delete(p.watches, id)
	}
	return n
}

// Watches returns the number of watches open through the Proxy.
func (p *Proxy) Watches() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.watches)
}

// Count returns how many requests for method and path the Proxy
// received, forwarded or faulted.
func (p *Proxy) Count(method, path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[method+" "+path]
}

// URL is the Proxy's address.
func (p *Proxy) URL() string { return p.srv.URL }

// Config returns a client configuration for u through the Proxy.
func (p *Proxy) Config(u User) *rest.Config {
	cfg := p.c.Config(u)
	cfg.Host = p.URL()
	return cfg
}
