package workflow

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"

	"omsecrets/internal/render"
)

// Server is a definition's OpenMetadata server connection: what reconcile
// needs to call the OpenMetadata API as the pipeline's bot. JWTToken
// is a secret (or a secret: reference to one): String, GoString and
// LogValue never print it.
type Server struct {
	HostPort, AuthProvider, JWTToken string
	// Provider and Loader are secretsManagerProvider and
	// secretsManagerLoader.
	Provider, Loader string
	// VerifySSL is no-ssl, ignore or validate ("" when unset).
	VerifySSL string
	// CACertificate is sslConfig.caCertificate (PEM text), or the older
	// sslConfig.certificatePath (a file path).
	CACertificate string
	ClusterName   string
	ExtraHeaders  map[string]string
}

func (s serverConnection) export() *Server {
	cluster := s.clusterName
	if cluster == "" {
		cluster = DefaultClusterName
	}
	return &Server{
		HostPort: s.hostPort, AuthProvider: s.authProvider, JWTToken: s.jwtToken,
		Provider: s.provider, Loader: s.loader, VerifySSL: s.verifySSL,
		CACertificate: s.caCrt, ClusterName: cluster, ExtraHeaders: maps.Clone(s.extraHeaders),
	}
}

// String describes the server connection without its token.
func (s Server) String() string {
	return fmt.Sprintf("OpenMetadata server %s (auth %s, token set %t)", s.HostPort, s.AuthProvider, s.JWTToken != "")
}

// GoString is String, so that %#v prints no token either.
func (s Server) GoString() string { return s.String() }

// LogValue logs the connection without its token or extra headers.
func (s Server) LogValue() slog.Value {
	return slog.GroupValue(slog.String("hostPort", s.HostPort), slog.Bool("token", s.JWTToken != ""))
}

// Server returns the definition's OpenMetadata server connection: a
// pipeline's openMetadataServerConnection, or a workflow config's
// workflowConfig.openMetadataServerConfig. Errors are one line naming the
// file and field and never quote a value.
func (d *Definition) Server() (*Server, error) {
	if d.Kind == KindIngestionPipeline && d.Pipeline != nil {
		return d.Pipeline.srv.export(), nil
	}
	data, err := d.Doc.Marshal(render.JSON)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Path, err)
	}
	root, err := decodeObject(d.Path, "", data)
	if err != nil {
		return nil, err
	}
	wc, _, err := root.object(ServerConfigPath[0], true)
	if err != nil {
		return nil, err
	}
	srv, _, err := wc.object(ServerConfigPath[1], true)
	if err != nil {
		return nil, err
	}
	var s serverConnection
	if err := s.parse(srv); err != nil {
		return nil, err
	}
	return s.export(), nil
}

// FQN returns the pipeline's fullyQualifiedName.
func (p *Pipeline) FQN() string { return p.fqn }

// ResolvedServer returns the pipeline's openMetadataServerConnection as a
// resolved output's workflowConfig.openMetadataServerConfig holds it, in
// JSON: securityConfig.jwtToken set to token, hostPort to hostPort when it
// is not empty, secretsManagerProvider to "db". It returns ok false when
// any other string of the connection is still a secret: reference: the
// result then would not be usable without a store. The bytes hold the
// token: the caller writes them only where an output may go.
func (p *Pipeline) ResolvedServer(token, hostPort string) (data []byte, ok bool, err error) {
	doc, err := render.Parse(p.server, render.JSON)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %s: %w", p.path, PipelineServerConfigPath[0], err)
	}
	if hostPort != "" {
		doc.SetString(nil, "hostPort", hostPort)
	}
	if !doc.SetString([]string{"securityConfig"}, "jwtToken", token) {
		b, _ := json.Marshal(map[string]string{"jwtToken": token}) // cannot fail for strings
		if err := doc.SetJSON(nil, "securityConfig", b); err != nil {
			return nil, false, fmt.Errorf("%s: %s: %w", p.path, PipelineServerConfigPath[0], err)
		}
	}
	doc.SetString(nil, ProviderKey, "db")
	if occ, err := doc.Refs(); err != nil || len(occ) > 0 {
		return nil, false, nil
	}
	data, err = doc.Marshal(render.JSON)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %s: %w", p.path, PipelineServerConfigPath[0], err)
	}
	return data, true, nil
}
