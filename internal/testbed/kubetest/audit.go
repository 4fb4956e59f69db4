package kubetest

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
	f, err := os.Open(filepath.Join(c.dir, "audit.log"))
	if err != nil {
		tb.Fatalf("kubetest: audit log: %v", err)
	}
	defer f.Close()
	byID := make(map[string]int)
	var out []Request
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var e auditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.ObjectRef == nil || e.ObjectRef.Resource != "secrets" || e.ObjectRef.Namespace != ns {
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
		if i, ok := byID[e.AuditID]; ok {
			out[i] = r // a later stage of the same request
			continue
		}
		byID[e.AuditID] = len(out)
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("kubetest: audit log: %v", err)
	}
	slices.SortStableFunc(out, func(a, b Request) int { return a.Received.Compare(b.Received) })
	return out
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
