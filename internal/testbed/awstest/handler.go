package awstest

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// maxBody bounds the request bodies the Server reads; AWS's own limits are
// far lower for these operations.
const maxBody = 1 << 20

// contentType is the AWS JSON 1.1 media type of requests and answers.
const contentType = "application/x-amz-json-1.1"

// operation is one API operation the Server answers.
type operation struct {
	service string // the SigV4 signing name
	action  string // the IAM action, for Deny
	handle  func(s *Server, body []byte) (any, *apiError)
	ids     func(body []byte) []string
}

var operations = map[string]operation{
	TargetBatchGetSecretValue: {service: "secretsmanager", action: ActionBatchGetSecretValue, handle: (*Server).batchGetSecretValue, ids: batchGetSecretValueIDs},
	TargetGetSecretValue:      {service: "secretsmanager", action: ActionGetSecretValue, handle: (*Server).getSecretValue, ids: getSecretValueIDs},
	TargetGetParameters:       {service: "ssm", action: ActionGetParameters, handle: (*Server).getParameters, ids: getParametersIDs},
	TargetGetParameter:        {service: "ssm", action: ActionGetParameter, handle: (*Server).getParameter, ids: getParameterIDs},
	TargetListSecrets:         {service: "secretsmanager", action: ActionListSecrets, handle: (*Server).listSecrets, ids: noIDs},
	TargetDescribeParameters:  {service: "ssm", action: ActionDescribeParameters, handle: (*Server).describeParameters, ids: noIDs},
}

// noIDs is the ids of a listing: it names no secret.
func noIDs([]byte) []string { return nil }

// apiError is an error answer: the HTTP status, the __type and the
// message, under the member name the service's model gives it ("Message"
// for Secrets Manager's modelled errors, "message" for SSM's and for the
// errors of AWS's common front end). The SDK's typed errors read only the
// modelled name, so it matters.
type apiError struct {
	status int
	code   string
	msg    string
	msgKey string
}

// Errors common to all AWS JSON services. Names and statuses: the Secrets
// Manager API reference's "Common Errors" and answers quoted in SDK issues
// (e.g. {"__type":"UnrecognizedClientException","message":"The security
// token included in the request is invalid."} with HTTP 400).
func errAccessDenied(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "AccessDeniedException", msg: msg, msgKey: "message"}
}

func errThrottling() *apiError {
	return &apiError{status: http.StatusBadRequest, code: "ThrottlingException", msg: "Rate exceeded", msgKey: "message"}
}

func errValidation(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "ValidationException", msg: msg, msgKey: "message"}
}

func errMissingToken() *apiError {
	return &apiError{status: http.StatusBadRequest, code: "MissingAuthenticationTokenException", msg: "Request is missing Authentication Token", msgKey: "message"}
}

func errIncompleteSignature(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "IncompleteSignatureException", msg: msg, msgKey: "message"}
}

func errExpiredToken() *apiError {
	return &apiError{status: http.StatusBadRequest, code: "ExpiredTokenException", msg: "The security token included in the request is expired", msgKey: "message"}
}

func errUnrecognizedClient() *apiError {
	return &apiError{status: http.StatusBadRequest, code: "UnrecognizedClientException", msg: "The security token included in the request is invalid.", msgKey: "message"}
}

func errInvalidSignature(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "InvalidSignatureException", msg: msg, msgKey: "message"}
}

func errSerialization() *apiError {
	return &apiError{status: http.StatusBadRequest, code: "SerializationException", msg: "Start of structure or map found where not expected.", msgKey: "message"}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		writeError(w, errSerialization(), 0)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op, known := operations[target]
	var ids []string
	var form url.Values
	query := isQuery(r)
	switch {
	case query:
		// A body that does not parse is answered as one without an
		// Action.
		form, _ = url.ParseQuery(string(body))
		target, ids = queryTarget(form)
	case known:
		ids = op.ids(body)
	}
	var accessKey string
	if a, err := parseAuthorization(r.Header.Get("Authorization")); err == nil {
		accessKey = a.accessKey
	}

	s.mu.Lock()
	s.calls = append(s.calls, Call{Target: target, IDs: ids, AccessKey: accessKey, At: time.Now()})
	call := callRef{index: len(s.calls) - 1, gen: s.gen}
	latency := s.latency
	drop := s.dropN > 0
	if drop {
		s.dropN--
	}
	s.mu.Unlock()

	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if drop {
		dropConnection(w)
		return
	}
	if query {
		s.serveQuery(w, form)
		return
	}
	if !known {
		writeError(w, &apiError{status: http.StatusBadRequest, code: "UnknownOperationException", msgKey: "message"}, 0)
		return
	}
	if e := s.authenticate(r, body, op.service); e != nil {
		writeError(w, e, 0)
		return
	}
	if e, retryAfter := s.fault(target, op.service, call); e != nil {
		writeError(w, e, retryAfter)
		return
	}
	s.mu.Lock()
	denied := s.denied[op.action]
	s.mu.Unlock()
	if denied {
		writeError(w, errAccessDenied(notAuthorized(op.action, "*")), 0)
		return
	}
	out, e := op.handle(s, body)
	if e != nil {
		writeError(w, e, 0)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		writeError(w, &apiError{status: http.StatusInternalServerError, code: "InternalFailure", msg: err.Error(), msgKey: "message"}, 0)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-Requestid", newUUID())
	_, _ = w.Write(b)
}

// callRef names one entry of s.calls, unless Reset has forgotten it.
type callRef struct{ index, gen int }

// fault returns the throttling or server error the authenticated call of
// target gets, if any: its quota's first, then the injected ones. The
// time the quota was applied is noted in the call log, and a throttled
// call is counted and marked there.
func (s *Server) fault(target, service string, call callRef) (*apiError, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	logged := call.gen == s.gen && call.index < len(s.calls)
	if logged {
		s.calls[call.index].quotaAt = now
	}
	e, retryAfter := s.overQuota(target, now)
	if e == nil {
		e, retryAfter = s.injectedFault(service)
	}
	if e != nil && e.code == "ThrottlingException" {
		s.throttled++
		if logged {
			s.calls[call.index].Throttled = true
		}
	}
	return e, retryAfter
}

// injectedFault returns the throttling or server error an authenticated
// call gets, if any, consuming one of the counted ones. Callers hold s.mu.
func (s *Server) injectedFault(service string) (*apiError, time.Duration) {
	switch {
	case s.throttleAll:
		return errThrottling(), s.retryAfter
	case s.throttleN > 0:
		s.throttleN--
		return errThrottling(), s.retryAfter
	case s.failN > 0:
		s.failN--
		if s.failStatus == http.StatusInternalServerError {
			// The services' own modelled internal errors.
			if service == "ssm" {
				return &apiError{status: s.failStatus, code: "InternalServerError", msg: "An error occurred on the server side.", msgKey: "Message"}, 0
			}
			return &apiError{status: s.failStatus, code: "InternalServiceError", msg: "An error occurred on the server side.", msgKey: "Message"}, 0
		}
		if s.failStatus == http.StatusTooManyRequests {
			return &apiError{status: s.failStatus, code: "TooManyRequestsException", msg: "Too Many Requests", msgKey: "message"}, s.retryAfter
		}
		return &apiError{status: s.failStatus, code: "ServiceUnavailable", msg: "The request has failed due to a temporary failure of the server.", msgKey: "message"}, 0
	}
	return nil, 0
}

// writeError writes e as AWS JSON 1.1 does, with a Retry-After header if
// retryAfter > 0.
func writeError(w http.ResponseWriter, e *apiError, retryAfter time.Duration) {
	body := map[string]string{"__type": e.code}
	if e.msg != "" {
		body[e.msgKey] = e.msg
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-Requestid", newUUID())
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
	}
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

// dropConnection closes the client connection without an answer.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		// httptest servers speak HTTP/1.1, which can always be hijacked.
		panic("awstest: response writer cannot be hijacked")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic("awstest: hijack: " + err.Error())
	}
	_ = conn.Close()
}

// notAuthorized is the message of an IAM denial.
func notAuthorized(action, resource string) string {
	return "User: arn:aws:iam::" + DefaultAccount + ":user/awstest is not authorized to perform: " + action +
		" on resource: " + resource + " because no identity-based policy allows the " + action + " action"
}
