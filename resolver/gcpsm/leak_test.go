package gcpsm_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/auth"
	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"omsecrets/internal/testbed/gcptest"
	"omsecrets/resolver"
	"omsecrets/resolver/gcpsm"
)

const leakMarker = "GCP-LEAK-MARKER-5e2b"

// secretMaterial is what must never show: the planted value (also in
// base64, as a payload's bytes would print), every access token the
// Server issued, the lines of the private key, and any JWT.
func secretMaterial(srv *gcptest.Server) []string {
	out := []string{leakMarker, base64.StdEncoding.EncodeToString([]byte(leakMarker)), "eyJhbGci"}
	out = append(out, srv.IssuedTokens()...)
	for _, c := range srv.CallLog() {
		if c.Token != "" {
			out = append(out, c.Token)
		}
	}
	for _, line := range strings.Split(srv.PrivateKeyPEM(), "\n") {
		if len(line) > 20 && !strings.HasPrefix(line, "-----") {
			out = append(out, line)
		}
	}
	return out
}

// TestNoValueLeaks plants a marker in every secret, drives every failure
// path and checks that no error message and no log line carries the
// marker, a token or the key.
func TestNoValueLeaks(t *testing.T) {
	t.Parallel()
	p, s, log := newProvider(t)
	s.PutSecret("leak_a", leakMarker)
	s.PutSecret("leak_json", `{"password":"`+leakMarker+`"}`)
	s.PutSecret("leak_denied", leakMarker)
	s.DenyID("leak_denied")
	s.PutSecret("leak_disabled", leakMarker)
	s.DisableVersion("leak_disabled", 1)
	s.PutSecret("leak_destroyed", leakMarker)
	s.DestroyVersion("leak_destroyed", 1)
	ids := []string{"leak_a", "leak_json", "leak_denied", "leak_disabled", "leak_destroyed", "leak_missing", "projects/" + s.Project + "/secrets/leak_a/versions/7", "leak/bad"}

	var msgs []string
	record := func(err error) {
		if err != nil {
			msgs = append(msgs, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		}
	}
	faults := []func(){
		func() {},
		func() { s.Throttle(1); s.SetRetryDelay(time.Second) },
		func() { s.FailNext(1, codes.Unavailable) },
		func() { s.FailNext(1, codes.Internal) },
		func() { s.DropNext(1) },
		func() { s.CorruptNext(1) },
		func() { s.RevokeTokens() },
		func() { s.SetRejectTokens(true) },
		func() { s.SetRejectTokens(false); s.RevokeTokens(); s.FailTokenNext(1, 500) },
		func() { s.RevokeTokens(); s.FailTokenNext(1, 429) },
	}
	for _, fault := range faults {
		for _, id := range ids {
			fault()
			_, err := p.Get(t.Context(), id)
			record(err)
		}
	}
	s.RevokeTokens()
	s.DisableKey()
	_, err := p.Get(t.Context(), "leak_a")
	require.Error(t, err)
	record(err)

	// An endpoint whose answer does not decode as an
	// AccessSecretVersionResponse, with the marker in it.
	bs := gcptest.New(t)
	broken := brokenEndpoint(t, bs)
	bp, blog := open(t, map[string]string{gcpsm.ProjectID.Name: bs.Project, gcpsm.Endpoint.Name: broken}, envMap(bs.Env()))
	_, err = bp.Get(t.Context(), "leak_a")
	require.Error(t, err)
	assert.Equal(t, "unavailable", resolver.Class(err), "%v", err)
	record(err)

	require.NotEmpty(t, msgs)
	material := append(secretMaterial(s), secretMaterial(bs)...)
	logs := log.String() + blog.String()
	for _, m := range msgs {
		for _, planted := range material {
			assert.False(t, strings.Contains(m, planted), "an error message carries secret material")
		}
	}
	for _, planted := range material {
		assert.False(t, strings.Contains(logs, planted), "the log carries secret material")
	}
	assert.Contains(t, logs, "access token refused; fetching a new one", "the log was written")
}

// brokenEndpoint serves every gRPC method with a message that is not the
// response type (a name field of invalid UTF-8 holding the marker), over
// TLS with srv's CA.
func brokenEndpoint(t *testing.T, srv *gcptest.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gs := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(srv.ServerTLS())),
		grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
			if err := stream.RecvMsg(&emptypb.Empty{}); err != nil {
				return err
			}
			return stream.SendMsg(wrapperspb.Bytes([]byte("\xff" + leakMarker)))
		}),
	)
	go func() { _ = gs.Serve(l) }()
	t.Cleanup(gs.Stop)
	return l.Addr().String()
}

// TestLibraryLoggingOff sets GOOGLE_SDK_GO_LOGGING_LEVEL=debug, which
// makes the Google libraries log every request and answer to stderr when
// they were given no logger: a client built like the Provider but
// without option.WithLogger writes the payload there (the control); the
// Provider writes nothing of it.
//
// Not parallel: it sets a process variable and replaces os.Stderr.
func TestLibraryLoggingOff(t *testing.T) {
	t.Setenv("GOOGLE_SDK_GO_LOGGING_LEVEL", "debug")
	srv := gcptest.New(t)
	srv.PutSecret("log_a", leakMarker)

	capture := func(fn func()) string {
		t.Helper()
		f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
		require.NoError(t, err)
		old := os.Stderr
		os.Stderr = f
		defer func() { os.Stderr = old }()
		fn()
		require.NoError(t, f.Close())
		b, err := os.ReadFile(f.Name())
		require.NoError(t, err)
		return string(b)
	}

	var tok string
	ours := capture(func() {
		p, err := gcpsm.New(t.Context(), gcpsm.Options{Project: srv.Project, Endpoint: srv.Endpoint(), Env: envMap(srv.Env())})
		require.NoError(t, err)
		defer p.Close()
		v, err := p.Get(t.Context(), "log_a")
		require.NoError(t, err)
		require.Equal(t, leakMarker, v.Value())
		_, err = p.Get(t.Context(), "log_missing")
		require.Error(t, err)
		tok = srv.IssuedTokens()[0]
	})
	for _, planted := range secretMaterial(srv) {
		assert.False(t, strings.Contains(ours, planted), "the Provider let the library log secret material")
	}

	control := capture(func() {
		pool := x509.NewCertPool()
		require.True(t, pool.AppendCertsFromPEM(srv.CAPEM()))
		creds := auth.NewCredentials(&auth.CredentialsOptions{TokenProvider: staticToken(tok)})
		c, err := secretmanager.NewClient(t.Context(),
			option.WithEndpoint(srv.Endpoint()),
			option.WithAuthCredentials(creds),
			option.WithUniverseDomain("googleapis.com"),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool}))),
		)
		require.NoError(t, err)
		defer c.Close()
		_, err = c.AccessSecretVersion(t.Context(), &secretmanagerpb.AccessSecretVersionRequest{Name: "projects/" + srv.Project + "/secrets/log_a/versions/latest"})
		require.NoError(t, err)
	})
	assert.Contains(t, control, base64.StdEncoding.EncodeToString([]byte(leakMarker)),
		"control: without a logger the library logs the payload to stderr; if this fails, the test no longer shows anything")
}

type staticToken string

func (s staticToken) Token(context.Context) (*auth.Token, error) {
	return &auth.Token{Value: string(s), Type: "Bearer"}, nil
}
