package gcptest

import (
	"context"
	"fmt"
	"hash/crc32"
	"regexp"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
)

// service implements the Secret Manager API's AccessSecretVersion; every
// other method answers UNIMPLEMENTED.
type service struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer
	s *Server
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Resource name parts, as the API validates them: secret ids are
// [A-Za-z0-9_-]{1,255}; versions are a number, "latest" or an alias.
var (
	secretIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	versionPattern  = regexp.MustCompile(`^(latest|[0-9]{1,19}|[A-Za-z][A-Za-z0-9_-]{0,254})$`)
)

// GCP's messages for the codes FailNext injects.
var failMessages = map[codes.Code]string{
	codes.Unavailable:      "The service is currently unavailable.",
	codes.Internal:         "Internal error encountered.",
	codes.DeadlineExceeded: "Deadline expired before operation could complete.",
	codes.Unknown:          "An unknown error occurred.",
	codes.Aborted:          "The operation was aborted.",
}

// parseName splits a SecretVersion resource name
// (projects/*/secrets/*/versions/*) into its parts.
func parseName(name string) (project, id, ver string, err error) {
	parts := strings.Split(name, "/")
	if len(parts) != 6 || parts[0] != "projects" || parts[2] != "secrets" || parts[4] != "versions" ||
		parts[1] == "" || !secretIDPattern.MatchString(parts[3]) || !versionPattern.MatchString(parts[5]) {
		return "", "", "", status.Errorf(codes.InvalidArgument, "Invalid resource field value in the request: name %q is not projects/*/secrets/*/versions/*.", name)
	}
	return parts[1], parts[3], parts[5], nil
}

// AccessSecretVersion answers as Secret Manager does: the payload with
// its CRC32C and the version's name under the project number, or
// NOT_FOUND, PERMISSION_DENIED, FAILED_PRECONDITION (a disabled or
// destroyed version) or INVALID_ARGUMENT.
func (svc *service) AccessSecretVersion(_ context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	s := svc.s
	project, id, ver, err := parseName(req.GetName())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := s.secretKey(project, id)
	if s.denied[key] || s.denied[s.secretKey(project, "")] {
		return nil, withDetails(status.New(codes.PermissionDenied,
			fmt.Sprintf("Permission 'secretmanager.versions.access' denied for resource '%s' (or it may not exist).", req.GetName())),
			&errdetails.ErrorInfo{Reason: "IAM_PERMISSION_DENIED", Domain: "secretmanager.googleapis.com", Metadata: map[string]string{
				"permission": "secretmanager.versions.access", "resource": req.GetName(),
			}})
	}
	number := project
	if key == s.secretKey("", id) {
		number = s.ProjectNumber
	}
	sec, ok := s.secrets[key]
	if !ok || len(sec.versions) == 0 {
		return nil, status.Errorf(codes.NotFound, "Secret [projects/%s/secrets/%s] not found or has no versions.", number, id)
	}
	var n int64
	switch {
	case ver == "latest":
		n = int64(len(sec.versions))
	case ver[0] >= '0' && ver[0] <= '9':
		n, _ = strconv.ParseInt(ver, 10, 64)
	default:
		n = sec.aliases[ver]
	}
	vname := fmt.Sprintf("projects/%s/secrets/%s/versions/%d", number, id, n)
	if n < 1 || n > int64(len(sec.versions)) {
		return nil, status.Errorf(codes.NotFound, "Secret Version [projects/%s/secrets/%s/versions/%s] not found.", number, id, ver)
	}
	v := sec.versions[n-1]
	switch v.state {
	case secretmanagerpb.SecretVersion_DISABLED:
		return nil, status.Errorf(codes.FailedPrecondition, "Secret Version [%s] is in DISABLED state.", vname)
	case secretmanagerpb.SecretVersion_DESTROYED:
		return nil, status.Errorf(codes.FailedPrecondition, "Secret Version [%s] is in DESTROYED state.", vname)
	}
	payload := &secretmanagerpb.SecretPayload{Data: append([]byte(nil), v.data...)}
	if !s.omitCRC {
		sum := int64(crc32.Checksum(v.data, castagnoli))
		if s.corruptN > 0 {
			s.corruptN--
			sum ^= 0x5a5a
		}
		payload.DataCrc32C = &sum
	}
	return &secretmanagerpb.AccessSecretVersionResponse{Name: vname, Payload: payload}, nil
}

// intercept runs before every method: it applies the latency, checks the
// bearer token, injects the faults that apply to authenticated calls, and
// records the call with the code it was answered with.
func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	op := info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:]
	call := Call{Op: op}
	if r, ok := req.(*secretmanagerpb.AccessSecretVersionRequest); ok {
		call.Name = r.GetName()
	}
	call.Token = bearer(ctx)
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("x-goog-user-project"); len(v) == 1 {
			call.QuotaProject = v[0]
		}
	}
	s.mu.Lock()
	rec := s.arrivedLocked(call)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		rec.Code = status.Code(err)
		s.mu.Unlock()
	}()

	s.mu.Lock()
	latency := s.latency
	s.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}

	s.mu.Lock()
	if err := s.authenticateLocked(call.Token); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if s.dropN > 0 {
		s.dropN--
		s.mu.Unlock()
		if p, ok := peer.FromContext(ctx); ok {
			s.lis.drop(p.Addr.String())
		}
		return nil, status.Error(codes.Unavailable, "connection dropped by gcptest")
	}
	if s.throttleAll || s.throttleN > 0 {
		if s.throttleN > 0 {
			s.throttleN--
		}
		err := s.quotaErrorLocked()
		s.mu.Unlock()
		return nil, err
	}
	if s.failN > 0 {
		s.failN--
		code := s.failCode
		s.mu.Unlock()
		msg, ok := failMessages[code]
		if !ok {
			msg = code.String()
		}
		return nil, status.Error(code, msg)
	}
	s.mu.Unlock()
	return handler(ctx, req)
}

// authenticateLocked checks the call's bearer token: one the Server
// issued, not expired, with the cloud-platform scope. The caller holds
// s.mu.
func (s *Server) authenticateLocked(tok string) error {
	if tok == "" {
		return withDetails(status.New(codes.Unauthenticated,
			"Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."),
			&errdetails.ErrorInfo{Reason: "CREDENTIALS_MISSING", Domain: "googleapis.com"})
	}
	it, ok := s.tokens[tok]
	if s.rejectTokens || !ok || !time.Now().Before(it.expires) || !hasScope(it.scope, CloudPlatformScope) {
		reason := "ACCESS_TOKEN_TYPE_UNSUPPORTED"
		if ok && !time.Now().Before(it.expires) {
			reason = "ACCESS_TOKEN_EXPIRED"
		}
		return withDetails(status.New(codes.Unauthenticated,
			"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."),
			&errdetails.ErrorInfo{Reason: reason, Domain: "googleapis.com"})
	}
	return nil
}

// quotaErrorLocked is the RESOURCE_EXHAUSTED answer of an exceeded access
// quota, with a RetryInfo detail if SetRetryDelay asked for one. The
// caller holds s.mu.
func (s *Server) quotaErrorLocked() error {
	st := status.New(codes.ResourceExhausted, fmt.Sprintf(
		"Quota exceeded for quota metric 'Access requests' and limit 'Access requests per minute per project' of service 'secretmanager.googleapis.com' for consumer 'project_number:%s'.", s.ProjectNumber))
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: "RATE_LIMIT_EXCEEDED", Domain: "googleapis.com", Metadata: map[string]string{
		"consumer":          "projects/" + s.ProjectNumber,
		"quota_limit":       "AccessRequestsPerMinutePerProject",
		"quota_metric":      "secretmanager.googleapis.com/access_requests",
		"service":           "secretmanager.googleapis.com",
		"quota_unit":        "1/min/{project}",
		"quota_limit_value": "90000",
	}}}
	if s.retryDelay > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(s.retryDelay)})
	}
	return withDetails(st, details...)
}

// withDetails returns st with details attached, as an error.
func withDetails(st *status.Status, details ...protoadapt.MessageV1) error {
	with, err := st.WithDetails(details...)
	if err != nil {
		return st.Err()
	}
	return with.Err()
}

// bearer returns the bearer token of the call's authorization metadata,
// "" if there is none or more than one.
func bearer(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) != 1 {
		return ""
	}
	tok, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok {
		return ""
	}
	return tok
}
