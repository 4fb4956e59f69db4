package omclient_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/omclient"
	"omsecrets/internal/testbed/omtest"
)

func TestTLSModes(t *testing.T) {
	t.Parallel()
	s := omtest.New(t, omtest.TLS())
	bot := s.BotToken("ingestion-bot")
	id := s.PutService("databaseService", mysql("db"))
	ref := omclient.ServiceRef{ID: id, Type: "databaseService"}

	tests := []struct {
		name   string
		mode   string
		ca     []byte
		wantOK bool
	}{
		{"validate with the CA", "validate", s.CAPEM(), true},
		{"validate without the CA", "validate", nil, false},
		{"ignore", "ignore", nil, true},
		{"ignore disregards a CA", "ignore", []byte("not a certificate"), true},
		{"no-ssl uses the system roots", "no-ssl", s.CAPEM(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := omclient.TLSConfig(tt.mode, tt.ca, nil, nil)
			require.NoError(t, err)
			opts := fastOptions(s.URL())
			opts.TLS = cfg
			c := newClient(t, opts)
			svc, err := c.Service(t.Context(), bot, ref)
			if tt.wantOK {
				require.NoError(t, err)
				assert.Equal(t, id, svc.ID)
				return
			}
			requireClass(t, err, nil) // waiting does not fix a certificate
			var apiErr *omclient.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, 1, apiErr.Attempts, "certificate errors are not retried")
			assert.Contains(t, err.Error(), "certificate signed by unknown authority")
		})
	}
}

func TestTLSConfig(t *testing.T) {
	t.Parallel()
	certPEM, keyPEM := clientCert(t)
	_, otherKey := clientCert(t)
	caPEM := omtest.New(t, omtest.TLS()).CAPEM()

	tests := []struct {
		name          string
		mode          string
		ca, cert, key []byte
		wantErr       string
		check         func(t *testing.T, c *tls.Config)
	}{
		{name: "no-ssl", mode: "no-ssl", ca: []byte("junk"), cert: []byte("junk"), check: func(t *testing.T, c *tls.Config) {
			assert.Nil(t, c, "no-ssl configures nothing")
		}},
		{name: "default mode", mode: "", check: func(t *testing.T, c *tls.Config) { assert.Nil(t, c) }},
		{name: "ignore", mode: "ignore", check: func(t *testing.T, c *tls.Config) {
			assert.True(t, c.InsecureSkipVerify)
			assert.Empty(t, c.Certificates)
		}},
		{name: "ignore with client cert", mode: "ignore", cert: certPEM, key: keyPEM, check: func(t *testing.T, c *tls.Config) {
			assert.True(t, c.InsecureSkipVerify)
			assert.Len(t, c.Certificates, 1)
		}},
		{name: "validate", mode: "validate", check: func(t *testing.T, c *tls.Config) {
			assert.False(t, c.InsecureSkipVerify)
			assert.NotNil(t, c.RootCAs)
			assert.Equal(t, uint16(tls.VersionTLS12), c.MinVersion)
		}},
		{name: "validate with CA and client cert", mode: "validate", ca: caPEM, cert: certPEM, key: keyPEM, check: func(t *testing.T, c *tls.Config) {
			assert.False(t, c.InsecureSkipVerify)
			assert.Len(t, c.Certificates, 1)
		}},
		{name: "unknown mode", mode: "verify", wantErr: `unknown verifySSL mode "verify" (want no-ssl, ignore or validate)`},
		{name: "bad CA", mode: "validate", ca: []byte("-----BEGIN NOTHING-----\nc2VjcmV0\n-----END NOTHING-----\n"), wantErr: "CA certificate: no PEM certificate found"},
		{name: "cert without key", mode: "validate", cert: certPEM, wantErr: "client certificate and key must be given together"},
		{name: "key without cert", mode: "ignore", key: keyPEM, wantErr: "client certificate and key must be given together"},
		{name: "mismatched key", mode: "validate", cert: certPEM, key: otherKey, wantErr: "client certificate: tls: private key does not match public key"},
		{name: "garbage pair", mode: "validate", cert: []byte("garbage"), key: []byte("garbage"), wantErr: "client certificate: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := omclient.TLSConfig(tt.mode, tt.ca, tt.cert, tt.key)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				for _, pem := range [][]byte{tt.ca, tt.cert, tt.key} {
					if len(pem) > 0 {
						assert.NotContains(t, err.Error(), string(pem))
					}
				}
				assert.NotContains(t, err.Error(), "BEGIN")
				assert.NotContains(t, err.Error(), "c2VjcmV0")
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

// clientCert returns a self-signed client certificate and its key, PEM.
func clientCert(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "omsecrets"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}
