package kubetest

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Request is one request on secrets, as the API server's audit log
// records it at level Metadata.
type Request struct {
	// AuditID identifies the request.
	AuditID string
	// Verb is the RBAC verb: "get", "watch", "list", "create", ...
	Verb string
	// User is the authenticated user name.
	User string
	// Namespace and Name are the object's; Name is set for a watch or
	// list with fieldSelector metadata.name=<name> too, which is how RBAC
	// checks resourceNames for them.
	Namespace, Name string
	// Code is the HTTP status of the answer.
	Code int
	// Stage is the last stage logged: "ResponseComplete", or
	// "ResponseStarted" for a watch that is still open.
	Stage string
	// URI is the request URI (path and query).
	URI string
	// Received is when the server received the request.
	Received time.Time
}

// auditEvent is the part of an audit.k8s.io/v1 Event the package reads.
type auditEvent struct {
	AuditID    string `json:"auditID"`
	Stage      string `json:"stage"`
	Verb       string `json:"verb"`
	RequestURI string `json:"requestURI"`
	User       struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource  string `json:"resource"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	Received metav1.MicroTime `json:"requestReceivedTimestamp"`
}

// Requests returns the requests on the secrets of ns that the API server
// (not the peer of Restart) logged so far, in the order received. Call
// Sync first to be sure the log holds every request that was answered.
func (c *Cluster) Requests(tb testing.TB, ns string) []Request {
	tb.Helper()
	c.audit.mu.Lock()
	defer c.audit.mu.Unlock()
	if err := c.audit.read(filepath.Join(c.dir, "audit.log")); err != nil {
		tb.Fatalf("kubetest: audit log: %v", err)
	}
	var out []Request
	for _, r := range c.audit.reqs {
		if r.Namespace == ns {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b Request) int { return a.Received.Compare(b.Received) })
	return out
}

// auditTail is what was read of the audit log: each call reads only what
// the server appended since. (Reading the whole log each time made a Count
// cost seconds once a package's tests had logged some megabytes, under
// -race and load: longer than the tests' Eventually allowed.)
type auditTail struct {
	mu   sync.Mutex
	off  int64          // bytes of the log read, up to the end of a line
	reqs []Request      // the requests on secrets, in log order
	byID map[string]int // index in reqs by audit ID
}

// read reads the lines appended to the log at path since the last call.
// Callers hold t.mu.
func (t *auditTail) read(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return err
	} else if fi.Size() < t.off {
		// A new log: read it from the start.
		t.off, t.reqs, t.byID = 0, nil, nil
	}
	if _, err := f.Seek(t.off, io.SeekStart); err != nil {
		return err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	// A line the server is still writing is read next time.
	b = b[:bytes.LastIndexByte(b, '\n')+1]
	t.off += int64(len(b))
	if t.byID == nil {
		t.byID = make(map[string]int)
	}
	for line := range bytes.Lines(b) {
		var e auditEvent
		if err := json.Unmarshal(line, &e); err != nil || e.ObjectRef == nil || e.ObjectRef.Resource != "secrets" {
			continue
		}
		r := Request{
			AuditID: e.AuditID, Verb: e.Verb, User: e.User.Username,
			Namespace: e.ObjectRef.Namespace, Name: e.ObjectRef.Name,
			Stage: e.Stage, URI: e.RequestURI, Received: e.Received.Time,
		}
		if e.ResponseStatus != nil {
			r.Code = e.ResponseStatus.Code
		}
		if i, ok := t.byID[e.AuditID]; ok {
			t.reqs[i] = r // a later stage of the same request
			continue
		}
		t.byID[e.AuditID] = len(t.reqs)
		t.reqs = append(t.reqs, r)
	}
	return nil
}

// Sync makes a request of its own on the secrets of ns and waits until
// the audit log has it, so that the requests answered before Sync was
// called are in the log too (the server writes an event when the
// request's handler returns, which may be just after its client read the
// answer).
func (c *Cluster) Sync(tb testing.TB, ns string) {
	tb.Helper()
	marker := "kubetest-sync-" + strconv.FormatInt(c.nsCounter.Add(1), 10)
	ctx, cancel := opContext()
	defer cancel()
	_, _ = c.admin.CoreV1().Secrets(ns).Get(ctx, marker, metav1.GetOptions{}) // 404, logged
	deadline := time.Now().Add(10 * time.Second)
	for {
		if slices.ContainsFunc(c.Requests(tb, ns), func(r Request) bool { return r.Name == marker }) {
			// One more moment for events of other handlers that
			// returned just before the marker's.
			time.Sleep(50 * time.Millisecond)
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("kubetest: the audit log did not record %s/%s within 10s", ns, marker)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Count syncs the audit log (see Sync) and returns how many requests on
// the secrets of ns match verb, name and user; an empty name or user
// matches any. Requests of the admin user (the helpers' own, Sync's)
// never match.
func (c *Cluster) Count(tb testing.TB, ns, verb, name, user string) int {
	tb.Helper()
	c.Sync(tb, ns)
	n := 0
	for _, r := range c.Requests(tb, ns) {
		if r.Verb == verb && (name == "" || r.Name == name) && (user == "" || r.User == user) && r.User != AdminName {
			n++
		}
	}
	return n
}
