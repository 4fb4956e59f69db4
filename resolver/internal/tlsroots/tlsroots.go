// Package tlsroots builds the certificate pool the stores that speak TLS
// trust: the system roots, plus the bundle that SSL_CERT_FILE names in the
// store's environment map (resolver.StoreConfig.Env).
//
// Go reads SSL_CERT_FILE itself from the process environment, but the
// stores read only the map they are given, so the rule is applied here:
// a private endpoint's or a TLS-inspecting proxy's CA in SSL_CERT_FILE is
// trusted by every store alike, and the tests point the real SDKs at
// their TLS test servers the same way.
package tlsroots

import (
	"crypto/x509"
	"fmt"

	"omsecrets/internal/safefile"
)

// Var is the variable naming an extra PEM bundle.
const Var = "SSL_CERT_FILE"

// maxBundle bounds the bundle read: a CA bundle is kilobytes, Debian's
// whole one about 200 KiB.
const maxBundle = 4 << 20

// Pool returns the system roots plus the certificates of the PEM file
// env[Var] names, if set. It fails when that file cannot be read, is not
// a regular file, is larger than 4 MiB or holds no certificate.
func Pool(env map[string]string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	path := env[Var]
	if path == "" {
		return pool, nil
	}
	pem, err := safefile.Read(path, maxBundle)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", Var, path, err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in the file", Var, path)
	}
	return pool, nil
}
