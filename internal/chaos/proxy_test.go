package chaos

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// proxyMode is what a proxy does with connections.
type proxyMode int

const (
	// forward pipes each connection to the backend.
	forward proxyMode = iota
	// reset reads the start of each request and resets the connection
	// (RST, SO_LINGER 0) without answering.
	reset
	// answer answers every HTTP request with a fixed status (plain HTTP
	// backends only), and closes the connection.
	answer
	// refuse closes the listening socket: connections are refused.
	refuse
)

// proxy is a TCP proxy in front of a test server that injects faults at
// the connection level. Changing the mode also resets every connection
// in flight, so that a client's pooled keep-alive connections meet the
// fault too (as they would when the server behind went away). It is safe
// for concurrent use.
type proxy struct {
	t    *testing.T
	addr string

	mu         sync.Mutex
	ln         net.Listener
	backend    string
	mode       proxyMode
	status     int
	retryAfter string
	open       map[net.Conn]bool
	closed     bool
	// counters of faulty connections and answers
	resets, answers, forwarded int
}

func newProxy(t *testing.T, backend string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{t: t, addr: ln.Addr().String(), ln: ln, backend: backend, open: make(map[net.Conn]bool)}
	go p.serve(ln)
	t.Cleanup(func() {
		p.mu.Lock()
		p.closed = true
		if p.ln != nil {
			p.ln.Close()
		}
		p.dropAllLocked()
		p.mu.Unlock()
	})
	return p
}

func (p *proxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

// set switches the mode (status and retryAfter apply to answer) and resets
// every open connection.
func (p *proxy) set(mode proxyMode, status int, retryAfter string) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case mode == refuse && p.ln != nil:
		p.ln.Close()
		p.ln = nil
	case mode != refuse && p.ln == nil:
		var ln net.Listener
		var err error
		for range 50 { // the port was ours a moment ago; retry briefly
			if ln, err = net.Listen("tcp", p.addr); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		require.NoError(p.t, err, "proxy: listen again on %s", p.addr)
		p.ln = ln
		go p.serve(ln)
	}
	p.mode, p.status, p.retryAfter = mode, status, retryAfter
	p.dropAllLocked()
}

// setBackend points forwarded connections at addr and resets the open
// ones.
func (p *proxy) setBackend(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.backend = addr
	p.dropAllLocked()
}

// dropAll resets every open connection.
func (p *proxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropAllLocked()
}

func (p *proxy) dropAllLocked() {
	for c := range p.open {
		rst(c)
		delete(p.open, c)
	}
}

// counts returns the faulty connections and answers so far.
func (p *proxy) counts() (resets, answers int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.resets, p.answers
}

// rst closes c with a TCP reset.
func rst(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// track records c as open, unless the proxy is closed or refusing, and
// returns the mode to apply to it. Because set changes the mode and resets
// the open connections under the same lock, a connection accepted just
// before a change is either reset by it or sees the new mode: none slips
// through and keeps forwarding.
func (p *proxy) track(c net.Conn) (mode proxyMode, status int, retryAfter, backend string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.mode == refuse {
		return 0, 0, "", "", false
	}
	p.open[c] = true
	return p.mode, p.status, p.retryAfter, p.backend, true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.open, c)
}

func (p *proxy) handle(c net.Conn) {
	mode, status, retryAfter, backend, ok := p.track(c)
	if !ok {
		rst(c)
		return
	}
	defer p.untrack(c)
	switch mode {
	case reset:
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, _ = c.Read(make([]byte, 512))
		p.mu.Lock()
		p.resets++
		p.mu.Unlock()
		rst(c)
	case answer:
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			body := fmt.Sprintf(`{"code":%d,"message":"%s"}`, status, http.StatusText(status))
			var hdr strings.Builder
			fmt.Fprintf(&hdr, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", status, http.StatusText(status), len(body))
			if retryAfter != "" {
				fmt.Fprintf(&hdr, "Retry-After: %s\r\n", retryAfter)
			}
			hdr.WriteString("\r\n")
			p.mu.Lock()
			p.answers++
			p.mu.Unlock()
			if _, err := io.WriteString(c, hdr.String()+body); err != nil {
				return
			}
		}
	default:
		b, err := net.DialTimeout("tcp", backend, 2*time.Second)
		if err != nil {
			rst(c)
			return
		}
		if _, _, _, _, ok := p.track(b); !ok {
			b.Close()
			rst(c)
			return
		}
		defer p.untrack(b)
		p.mu.Lock()
		p.forwarded++
		p.mu.Unlock()
		done := make(chan struct{}, 2)
		go func() { _, _ = io.Copy(b, c); done <- struct{}{} }()
		go func() { _, _ = io.Copy(c, b); done <- struct{}{} }()
		<-done
		c.Close()
		b.Close()
		<-done
	}
}
