package awstest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go/middleware"
)

// gate holds up the interleaving behind "deserialization failed ... use of
// closed network connection" on a 200 answer, so that it happens on every
// run instead of now and then:
//
//  1. net/http's writeLoop writes the request (its last byte is on the
//     wire), and the gated connection then blocks it before it does the
//     rest of its work on the request body;
//  2. the Server answers, the transport returns the response, and smithy's
//     ClientHandler closes the request body (it does so as soon as Do
//     returns);
//  3. only then is the writeLoop let go (release, called by a middleware
//     that runs right after the ClientHandler returns), and the middleware
//     waits, before the deserializer reads the answer, until the
//     connection was closed or net/http reported the request written
//     without error.
type gate struct {
	engaged chan struct{} // closed when a complete request was on the wire
	release chan struct{} // closed to let the writeLoop go on
	closed  chan struct{} // closed when the client closes the connection
	wroteOK chan struct{} // closed when net/http wrote the request without error

	mu            sync.Mutex
	writeErr      error // what net/http reported for writing the request
	wroteBeforeOn bool  // net/http was done with the request before it was on the wire

	engageOnce, releaseOnce, closeOnce, wroteOnce sync.Once
}

func newGate() *gate {
	return &gate{engaged: make(chan struct{}), release: make(chan struct{}), closed: make(chan struct{}), wroteOK: make(chan struct{})}
}

func (g *gate) open() { g.releaseOnce.Do(func() { close(g.release) }) }

// dial dials the Server and gates the connection.
func (g *gate) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &gatedConn{Conn: c, g: g}, nil
}

// gatedConn is a client connection that, once the first request is
// completely on the wire, holds the writing goroutine until the gate is
// released.
type gatedConn struct {
	net.Conn
	g       *gate
	written []byte // what was written of the first request
	done    bool
}

func (c *gatedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.done {
		return n, err
	}
	c.written = append(c.written, p[:n]...)
	if requestWritten(c.written) {
		c.done = true
		c.g.mu.Lock()
		c.g.wroteBeforeOn = isClosed(c.g.wroteOK)
		c.g.mu.Unlock()
		c.g.engageOnce.Do(func() { close(c.g.engaged) })
		<-c.g.release
	}
	return n, err
}

// Close closes the connection, then tells the gate: a read after the
// gate heard of it fails.
func (c *gatedConn) Close() error {
	err := c.Conn.Close()
	c.g.closeOnce.Do(func() { close(c.g.closed) })
	return err
}

// wrote is net/http's report of writing the request (an httptrace hook).
func (g *gate) wrote(i httptrace.WroteRequestInfo) {
	g.mu.Lock()
	g.writeErr = i.Err
	g.mu.Unlock()
	if i.Err == nil {
		g.wroteOnce.Do(func() { close(g.wroteOK) })
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// requestWritten reports whether b holds a whole request: its header and
// Content-Length bytes of body.
func requestWritten(b []byte) bool {
	head, body, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok {
		return false
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(append(head, "\r\n\r\n"...))))
	if err != nil {
		return false
	}
	return int64(len(body)) >= req.ContentLength
}

// middleware releases the gate right after the ClientHandler returned and
// waits until the connection was closed or the request reported written.
func (g *gate) middleware(stack *middleware.Stack) error {
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("awstestGate",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			g.open()
			// Either comes at once; the timer only keeps a broken
			// test from hanging.
			t := time.NewTimer(time.Minute)
			defer t.Stop()
			select {
			case <-g.closed:
			case <-g.wroteOK:
			case <-t.C:
			}
			return out, md, err
		}), middleware.After)
}

// gatedListSecrets lists the Server's secrets once through a client on rt
// (built around a transport that dials through g) with the gate in place.
func gatedListSecrets(t *testing.T, s *Server, g *gate, rt http.RoundTripper) (*secretsmanager.ListSecretsOutput, error) {
	t.Helper()
	t.Cleanup(g.open)
	cfg := s.config(&http.Client{Transport: rt})
	cfg.APIOptions = append(cfg.APIOptions, g.middleware)
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{WroteRequest: g.wrote})
	out, err := secretsmanager.NewFromConfig(cfg).ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
	if !isClosed(g.engaged) {
		t.Fatal("the gate never held the request: the interleaving was not tested")
	}
	return out, err
}

// gatedServer returns a Server with 60 secrets: a ListSecrets answer of
// some 15 kB, more than net/http's 4 kB read buffer, so that reading it
// needs the connection after the answer's head was read.
func gatedServer(t *testing.T) *Server {
	s := New(t)
	for i := range 60 {
		s.PutSecret(fmt.Sprintf("/gate/secret-%02d", i), "gate-value")
	}
	return s
}

// TestBodyClosedUnderTransport proves the mechanism of the flake on a bare
// net/http transport, the one httptest's Client has: smithy's body
// (a safeReadCloser over a bytes.Reader) answers the writeLoop's check for
// bytes past Content-Length with io.EOF from WriteTo once closed; net/http
// takes that as a failed request write and closes the connection under
// the response body being read.
func TestBodyClosedUnderTransport(t *testing.T) {
	t.Parallel()
	s := gatedServer(t)
	g := newGate()
	_, err := gatedListSecrets(t, s, g, &http.Transport{DialContext: g.dial})
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.wroteBeforeOn {
		t.Error("net/http was done with the request before it was on the wire")
	}
	if !errors.Is(g.writeErr, io.EOF) {
		t.Errorf("writing the request: %v; want io.EOF, from the closed body's WriteTo", g.writeErr)
	}
	if err == nil {
		t.Fatal("ListSecrets succeeded: the bare transport no longer closes the connection under the answer")
	}
	if !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ListSecrets: %v; want the read of the answer to fail on the closed connection", err)
	}
	t.Logf("bare transport: %v", err)
}

// TestConfigClientOwnsBody checks that the client of Config survives the
// same interleaving: its transport reads a copy of the body that smithy
// cannot close, and is done with it before a byte of the request is on
// the wire.
func TestConfigClientOwnsBody(t *testing.T) {
	t.Parallel()
	s := gatedServer(t)
	g := newGate()
	out, err := gatedListSecrets(t, s, g, ownBodies(&http.Transport{DialContext: g.dial}))
	if err != nil {
		t.Fatalf("ListSecrets: %v", err)
	}
	if got := len(out.SecretList); got != 60 {
		t.Errorf("ListSecrets returned %d secrets, want 60", got)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.wroteBeforeOn {
		t.Error("net/http was still at the request body when the request was on the wire")
	}
	if g.writeErr != nil {
		t.Errorf("writing the request: %v", g.writeErr)
	}
	if isClosed(g.closed) {
		t.Error("the client closed the connection of a request that succeeded")
	}
}
