package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"omsecrets/resolver"
)

// kvVersion returns the mount's KV version: the configured one, or the
// one detected on first use. Detection reads sys/internal/ui/mounts/<mount>
// (allowed to any token with a capability on the mount), then
// sys/mounts/<mount>; when both are refused, the Store logs it once and
// assumes version 2. A transient failure fails the call and detection is
// tried again on the next one, since guessing wrong would turn every read
// into not found.
func (s *Store) kvVersion(ctx context.Context) (int, error) {
	if v := s.version.Load(); v != 0 {
		return int(v), nil
	}
	select {
	case s.detect <- struct{}{}:
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: detect the KV version of mount %q: %v", resolver.ErrUnavailable, s.mount, ctx.Err())
	}
	defer func() { <-s.detect }()
	if v := s.version.Load(); v != 0 {
		return int(v), nil
	}
	v, err := s.detectVersion(ctx)
	if err != nil {
		return 0, err
	}
	s.version.Store(int32(v))
	return v, nil
}

func (s *Store) detectVersion(ctx context.Context) (int, error) {
	var refusals []string
	for _, p := range []string{"sys/internal/ui/mounts/" + s.mount, "sys/mounts/" + s.mount} {
		r, err := s.auth.do(ctx, http.MethodGet, p, nil)
		if err != nil {
			return 0, fmt.Errorf("detect the KV version of mount %q: %w", s.mount, err)
		}
		if r.status == http.StatusOK {
			return s.versionFrom(r.body, p)
		}
		err = classify("read "+p, r, s.auth.scrubber(r))
		if resolver.Transient(err) {
			return 0, fmt.Errorf("detect the KV version of mount %q: %w", s.mount, err)
		}
		refusals = append(refusals, fmt.Sprintf("%s: HTTP %d", p, r.status))
	}
	if s.detectWarned.CompareAndSwap(false, true) {
		s.logger.Warn("cannot detect the KV version of the mount; assuming KV version 2 (set vault-kv-version, or allow read on sys/internal/ui/mounts/<mount>)",
			"mount", s.mount, "refused", strings.Join(refusals, "; "))
	}
	return 2, nil
}

// versionFrom reads the KV version from a mount description: data.type
// and data.options.version, as the Vault CLI does (no options or version
// "1": version 1). A mount that is not kv is read like version 1, which
// is how generic engines (cubbyhole) answer reads; that is logged once.
func (s *Store) versionFrom(body []byte, p string) (int, error) {
	var m struct {
		Data *struct {
			Type    string         `json:"type"`
			Options map[string]any `json:"options"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.Data == nil {
		return 0, fmt.Errorf("%w: detect the KV version of mount %q: malformed answer from %s", resolver.ErrUnavailable, s.mount, p)
	}
	if m.Data.Type != "kv" && m.Data.Type != "generic" && m.Data.Type != "" {
		if s.typeWarned.CompareAndSwap(false, true) {
			s.logger.Warn("the mount is not a KV secrets engine; reading it as KV version 1", "mount", s.mount, "type", sanitize(m.Data.Type, 64))
		}
		return 1, nil
	}
	if v, _ := m.Data.Options["version"].(string); v == "2" {
		return 2, nil
	}
	return 1, nil
}

// secret turns the answer to a read of apiPath into the secret's JSON
// object of fields, or an error.
func (s *Store) secret(r *reply, apiPath string, version int) (resolver.Secret, error) {
	switch r.status {
	case http.StatusOK:
	case http.StatusNotFound:
		return resolver.Secret{}, s.notFound(r, apiPath, version)
	case http.StatusNoContent:
		return resolver.Secret{}, fmt.Errorf("%w: %s has no data (mount %q)", resolver.ErrNotFound, apiPath, s.mount)
	default:
		err := classify("read "+apiPath, r, s.auth.scrubber(r))
		if r.status == http.StatusForbidden && r.hint == "" {
			err = fmt.Errorf("%w (the token's policies must allow read on %s)", err, apiPath)
		}
		return resolver.Secret{}, err
	}
	var body struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		return resolver.Secret{}, fmt.Errorf("%w: malformed answer to the read of %s", resolver.ErrUnavailable, apiPath)
	}
	fields := body.Data
	token := "" // KV version 1 keeps no version: the Resolver hashes the value
	if version == 2 {
		var d kvData
		if len(body.Data) > 0 && json.Unmarshal(body.Data, &d) != nil {
			return resolver.Secret{}, fmt.Errorf("%w: malformed KV version 2 answer to the read of %s", resolver.ErrUnavailable, apiPath)
		}
		if msg := d.Metadata.gone(); msg != "" {
			return resolver.Secret{}, fmt.Errorf("%w: %s: %s", resolver.ErrNotFound, apiPath, msg)
		}
		fields = d.Data
		if d.Metadata.Version > 0 {
			token = strconv.Itoa(d.Metadata.Version)
		}
	}
	obj, err := FieldsJSON(fields)
	if err != nil {
		return resolver.Secret{}, fmt.Errorf("%w: the data at %s is not a JSON object of fields", resolver.ErrUnavailable, apiPath)
	}
	return resolver.NewSecret(obj).WithVersion(token), nil
}

// kvData is the "data" of a KV version 2 read.
type kvData struct {
	Data     json.RawMessage `json:"data"`
	Metadata kvMetadata      `json:"metadata"`
}

type kvMetadata struct {
	DeletionTime string `json:"deletion_time"`
	Destroyed    bool   `json:"destroyed"`
	Version      int    `json:"version"`
}

// gone says why a version cannot be read ("" if it can): deleted or
// destroyed.
func (m kvMetadata) gone() string {
	switch {
	case m.Destroyed:
		return fmt.Sprintf("version %d is destroyed", m.Version)
	case m.DeletionTime != "":
		// Quoted only as a time: nothing else of the answer reaches a
		// message.
		at := ""
		if t, err := time.Parse(time.RFC3339Nano, m.DeletionTime); err == nil {
			at = " at " + t.UTC().Format(time.RFC3339)
		}
		return fmt.Sprintf("the latest version (%d) was deleted%s; undelete it or write a new version", m.Version, at)
	}
	return ""
}

// notFound explains a 404: a deleted or destroyed latest version (Vault
// answers 404 with the version's metadata), a path Vault routes nowhere
// (a wrong mount or KV version: 404 with errors), or no secret (404 with
// {"errors":[]}).
func (s *Store) notFound(r *reply, apiPath string, version int) error {
	var body struct {
		Data   *kvData  `json:"data"`
		Errors []string `json:"errors"`
	}
	_ = json.Unmarshal(r.body, &body)
	if version == 2 && body.Data != nil {
		if msg := body.Data.Metadata.gone(); msg != "" {
			return fmt.Errorf("%w: %s: %s", resolver.ErrNotFound, apiPath, msg)
		}
	}
	if len(body.Errors) > 0 {
		return fmt.Errorf("%w: Vault has no handler for %s (check the mount %q and its KV version %d)%s",
			resolver.ErrNotFound, apiPath, s.mount, version, vaultErrors(r.body, s.auth.scrubber(r)))
	}
	return fmt.Errorf("%w: no secret at %s (mount %q, KV version %d)", resolver.ErrNotFound, apiPath, s.mount, version)
}

// FieldsJSON turns the fields of a KV secret (a JSON object) into the
// JSON object Get returns: string fields as they are, the literal string
// "null" and JSON null as null, and any other value (number, bool, array,
// object) as a string holding its compact JSON text. Absent or null data
// is the empty object. Keys come out sorted.
func FieldsJSON(data json.RawMessage) (string, error) {
	t := bytes.TrimSpace(data)
	if len(t) == 0 || string(t) == "null" {
		return "{}", nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(t, &fields); err != nil {
		return "", err
	}
	out := make(map[string]*string, len(fields))
	for k, raw := range fields {
		raw = bytes.TrimSpace(raw)
		switch {
		case string(raw) == "null":
			out[k] = nil
		case raw[0] == '"':
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return "", err
			}
			if v == "null" {
				out[k] = nil
			} else {
				out[k] = &v
			}
		default:
			var b bytes.Buffer
			if err := json.Compact(&b, raw); err != nil {
				return "", err
			}
			v := b.String()
			out[k] = &v
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}
