package gcptest

import (
	"net"
	"sync"
)

// trackingListener remembers the connections it accepted, by remote
// address, so that a handler can drop the one its request came on.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[string]net.Conn
}

func newTrackingListener(l net.Listener) *trackingListener {
	return &trackingListener{Listener: l, conns: make(map[string]net.Conn)}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.conns[c.RemoteAddr().String()] = c
	l.mu.Unlock()
	return &trackedConn{Conn: c, l: l}, nil
}

// drop closes the connection from remote, as a network failure or a
// load balancer resetting it would, and reports whether there was one.
func (l *trackingListener) drop(remote string) bool {
	l.mu.Lock()
	c, ok := l.conns[remote]
	delete(l.conns, remote)
	l.mu.Unlock()
	if ok {
		_ = c.Close()
	}
	return ok
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c.RemoteAddr().String())
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
