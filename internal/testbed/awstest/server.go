package awstest

import (
	"context"
	"crypto/rand"
	"fmt"
	mathrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Operation targets, the X-Amz-Target values the Server answers. Calls,
// Requested and the Deny actions use them.
const (
	TargetBatchGetSecretValue = "secretsmanager.BatchGetSecretValue"
	TargetGetSecretValue      = "secretsmanager.GetSecretValue"
	TargetGetParameters       = "AmazonSSM.GetParameters"
	TargetGetParameter        = "AmazonSSM.GetParameter"
	TargetListSecrets         = "secretsmanager.ListSecrets"
	TargetDescribeParameters  = "AmazonSSM.DescribeParameters"
)

// IAM actions for Deny.
const (
	ActionBatchGetSecretValue = "secretsmanager:BatchGetSecretValue"
	ActionGetSecretValue      = "secretsmanager:GetSecretValue"
	ActionGetParameters       = "ssm:GetParameters"
	ActionGetParameter        = "ssm:GetParameter"
	ActionListSecrets         = "secretsmanager:ListSecrets"
	ActionDescribeParameters  = "ssm:DescribeParameters"
)

// Default identity of a Server.
const (
	DefaultRegion    = "eu-west-1"
	DefaultAccount   = "123456789012"
	DefaultAccessKey = "AKIDAWSTESTEXAMPLE"
	DefaultSecretKey = "awstest/secret/access/key/EXAMPLEKEY"
)

// Server is a fake Secrets Manager, Parameter Store and STS endpoint. All its
// methods are safe for concurrent use, including while requests are being
// served. Create it with New; it is closed when the test ends. Its
// exported fields are for reading: set them through New's options, since
// requests read them without a lock.
type Server struct {
	// Region is the region requests must be signed for.
	Region string
	// Account is the account id in ARNs.
	Account string
	// AccessKey and SecretKey are the only long-term credentials the
	// Server accepts; it also accepts the temporary credentials its STS
	// (and WithTrustedIssuer's) issued, until they expire.
	AccessKey string
	SecretKey string
	// SessionToken, if set, must be sent as X-Amz-Security-Token (the
	// token of temporary credentials).
	SessionToken string

	srv *httptest.Server

	mu          sync.Mutex
	secrets     map[string]*secret    // by name
	params      map[string]*parameter // by name
	secretNames []string              // sorted names of secrets; nil when stale
	paramNames  []string              // sorted names of params; nil when stale
	denied      map[string]bool       // IAM actions
	deniedIDs   map[string]bool       // names, ARNs or parameter names
	failDecrypt map[string]bool       // names, ARNs or parameter names
	latency     time.Duration
	throttleN   int
	throttleAll bool
	retryAfter  time.Duration
	failN       int
	failStatus  int
	dropN       int
	pageSize    int
	scanLimit   int // DescribeParameters: parameters examined per call
	calls       []Call
	gen         int // bumped by Reset, so late marks skip forgotten calls
	quotas      map[string]*bucket
	throttled   int
	now         func() time.Time // the quotas' clock

	// STS: the role and token AssumeRoleWithWebIdentity accepts, the
	// lifetime of what it issues, and what it issued.
	webRole       string
	webToken      string
	lifetime      time.Duration
	expiredTokens map[string]bool
	issued        map[string]issuedCredentials // by access key id
	issuers       []*Server                    // whose credentials are accepted too
	webCalls      []WebIdentityCall
}

// Call is one request the Server received.
type Call struct {
	// Target is the X-Amz-Target header ("" if absent), or for an STS
	// Query request its target by name (TargetAssumeRoleWithWebIdentity).
	Target string
	// IDs are the secret ids or parameter names the request asked for, in
	// request order (nil if the body did not parse, and for ListSecrets
	// and DescribeParameters, which name none); for STS, the role.
	IDs []string
	// AccessKey is the access key id the request was signed with ("" if
	// it was not signed).
	AccessKey string
	// At is when the request arrived.
	At time.Time
	// Throttled is set if the request was answered with
	// ThrottlingException, by a quota (WithQuota) or by Throttle or
	// SetThrottling.
	Throttled bool

	// quotaAt is when the quotas were applied to the request (zero if
	// it was answered before, as an unauthenticated one is): the time
	// its group's bucket went by.
	quotaAt time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithRegion sets the region requests must be signed for (default
// DefaultRegion).
func WithRegion(region string) Option { return func(s *Server) { s.Region = region } }

// WithCredentials sets the only access key pair the Server accepts
// (default DefaultAccessKey and DefaultSecretKey).
func WithCredentials(accessKey, secretKey string) Option {
	return func(s *Server) { s.AccessKey, s.SecretKey = accessKey, secretKey }
}

// WithSessionToken makes the Server require temporary credentials with
// this session token.
func WithSessionToken(token string) Option { return func(s *Server) { s.SessionToken = token } }

// New starts a Server; it is closed on tb.Cleanup.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := &Server{
		Region:      DefaultRegion,
		Account:     DefaultAccount,
		AccessKey:   DefaultAccessKey,
		SecretKey:   DefaultSecretKey,
		secrets:     make(map[string]*secret),
		params:      make(map[string]*parameter),
		denied:      make(map[string]bool),
		deniedIDs:   make(map[string]bool),
		failDecrypt: make(map[string]bool),
		quotas:      make(map[string]*bucket),
		now:         time.Now,

		expiredTokens: make(map[string]bool),
		issued:        make(map[string]issuedCredentials),
	}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(s)
	tb.Cleanup(s.srv.Close)
	return s
}

// URL returns the base URL of the Server, for a client's BaseEndpoint.
func (s *Server) URL() string { return s.srv.URL }

// Config returns an aws.Config for the Server: its region, its static
// credentials, its URL as BaseEndpoint, a retryer that makes exactly one
// attempt per call, and an HTTP client whose transport sends a copy of
// each request body (see ownBodies), so that every call the Server counts
// is one call of the client and none fails for the client's own doing.
func (s *Server) Config() aws.Config {
	return s.config(&http.Client{Transport: ownBodies(s.srv.Client().Transport)})
}

func (s *Server) config(client *http.Client) aws.Config {
	creds := aws.Credentials{AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey, SessionToken: s.SessionToken, Source: "awstest"}
	return aws.Config{
		Region:       s.Region,
		Credentials:  aws.CredentialsProviderFunc(func(ctx context.Context) (aws.Credentials, error) { return creds, nil }),
		BaseEndpoint: aws.String(s.URL()),
		HTTPClient:   client,
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}
}

// secret is one Secrets Manager secret: the value of its current version
// (AWSCURRENT), and the ids of that version and of the one before it
// (AWSPREVIOUS), which ListSecrets reports.
type secret struct {
	name, arn   string
	str         *string
	binary      []byte
	versionID   string
	prevVersion string // "" for a secret with one version
	created     time.Time
	changed     time.Time // LastChangedDate
	deleting    bool
	deletedAt   time.Time // when ScheduleSecretDeletion was called
}

// parameter is one SSM parameter with all its versions.
type parameter struct {
	name     string
	typ      string // String, StringList or SecureString
	versions []paramVersion
	labels   map[string]int64
}

type paramVersion struct {
	value    string
	modified time.Time
}

// PutSecret stores value as the SecretString of the secret name, creating
// it or adding a new current version, and returns its ARN. As
// PutSecretValue does on AWS, a new version gets a new VersionId and the
// AWSCURRENT stage, the version it replaces keeps AWSPREVIOUS, and the
// secret's LastChangedDate is now. A secret scheduled for deletion is
// restored.
func (s *Server) PutSecret(name, value string) (arn string) {
	return s.putSecret(name, &value, nil)
}

// PutSecretBinary stores b as the SecretBinary of the secret name (a secret
// without SecretString) and returns its ARN.
func (s *Server) PutSecretBinary(name string, b []byte) (arn string) {
	return s.putSecret(name, nil, slices.Clone(b))
}

func (s *Server) putSecret(name string, str *string, binary []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[name]
	if !ok {
		sec = &secret{
			name: name,
			// Secrets Manager appends a hyphen and six random characters
			// to the name in a secret's ARN.
			arn:     fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", s.Region, s.Account, name, randomSuffix()),
			created: time.Now(),
		}
		s.secrets[name] = sec
	}
	sec.str, sec.binary = str, binary
	sec.prevVersion, sec.versionID = sec.versionID, newUUID()
	sec.changed = time.Now()
	sec.deleting = false
	s.secretNames = nil
	return sec.arn
}

// DeleteSecret removes the secret name at once (as a forced deletion does).
func (s *Server) DeleteSecret(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.secrets, name)
	s.secretNames = nil
}

// ScheduleSecretDeletion marks the secret name for deletion: reading it
// then fails with InvalidRequestException, as on AWS during the recovery
// window.
func (s *Server) ScheduleSecretDeletion(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec, ok := s.secrets[name]; ok {
		sec.deleting = true
		sec.deletedAt = time.Now()
		sec.changed = sec.deletedAt
	}
}

// PutParameter stores value under the parameter name, as a SecureString if
// secure and a String otherwise, and returns the new version number (1 for
// a new parameter).
func (s *Server) PutParameter(name, value string, secure bool) (version int64) {
	typ := "String"
	if secure {
		typ = "SecureString"
	}
	return s.putParameter(name, value, typ)
}

// PutStringList stores items as a StringList parameter; AWS returns its
// value comma-joined.
func (s *Server) PutStringList(name string, items ...string) (version int64) {
	return s.putParameter(name, strings.Join(items, ","), "StringList")
}

func (s *Server) putParameter(name, value, typ string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.params[name]
	if !ok {
		p = &parameter{name: name, labels: make(map[string]int64)}
		s.params[name] = p
	}
	p.typ = typ
	p.versions = append(p.versions, paramVersion{value: value, modified: time.Now()})
	s.paramNames = nil
	return int64(len(p.versions))
}

// LabelParameter attaches label to version of the parameter name, moving
// it from any other version. It panics if there is no such version: that
// is a bug in the test.
func (s *Server) LabelParameter(name string, version int64, label string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.params[name]
	if !ok || version < 1 || version > int64(len(p.versions)) {
		panic(fmt.Sprintf("awstest: LabelParameter: no version %d of parameter %q", version, name))
	}
	p.labels[label] = version
}

// DeleteParameter removes the parameter name.
func (s *Server) DeleteParameter(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.params, name)
	s.paramNames = nil
}

// Deny makes every call of an IAM action (see the Action constants) fail
// with AccessDeniedException, as when no policy allows it.
func (s *Server) Deny(action string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[action] = true
}

// Allow undoes Deny(action).
func (s *Server) Allow(action string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.denied, action)
}

// DenyID denies access to one secret (by name or ARN) or parameter (by
// name). BatchGetSecretValue reports it in Errors; GetSecretValue,
// GetParameter and GetParameters fail as a whole with AccessDeniedException,
// as they do on AWS when a policy denies one of the requested resources.
func (s *Server) DenyID(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deniedIDs[id] = true
}

// FailDecrypt makes reading the secret or SecureString parameter id fail
// as if its KMS key could not be used: DecryptionFailure in Secrets
// Manager, InvalidKeyId in Parameter Store.
func (s *Server) FailDecrypt(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failDecrypt[id] = true
}

// SetLatency delays every answer by d (0 for none). A request whose client
// gives up meanwhile gets no answer.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Throttle makes the next n authenticated calls fail with
// ThrottlingException (HTTP 400, "Rate exceeded").
func (s *Server) Throttle(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttleN = n
}

// SetThrottling throttles every authenticated call while on, like a storm
// of ThrottlingException.
func (s *Server) SetThrottling(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttleAll = on
}

// SetRetryAfter makes throttled answers carry a Retry-After header of d,
// in whole seconds rounded up (0 for none, the AWS default).
func (s *Server) SetRetryAfter(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retryAfter = d
}

// FailNext makes the next n authenticated calls fail with HTTP status
// (500: the service's internal error, InternalServiceError or
// InternalServerError; 429: TooManyRequestsException, with the
// SetRetryAfter header; any other status: ServiceUnavailable).
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus = n, status
}

// DropNext makes the Server close the connection of the next n requests
// without answering them.
func (s *Server) DropNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropN = n
}

// SetDescribeScanLimit makes each DescribeParameters call examine at most
// n parameters of the account (in name order, from where the NextToken
// left off), returning those of them that match its filters and a
// NextToken if any are left: a page can then hold fewer than MaxResults
// parameters, or none, while more match. AWS documents this ("If the
// service reaches an internal limit while processing the results, it
// stops the operation and returns the matching values up to that point
// and a NextToken") and users see it (minamijoyo/myaws#31: pages "according
// to the number of all entries, including many empty responses"). 0, the
// default, examines all.
func (s *Server) SetDescribeScanLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scanLimit = n
}

// SetPageSize makes BatchGetSecretValue return at most n SecretValues per
// call, with a NextToken for the rest (0: all at once, which is what AWS
// does for a SecretIdList). It lets tests check that a client follows
// NextToken.
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// Calls returns how many requests for target the Server received, whatever
// their outcome.
func (s *Server) Calls(target string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Target == target {
			n++
		}
	}
	return n
}

// TotalCalls returns how many requests the Server received.
func (s *Server) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// Requested returns the ids of each request for target, in arrival order.
func (s *Server) Requested(target string) [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]string
	for _, c := range s.calls {
		if c.Target == target {
			out = append(out, slices.Clone(c.IDs))
		}
	}
	return out
}

// CallTimes returns the arrival time of every request, in order.
func (s *Server) CallTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]time.Time, len(s.calls))
	for i, c := range s.calls {
		out[i] = c.At
	}
	return out
}

// CallLog returns every request received, in order.
func (s *Server) CallLog() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		c.IDs = slices.Clone(c.IDs)
		out[i] = c
	}
	return out
}

// Reset forgets the recorded calls, WebIdentityCalls included, and zeroes
// Throttled. It keeps the stored secrets and parameters, the Deny, DenyID
// and FailDecrypt rules, the quotas (and what their buckets hold), any
// fault injection still pending and the credentials issued.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
	s.webCalls = nil
	s.throttled = 0
	s.gen++
}

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randomSuffix() string {
	b := make([]byte, 6)
	for i := range b {
		b[i] = alnum[mathrand.IntN(len(alnum))]
	}
	return string(b)
}

// newUUID returns a random version 4 UUID, the form of AWS version and
// request ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
