package awstest

import (
	"bytes"
	"io"
	"net/http"
)

// ownBodies returns an http.RoundTripper that reads each request's body
// before handing the request to next, which then sends a copy that only
// it holds.
//
// Without it, a call of the SDK fails now and then with "deserialization
// failed, ... read tcp ...: use of closed network connection" on a 200
// answer, more often under -race and load, and more often the longer the
// answer. The mechanism (TestBodyClosedUnderTransport holds it up on
// every run):
//
//   - smithy-go's ClientHandler gives net/http the body wrapped in a
//     safeReadCloser, and closes it as soon as Client.Do returns, although
//     the transport may still be at it then (http.Client.Do: the body
//     "may be closed asynchronously after Do returns", by the transport);
//   - net/http's writeLoop writes the body's Content-Length bytes straight
//     to the connection (the headers were flushed first, since the body is
//     no bytes.Reader it knows), then reads the body once more to check
//     that nothing is left;
//   - on a loopback connection the Server can answer, and the transport
//     return the response to smithy, in between; the closed
//     safeReadCloser's WriteTo then returns io.EOF (where a WriteTo at the
//     end returns nil), net/http takes it as a failed request write and
//     closes the connection, under the response body the deserializer is
//     still reading.
//
// With a bytes.Reader of its own, the transport sends head and body in one
// write after its last read of the body, so nothing the caller does can
// fail the write. The product's clients keep the hazard (on a real network
// the window is much shorter than the round trip); they classify the error
// as transient (resolver/internal/awserr) and the resolver retries it. The
// SDK, from aws-sdk-go-v2 PR #2949 on, retries net.ErrClosed in its
// standard retryer; the Server's clients make one attempt per call, so
// that tests count calls, and need the cause gone instead.
func ownBodies(next http.RoundTripper) http.RoundTripper { return bodyOwner{next} }

type bodyOwner struct{ next http.RoundTripper }

func (t bodyOwner) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return t.next.RoundTrip(r)
	}
	b, err := io.ReadAll(r.Body)
	// A RoundTripper closes the body, even on errors.
	if cerr := r.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	// A RoundTripper does not modify the request it was given.
	own := r.Clone(r.Context())
	own.Body = io.NopCloser(bytes.NewReader(b))
	resp, err := t.next.RoundTrip(own)
	if resp != nil {
		resp.Request = r
	}
	return resp, err
}

// CloseIdleConnections closes next's idle connections, as http.Client's
// CloseIdleConnections asks of its transport.
func (t bodyOwner) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
