package vaulttest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// mount is one KV secrets engine.
type mount struct {
	version int
	uuid    string
	v1      map[string]map[string]any // KV version 1: path -> fields
	v2      map[string]*kvSecret      // KV version 2: path -> versions
}

func newMount(version int) *mount {
	return &mount{version: version, uuid: randomID(12), v1: make(map[string]map[string]any), v2: make(map[string]*kvSecret)}
}

// kvSecret is a KV version 2 secret with its versions, oldest first.
type kvSecret struct {
	versions []*kvVersion
	created  time.Time
	updated  time.Time
}

type kvVersion struct {
	data      map[string]any
	created   time.Time
	deletedAt time.Time // zero if not deleted
	destroyed bool
}

// Mount adds (or replaces, emptying it) the KV mount name with the KV
// version (1 or 2) in the root namespace.
func (s *Server) Mount(name string, version int) { s.MountIn("", name, version) }

// MountIn adds (or replaces, emptying it) the KV mount name with the KV
// version (1 or 2) in namespace ns, creating the namespace.
func (s *Server) MountIn(ns, name string, version int) {
	if version != 1 && version != 2 {
		panic(fmt.Sprintf("vaulttest: KV version %d", version))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ns = normNamespace(ns)
	if s.mounts[ns] == nil {
		s.mounts[ns] = make(map[string]*mount)
	}
	s.mounts[ns][strings.Trim(name, "/")] = newMount(version)
}

// Put writes fields at path of DefaultMount in the root namespace and
// returns the new version (1 on a KV version 1 mount).
func (s *Server) Put(path string, fields map[string]any) int {
	return s.PutAt("", DefaultMount, path, fields)
}

// PutAt writes fields at path of mount in namespace ns (which must exist)
// and returns the new version (1 on a KV version 1 mount). Field values
// are anything encoding/json marshals.
func (s *Server) PutAt(ns, mountName, path string, fields map[string]any) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mustMount(ns, mountName)
	data := maps.Clone(fields)
	if data == nil {
		data = map[string]any{}
	}
	if m.version == 1 {
		m.v1[path] = data
		return 1
	}
	now := s.now()
	sec := m.v2[path]
	if sec == nil {
		sec = &kvSecret{created: now}
		m.v2[path] = sec
	}
	sec.versions = append(sec.versions, &kvVersion{data: data, created: now})
	sec.updated = now
	return len(sec.versions)
}

// Delete soft-deletes the latest version of path in DefaultMount (KV
// version 2), as `vault kv delete` does: it can no longer be read, and
// reading it answers 404 with its metadata.
func (s *Server) Delete(path string) { s.DeleteAt("", DefaultMount, path) }

// DeleteAt is Delete for path of mount in namespace ns; on a KV version 1
// mount it removes the path.
func (s *Server) DeleteAt(ns, mountName, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mustMount(ns, mountName)
	if m.version == 1 {
		delete(m.v1, path)
		return
	}
	if sec := m.v2[path]; sec != nil && len(sec.versions) > 0 {
		sec.versions[len(sec.versions)-1].deletedAt = s.now()
	}
}

// Destroy destroys the latest version of path in DefaultMount (KV version
// 2), as `vault kv destroy` does.
func (s *Server) Destroy(path string) { s.DestroyAt("", DefaultMount, path) }

// DestroyAt is Destroy for path of mount in namespace ns.
func (s *Server) DestroyAt(ns, mountName, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := s.mustMount(ns, mountName).v2[path]; sec != nil && len(sec.versions) > 0 {
		v := sec.versions[len(sec.versions)-1]
		v.destroyed, v.data = true, nil
	}
}

// Remove deletes path in DefaultMount with all its versions and metadata,
// as `vault kv metadata delete` does.
func (s *Server) Remove(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mustMount("", DefaultMount)
	delete(m.v1, path)
	delete(m.v2, path)
}

// mustMount returns the mount or panics: a test that writes to a mount it
// did not create has a bug.
func (s *Server) mustMount(ns, name string) *mount {
	m := s.mounts[normNamespace(ns)][strings.Trim(name, "/")]
	if m == nil {
		panic(fmt.Sprintf("vaulttest: no mount %q in namespace %q", name, ns))
	}
	return m
}

// route finds the mount of an API path in namespace ns: the longest mount
// path that is a whole-segment prefix of it. It returns the mount, its
// name and the rest of the path.
func (s *Server) routeLocked(ns, path string) (*mount, string, string) {
	var best *mount
	var bestName, rest string
	for name, m := range s.mounts[ns] {
		after, ok := strings.CutPrefix(path, name+"/")
		if !ok || (best != nil && len(name) <= len(bestName)) {
			continue
		}
		best, bestName, rest = m, name, after
	}
	return best, bestName, rest
}

// kvRead answers a GET on a KV mount.
func (s *Server) kvRead(w http.ResponseWriter, r *http.Request, ns, path string) {
	m, name, rest := s.routeLocked(ns, path)
	if m == nil {
		writeErrors(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", path))
		return
	}
	if r.Method != http.MethodGet {
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	if m.version == 1 {
		data, ok := m.v1[rest]
		if !ok {
			writeErrors(w, http.StatusNotFound)
			return
		}
		writeJSON(w, http.StatusOK, secretBody(data, nil))
		return
	}
	op, p, _ := strings.Cut(rest, "/")
	switch {
	case p == "":
		writeErrors(w, http.StatusNotFound)
	case op == "data":
		s.kvData(w, r, m, p)
	case op == "metadata":
		s.kvMetadata(w, m, p)
	default:
		// Vault routes <mount>/<other> of a KV v2 mount nowhere and
		// says how to read it.
		writeErrors(w, http.StatusNotFound, fmt.Sprintf("Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation. (mount %s)", name))
	}
}

// kvData answers <mount>/data/<path>: 200 with data and metadata; 404
// with only metadata for a deleted or destroyed version; 404 with no data
// for a missing secret or version.
func (s *Server) kvData(w http.ResponseWriter, r *http.Request, m *mount, path string) {
	sec := m.v2[path]
	if sec == nil || len(sec.versions) == 0 {
		writeErrors(w, http.StatusNotFound)
		return
	}
	n := len(sec.versions)
	if q := r.URL.Query().Get("version"); q != "" && q != "0" {
		v, err := strconv.Atoi(q)
		if err != nil || v < 0 {
			writeErrors(w, http.StatusBadRequest, "invalid version")
			return
		}
		n = v
	}
	if n < 1 || n > len(sec.versions) {
		writeErrors(w, http.StatusNotFound)
		return
	}
	v := sec.versions[n-1]
	meta := versionMeta(v, n)
	if !v.deletedAt.IsZero() || v.destroyed {
		writeJSON(w, http.StatusNotFound, secretBody(map[string]any{"data": nil, "metadata": meta}, nil))
		return
	}
	writeJSON(w, http.StatusOK, secretBody(map[string]any{"data": v.data, "metadata": meta}, nil))
}

func versionMeta(v *kvVersion, n int) map[string]any {
	del := ""
	if !v.deletedAt.IsZero() {
		del = v.deletedAt.UTC().Format(time.RFC3339Nano)
	}
	return map[string]any{
		"created_time":    v.created.UTC().Format(time.RFC3339Nano),
		"custom_metadata": nil,
		"deletion_time":   del,
		"destroyed":       v.destroyed,
		"version":         n,
	}
}

// kvMetadata answers <mount>/metadata/<path>.
func (s *Server) kvMetadata(w http.ResponseWriter, m *mount, path string) {
	sec := m.v2[path]
	if sec == nil {
		writeErrors(w, http.StatusNotFound)
		return
	}
	versions := make(map[string]any, len(sec.versions))
	for i, v := range sec.versions {
		meta := versionMeta(v, i+1)
		delete(meta, "custom_metadata")
		delete(meta, "version")
		versions[strconv.Itoa(i+1)] = meta
	}
	writeJSON(w, http.StatusOK, secretBody(map[string]any{
		"cas_required":         false,
		"created_time":         sec.created.UTC().Format(time.RFC3339Nano),
		"current_version":      len(sec.versions),
		"custom_metadata":      nil,
		"delete_version_after": "0s",
		"max_versions":         0,
		"oldest_version":       0,
		"updated_time":         sec.updated.UTC().Format(time.RFC3339Nano),
		"versions":             versions,
	}, nil))
}

// mountInfo answers sys/internal/ui/mounts/<mount> (ui) and
// sys/mounts/<mount> with the mount's type and options. For a path with
// no mount, the ui endpoint answers permission denied, as Vault does so
// that it cannot be used to list mounts; sys/mounts answers 400.
func (s *Server) mountInfo(w http.ResponseWriter, ns, name string, ui bool) {
	name = strings.Trim(name, "/")
	m := s.mounts[ns][name]
	if m == nil && ui {
		// A path under a mount names the mount too.
		m, name, _ = s.routeLocked(ns, name+"/")
	}
	switch {
	case m == nil && ui:
		writeErrors(w, http.StatusForbidden, ErrPermissionDenied)
		return
	case m == nil:
		writeErrors(w, http.StatusBadRequest, fmt.Sprintf("No secret engine mount at %s/", name))
		return
	}
	writeJSON(w, http.StatusOK, secretBody(map[string]any{
		"accessor":    "kv_" + m.uuid[:8],
		"config":      map[string]any{"default_lease_ttl": 0, "force_no_cache": false, "max_lease_ttl": 0},
		"description": "key/value secret storage",
		"local":       false,
		"options":     map[string]any{"version": strconv.Itoa(m.version)},
		"path":        name + "/",
		"seal_wrap":   false,
		"type":        "kv",
		"uuid":        m.uuid,
	}, nil))
}

// secretBody is Vault's response envelope around data and auth.
func secretBody(data any, auth map[string]any) map[string]any {
	return map[string]any{
		"request_id":     randomID(8) + "-" + randomID(4),
		"lease_id":       "",
		"renewable":      false,
		"lease_duration": 0,
		"data":           data,
		"wrap_info":      nil,
		"warnings":       nil,
		"auth":           auth,
	}
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"errors":["vaulttest: cannot marshal the response"]}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// writeErrors writes Vault's error body {"errors":[...]}; no messages is
// Vault's {"errors":[]} of a 404.
func writeErrors(w http.ResponseWriter, code int, msgs ...string) {
	if msgs == nil {
		msgs = []string{}
	}
	writeJSON(w, code, map[string]any{"errors": msgs})
}
