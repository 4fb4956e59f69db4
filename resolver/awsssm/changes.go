package awsssm

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"omsecrets/resolver"
	"omsecrets/resolver/internal/awserr"
	"omsecrets/resolver/internal/awslist"
)

var _ resolver.ChangeLister = (*Provider)(nil)

// ListPage is the most parameters one DescribeParameters call returns
// (API reference: MaxResults, "Valid Range: Minimum value of 1. Maximum
// value of 50"); Unchanged asks for that many.
const ListPage = 50

// The limits of one ParameterStringFilter's Values (API reference:
// "Minimum number of 1 item. Maximum number of 50 items", each "Maximum
// length of 1024").
const (
	maxFilterValues   = 50
	maxFilterValueLen = 1024
)

// maxVersions is how many versions of a parameter Parameter Store keeps:
// creating the 101st removes the oldest (Systems Manager user guide,
// "Working with parameter versions").
const maxVersions = 100

// listAction is the IAM action of DescribeParameters.
const listAction = "ssm:DescribeParameters"

// listable splits an id into the parameter name a listing shows and the
// version it pins (0 for none). It reports false for ids a listing cannot
// vouch for: a "name:label" id (a label may move to another version
// without the parameter's Version changing), a Secrets Manager reference,
// and an ARN (DescribeParameters lists the account's parameters by name;
// a shared parameter's ARN is not among them).
func listable(id string) (name string, pinned int64, ok bool) {
	id = strings.TrimSpace(id)
	if strings.HasPrefix(id, "arn:") || strings.HasPrefix(id, secretsManagerRefPrefix) {
		return "", 0, false
	}
	name, sel, hasSel := strings.Cut(id, ":")
	if !hasSel {
		return name, 0, true
	}
	n, err := strconv.ParseInt(sel, 10, 64)
	if err != nil || n < 1 {
		return "", 0, false
	}
	return name, n, true
}

// versioned gives v, read for id from the parameter name at version, its
// version token: the Version in decimal, or a content version
// (resolver.ContentVersion, never vouched for) when the answer has none
// (a Secrets Manager reference) or names another parameter than the id's.
func versioned(v resolver.Secret, id, name string, version int64) resolver.Secret {
	base, _, ok := listable(id)
	if version < 1 || name == "" || ok && name != base {
		return v.WithVersion(resolver.ContentVersion(v))
	}
	return v.WithVersion(strconv.FormatInt(version, 10))
}

// held returns what Unchanged compares of h: the parameter name a
// listing shows, the version of the value and whether the id pins it.
func held(h resolver.Held) (name string, version int64, pinned bool, ok bool) {
	name, pin, ok := listable(h.ID)
	if !ok {
		return "", 0, false, false
	}
	version, err := strconv.ParseInt(h.Version, 10, 64)
	if err != nil || version < 1 || pin > 0 && version != pin {
		return "", 0, false, false
	}
	return name, version, pin > 0, true
}

// FullReadCalls implements resolver.ChangeLister: the calls GetBatch makes
// for n ids, ceil(n / MaxBatch()) (n once GetParameters is denied).
func (p *Provider) FullReadCalls(n int) int {
	b := p.MaxBatch()
	return (n + b - 1) / b
}

// Unchanged implements resolver.ChangeLister with DescribeParameters: it
// lists the metadata of the parameters whose names begin with the longest
// common prefixes of the held values' names (a Name BeginsWith filter,
// ListPage per call, each call through pacer) and returns the ids whose
// parameter's Version is still the held value's. A "name:3" id is
// vouched for while the parameter still keeps version 3 (versions never
// change; the oldest are dropped after 100). Values without a version
// token, and ids it cannot vouch for (see listable: labels, Secrets
// Manager references, ARNs) are left out. It stops as soon as every
// parameter was seen (resolver.ListUnchanged).
//
// DescribeParameters answers "on a best-effort basis": a page may hold
// fewer than MaxResults parameters, or none, with a NextToken, when the
// service "reaches an internal limit" (API reference). Unchanged follows
// such pages like any other, and gives up with an error (not
// resolver.ErrPermission) before it would make more calls than
// FullReadCalls(len(held)). A denied DescribeParameters is
// resolver.ErrPermission, throttling resolver.Throttled, as for reads.
func (p *Provider) Unchanged(ctx context.Context, hs []resolver.Held, pacer resolver.Pacer) ([]string, error) {
	var in *ssm.DescribeParametersInput
	return resolver.ListUnchanged(ctx, pacer, hs, resolver.Listing[types.ParameterMetadata]{
		What:   "list parameters",
		Need:   listAction + ` on resource "*"`,
		Budget: p.FullReadCalls(len(hs)),
		Name: func(h resolver.Held) (string, bool) {
			name, _, _, ok := held(h)
			return name, ok
		},
		Page: func(ctx context.Context, names []string) ([]types.ParameterMetadata, bool, error) {
			if in == nil {
				in = &ssm.DescribeParametersInput{MaxResults: aws.Int32(ListPage)}
				if values := namePrefixes(names, maxFilterValues); values != nil {
					in.ParameterFilters = []types.ParameterStringFilter{{Key: aws.String("Name"), Option: aws.String("BeginsWith"), Values: values}}
				}
			}
			out, err := p.api.DescribeParameters(ctx, in)
			if err != nil {
				return nil, false, listError(err)
			}
			in.NextToken = out.NextToken
			return out.Parameters, aws.ToString(out.NextToken) != "", nil
		},
		Listed: func(m types.ParameterMetadata) (string, bool) { return aws.ToString(m.Name), true },
		Current: func(m types.ParameterMetadata, h resolver.Held) bool {
			_, version, pinned, _ := held(h)
			return current(version, pinned, m.Version)
		},
	})
}

// current reports whether the value read at version is still what its id
// reads, given the parameter's latest version.
func current(version int64, pinned bool, latest int64) bool {
	if pinned {
		return version <= latest && latest-version < maxVersions
	}
	return version == latest
}

// listError maps an error of DescribeParameters to a resolver error, for
// the pacer's accounting (throttling lowers its rate) and the caller.
// Refused filters or a refused NextToken are no permission problem: they
// fail this listing only.
func listError(err error) error {
	switch code := awserr.Code(err); code {
	case "InvalidFilterKey", "InvalidFilterOption", "InvalidFilterValue", "InvalidNextToken":
		return errors.New("DescribeParameters: " + code + ": the service refused the listing's filter or NextToken")
	}
	return awserr.Map("DescribeParameters", err, codes)
}

// namePrefixes returns at most limit name prefixes that together cover
// names, each cut by filterSafe (awslist.NamePrefixes), or nil to list
// everything.
func namePrefixes(names []string, limit int) []string {
	return awslist.NamePrefixes(names, limit, filterSafe)
}

// filterSafe cuts prefix before the first character a parameter name
// cannot hold (letters, digits and "_.-/"; defensive, since the names
// come from Parameter Store's answers) and to maxFilterValueLen bytes.
func filterSafe(prefix string) string {
	end := strings.IndexFunc(prefix, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_.-/", r))
	})
	if end >= 0 {
		prefix = prefix[:end]
	}
	return prefix[:min(len(prefix), maxFilterValueLen)]
}
