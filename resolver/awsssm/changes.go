package awsssm

import (
	"context"
	"errors"
	"fmt"
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

// readVersion is what the Provider remembers of an id it returned a value
// for: the parameter's name, and the Version of the value it returned,
// which for a "name:3" id is the version the id pins. Never the value.
type readVersion struct {
	name    string
	version int64
	pinned  bool
}

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

// remember records that the value of id returned now is version of the
// parameter name, for the ids a listing can vouch for.
func (p *Provider) remember(id, name string, version int64) {
	base, pinned, ok := listable(id)
	if !ok || name == "" || version < 1 {
		return
	}
	if name != base {
		// An answer for another name than the id's; do not vouch.
		p.forget(id)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if pinned > 0 {
		version = pinned
	}
	p.read[id] = readVersion{name: name, version: version, pinned: pinned > 0}
}

// forget drops what the Provider remembered of id, whose last read
// failed: Unchanged then no longer vouches for it.
func (p *Provider) forget(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.read, id)
}

// FullReadCalls implements resolver.ChangeLister: the calls GetBatch makes
// for n ids, ceil(n / MaxBatch()) (n once GetParameters is denied).
func (p *Provider) FullReadCalls(n int) int {
	b := p.MaxBatch()
	return (n + b - 1) / b
}

// Unchanged implements resolver.ChangeLister with DescribeParameters: it
// lists the metadata of the parameters whose names begin with the longest
// common prefixes of the ids' names (a Name BeginsWith filter, ListPage
// per call, each call through pacer) and returns the ids whose
// parameter's Version is still the one the Provider last returned for
// that id. A "name:3" id is vouched for while the parameter still keeps
// version 3 (versions never change; the oldest are dropped after 100).
// Ids it never returned a value for, whose last read failed, or that it
// cannot vouch for (see listable: labels, Secrets Manager references,
// ARNs) are left out. It stops as soon as every id it can vouch for was
// seen.
//
// DescribeParameters answers "on a best-effort basis": a page may hold
// fewer than MaxResults parameters, or none, with a NextToken, when the
// service "reaches an internal limit" (API reference). Unchanged follows
// such pages like any other, and gives up with an error (not
// resolver.ErrPermission) before it would make more calls than
// FullReadCalls(len(ids)). A denied DescribeParameters is
// resolver.ErrPermission, throttling resolver.Throttled, as for reads.
func (p *Provider) Unchanged(ctx context.Context, ids []string, pacer resolver.Pacer) ([]string, error) {
	want := make(map[string][]string) // parameter name -> ids
	read := make(map[string]readVersion, len(ids))
	p.mu.Lock()
	for _, id := range ids {
		r, ok := p.read[id]
		if _, dup := read[id]; !ok || dup {
			continue
		}
		read[id] = r
		want[r.name] = append(want[r.name], id)
	}
	p.mu.Unlock()
	if len(want) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	in := &ssm.DescribeParametersInput{MaxResults: aws.Int32(ListPage)}
	if values := namePrefixes(names, maxFilterValues); values != nil {
		in.ParameterFilters = []types.ParameterStringFilter{{Key: aws.String("Name"), Option: aws.String("BeginsWith"), Values: values}}
	}

	budget := p.FullReadCalls(len(ids))
	var unchanged []string
	for calls := 0; ; calls++ {
		if calls == budget {
			return nil, fmt.Errorf("list parameters: %d DescribeParameters pages did not cover the %d parameters, and more would cost more than reading them", calls, len(want))
		}
		var out *ssm.DescribeParametersOutput
		err := pacer.Call(ctx, "list", func(ctx context.Context) error {
			var err error
			out, err = p.api.DescribeParameters(ctx, in)
			if err != nil {
				return listError(err)
			}
			return nil
		})
		if errors.Is(err, resolver.ErrPermission) {
			return nil, fmt.Errorf("list parameters (change detection needs %s on resource \"*\"): %w", listAction, err)
		}
		if err != nil {
			return nil, fmt.Errorf("list parameters: %w", err)
		}
		for _, m := range out.Parameters {
			name := aws.ToString(m.Name)
			waiting, ok := want[name]
			if !ok {
				continue
			}
			for _, id := range waiting {
				if r := read[id]; r.current(m.Version) {
					unchanged = append(unchanged, id)
				}
			}
			delete(want, name)
		}
		if len(want) == 0 || aws.ToString(out.NextToken) == "" {
			return unchanged, nil
		}
		in.NextToken = out.NextToken
	}
}

// current reports whether the value r was read as is still what its id
// reads, given the parameter's latest version.
func (r readVersion) current(latest int64) bool {
	if r.pinned {
		return r.version <= latest && latest-r.version < maxVersions
	}
	return r.version == latest
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
