package omclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"

	"slices"
	"strings"
	"sync"
	"time"

	"omsecrets/internal/safefile"
	"omsecrets/internal/workflow"
)

// PoolOptions configures a Pool: what every Client it builds shares.
type PoolOptions struct {
	// CAPEM are CA certificates trusted for every server, in addition to
	// each connection's own sslConfig; with them a connection that does not
	// set verifySSL is verified.
	CAPEM []byte
	// Timeout, RetryMax, RetryWaitMin and RetryWaitMax are the Clients'
	// Options of the same names.
	Timeout                    time.Duration
	RetryMax                   int
	RetryWaitMin, RetryWaitMax time.Duration
	// Logger and Observe are the Clients' Options of the same names.
	Logger  *slog.Logger
	Observe func(op string, status int, d time.Duration)
}

// Pool fetches services from whatever OpenMetadata server a definition's
// connection names, with one Client per distinct connection (URL, TLS
// settings and extra headers), built on first use. It is safe for
// concurrent use and needs no cleanup.
type Pool struct {
	opts PoolOptions

	mu      sync.Mutex
	clients map[string]*Client // by connection digest
}

// NewPool returns a Pool.
func NewPool(opts PoolOptions) *Pool {
	return &Pool{opts: opts, clients: make(map[string]*Client)}
}

// Service fetches ref from the server of srv with token, as
// Client.Service does. Errors building the client (a bad URL, TLS
// settings, an unreadable CA file) are returned as they are.
func (p *Pool) Service(ctx context.Context, srv *workflow.Server, token string, ref ServiceRef) (*Service, error) {
	c, err := p.client(srv)
	if err != nil {
		return nil, err
	}
	return c.Service(ctx, token, ref)
}

// client returns the Client for srv, built once per distinct connection.
func (p *Pool) client(srv *workflow.Server) (*Client, error) {
	ca, err := p.caPEM(srv)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", srv.HostPort, srv.VerifySSL, ca)
	for _, k := range slices.Sorted(maps.Keys(srv.ExtraHeaders)) {
		fmt.Fprintf(h, "%s\x00%s\x00", k, srv.ExtraHeaders[k])
	}
	key := hex.EncodeToString(h.Sum(nil))

	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[key]; ok {
		return c, nil
	}
	verify := srv.VerifySSL
	if verify == "" && len(p.opts.CAPEM) > 0 {
		verify = "validate"
	}
	tlsConf, err := TLSConfig(verify, ca, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("verifySSL/sslConfig: %w", err)
	}
	c, err := New(Options{
		BaseURL:      srv.HostPort,
		TLS:          tlsConf,
		ExtraHeaders: srv.ExtraHeaders,
		Timeout:      p.opts.Timeout,
		RetryMax:     p.opts.RetryMax,
		RetryWaitMin: p.opts.RetryWaitMin,
		RetryWaitMax: p.opts.RetryWaitMax,
		Logger:       p.opts.Logger,
		Observe:      p.opts.Observe,
	})
	if err != nil {
		return nil, err
	}
	p.clients[key] = c
	return c, nil
}

// maxCAFile bounds a CA file sslConfig names.
const maxCAFile = 4 << 20

// caPEM returns the CA certificates to trust for srv: its sslConfig's
// caCertificate (PEM text, or the path of a PEM file in older payloads)
// and the pool's own.
func (p *Pool) caPEM(srv *workflow.Server) ([]byte, error) {
	var out []byte
	switch ca := srv.CACertificate; {
	case ca == "":
	case strings.Contains(ca, "-----BEGIN"):
		out = append(out, ca...)
	default:
		data, err := safefile.Read(ca, maxCAFile)
		if err != nil {
			return nil, fmt.Errorf("sslConfig certificate file: %w", err)
		}
		out = append(out, data...)
	}
	if len(p.opts.CAPEM) > 0 {
		out = append(append(out, '\n'), p.opts.CAPEM...)
	}
	return out, nil
}
