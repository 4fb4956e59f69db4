package omclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// TLSConfig builds the TLS configuration for one of OpenMetadata's
// verifySSL modes (security/ssl/verifySSLConfig.json: "no-ssl", "ignore",
// "validate"; "" is the schema default "no-ssl"):
//
//   - "no-ssl": nil, i.e. Go's defaults. OpenMetadata means "configure
//     nothing": an https hostPort is still verified against the system
//     roots, and the PEM arguments are ignored.
//   - "ignore": certificates are not verified (InsecureSkipVerify). caPEM is
//     ignored; a client certificate is still presented if given.
//   - "validate": the system roots plus caPEM (the sslConfig's
//     caCertificate, PEM text; optional), and the client certificate if
//     given.
//
// certPEM and keyPEM (sslCertificate, sslKey) are a client certificate for
// mutual TLS; give both or neither. Errors name the mode or the argument,
// never PEM content.
func TLSConfig(verifySSL string, caPEM, certPEM, keyPEM []byte) (*tls.Config, error) {
	switch verifySSL {
	case "", "no-ssl":
		return nil, nil
	case "ignore", "validate":
	default:
		return nil, fmt.Errorf("unknown verifySSL mode %q (want no-ssl, ignore or validate)", verifySSL)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(certPEM) > 0 || len(keyPEM) > 0 {
		if len(certPEM) == 0 || len(keyPEM) == 0 {
			return nil, errors.New("client certificate and key must be given together")
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			// crypto/tls errors describe the failure, not the PEM content.
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if verifySSL == "ignore" {
		// The operator asked for it (verifySSL: ignore), as OpenMetadata's
		// own clients honour it.
		cfg.InsecureSkipVerify = true //nolint:gosec // OpenMetadata's "ignore" mode
		return cfg, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if len(caPEM) > 0 && !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("CA certificate: no PEM certificate found")
	}
	cfg.RootCAs = pool
	return cfg, nil
}
