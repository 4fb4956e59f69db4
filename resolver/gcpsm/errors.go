package gcpsm

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"omsecrets/resolver"
)

// maxDetail bounds the part of a status message an error quotes.
const maxDetail = 300

// classify maps a failed AccessSecretVersion of name to a resolver error
// class. Codes and messages: Secret Manager's API (AccessSecretVersion)
// and Google's error model (google.rpc.Code, google.rpc.RetryInfo).
func classify(err error, name secretName) error {
	var ce *credError
	if errors.As(err, &ce) {
		return fmt.Errorf("get an access token: %w", ce)
	}
	st := statusOf(err)
	detail := st.Code().String() + ": " + clean(st.Message())
	where := fmt.Sprintf("secret %s in project %s", name.secret, name.project)
	if name.version != latest {
		where = fmt.Sprintf("version %s of %s", name.version, where)
	}
	switch st.Code() {
	case codes.NotFound:
		return fmt.Errorf("%w: no %s (%s)", resolver.ErrNotFound, where, detail)
	case codes.PermissionDenied:
		return fmt.Errorf("%w: %s is not readable with these credentials: grant roles/secretmanager.secretAccessor (secretmanager.versions.access) (%s)", resolver.ErrPermission, where, detail)
	case codes.FailedPrecondition:
		switch {
		case strings.Contains(st.Message(), "DISABLED state"):
			// Disabling a version revokes access to it; enabling it
			// again restores it: like a permission taken away.
			return fmt.Errorf("%w: the version read of %s is disabled: enable it or add a new version (%s)", resolver.ErrPermission, where, detail)
		case strings.Contains(st.Message(), "DESTROYED state"):
			// A destroyed version's data is gone for good.
			return fmt.Errorf("%w: the version read of %s is destroyed: add a new version (%s)", resolver.ErrNotFound, where, detail)
		}
		return fmt.Errorf("%w: %s cannot be read in its current state (%s)", resolver.ErrPermission, where, detail)
	case codes.ResourceExhausted:
		return resolver.Throttled(fmt.Sprintf("reading %s: access quota exhausted (%s)", where, detail), retryDelay(st))
	case codes.Unauthenticated:
		var re *refreshedError
		if errors.As(err, &re) {
			return fmt.Errorf("%w: the service refused the access token, also a newly fetched one (%s)", resolver.ErrPermission, detail)
		}
		return fmt.Errorf("%w: the service refused the access token (%s)", resolver.ErrPermission, detail)
	case codes.Unavailable, codes.DeadlineExceeded, codes.Internal, codes.Unknown, codes.Aborted, codes.Canceled, codes.DataLoss:
		return fmt.Errorf("%w: reading %s (%s)", resolver.ErrUnavailable, where, detail)
	case codes.InvalidArgument, codes.OutOfRange:
		return fmt.Errorf("%w: the service refused the name of %s (%s)", resolver.ErrBadRef, where, detail)
	default:
		// UNIMPLEMENTED (an endpoint that is not Secret Manager) and
		// the rest: a refusal that retrying will not change.
		return fmt.Errorf("%w: reading %s refused (%s)", resolver.ErrPermission, where, detail)
	}
}

// grpcCode is the gRPC code of err (codes.Unknown if it has none).
func grpcCode(err error) codes.Code { return statusOf(err).Code() }

// statusOf returns the gRPC status err carries, itself: status.FromError
// would replace the message of a wrapped status with the whole chain's.
func statusOf(err error) *status.Status {
	var gs interface{ GRPCStatus() *status.Status }
	if errors.As(err, &gs) {
		if st := gs.GRPCStatus(); st != nil {
			return st
		}
	}
	return status.New(codes.Unknown, err.Error())
}

// retryDelay is the retry_delay of the status's google.rpc.RetryInfo
// detail, 0 if it has none.
func retryDelay(st *status.Status) time.Duration {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			if rd := ri.GetRetryDelay(); rd != nil && rd.IsValid() {
				return max(rd.AsDuration(), 0)
			}
		}
	}
	return 0
}

// clean makes a status message fit on one bounded line.
func clean(msg string) string {
	msg = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || !unicode.IsPrint(r) && r != ' ' {
			return ' '
		}
		return r
	}, msg)
	if len(msg) > maxDetail {
		msg = strings.ToValidUTF8(msg[:maxDetail], "") + "…"
	}
	return msg
}
