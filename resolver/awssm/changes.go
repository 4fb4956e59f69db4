package awssm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"omsecrets/resolver"
	"omsecrets/resolver/internal/awserr"
	"omsecrets/resolver/internal/awslist"
)

var _ resolver.ChangeLister = (*Provider)(nil)

// ListPage is the most secrets one ListSecrets call returns (API
// reference: MaxResults, "Valid Range: Minimum value of 1. Maximum value
// of 100"); Unchanged asks for that many.
const ListPage = 100

// maxFilterValues is the most values of one ListSecrets Filter (API
// reference: Filter Values, "Maximum number of 10 items"); each is
// at most maxFilterValueLen bytes.
const (
	maxFilterValues   = 10
	maxFilterValueLen = 512
)

// listAction is the IAM action of ListSecrets.
const listAction = "secretsmanager:ListSecrets"

// readVersion is what the Provider remembers of an id it returned a value
// for: the secret's name and the VersionId of the value. Never the value.
type readVersion struct {
	name, version string
}

// remember records that the value of id returned now is version of the
// secret name. An empty version (an endpoint that sends none) is not
// remembered: it could not be compared.
func (p *Provider) remember(id, name, version string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if name == "" || version == "" {
		delete(p.read, id)
		return
	}
	p.read[id] = readVersion{name: name, version: version}
}

// forget drops what the Provider remembered of id, whose last read
// failed: Unchanged then no longer vouches for it.
func (p *Provider) forget(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.read, id)
}

// FullReadCalls implements resolver.ChangeLister: the calls GetBatch makes
// for n ids, ceil(n / MaxBatch()) (n once BatchGetSecretValue is denied).
func (p *Provider) FullReadCalls(n int) int {
	b := p.MaxBatch()
	return (n + b - 1) / b
}

// Unchanged implements resolver.ChangeLister with ListSecrets: it lists
// the metadata of the secrets under the longest common name prefixes of
// the ids' secrets (a name filter, ListPage per call, each call through
// pacer) and returns the ids whose secret's AWSCURRENT version is still
// the VersionId the Provider last returned for that id. Ids it never
// returned a value for, or whose last read failed, are left out, and so
// are secrets scheduled for deletion (ListSecrets leaves them out). It
// stops as soon as every id it can vouch for was seen.
//
// It gives up with an error (not resolver.ErrPermission) before it would
// make more calls than FullReadCalls(len(ids)); a denied ListSecrets is
// resolver.ErrPermission, throttling resolver.Throttled, as for reads.
//
// ListSecrets is eventually consistent: "ListSecrets might not reflect
// changes from the last five minutes" (API reference, ListSecrets). A
// secret changed less than five minutes before a refresh may still be
// listed with its old version and be vouched for once more; the next
// refresh at least five minutes later sees the change. Comparing version
// ids, not dates, makes the test exact otherwise: a new value is always a
// new VersionId.
func (p *Provider) Unchanged(ctx context.Context, ids []string, pacer resolver.Pacer) ([]string, error) {
	want := make(map[string][]string) // secret name -> ids
	versions := make(map[string]string, len(ids))
	p.mu.Lock()
	for _, id := range ids {
		r, ok := p.read[id]
		if !ok || versions[id] != "" {
			continue
		}
		versions[id] = r.version
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
	in := &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(ListPage)}
	if values := namePrefixes(names, maxFilterValues); values != nil {
		in.Filters = []types.Filter{{Key: types.FilterNameStringTypeName, Values: values}}
	}

	budget := p.FullReadCalls(len(ids))
	var unchanged []string
	for calls := 0; ; calls++ {
		if calls == budget {
			return nil, fmt.Errorf("list secrets: %d ListSecrets pages did not cover the %d secrets, and more would cost more than reading them", calls, len(want))
		}
		var out *secretsmanager.ListSecretsOutput
		err := pacer.Call(ctx, "list", func(ctx context.Context) error {
			var err error
			out, err = p.api.ListSecrets(ctx, in)
			if err != nil {
				return listError(err)
			}
			return nil
		})
		if errors.Is(err, resolver.ErrPermission) {
			return nil, fmt.Errorf("list secrets (change detection needs %s on resource \"*\"): %w", listAction, err)
		}
		if err != nil {
			return nil, fmt.Errorf("list secrets: %w", err)
		}
		for _, e := range out.SecretList {
			name, arn := aws.ToString(e.Name), aws.ToString(e.ARN)
			waiting, ok := want[name]
			if !ok {
				continue
			}
			current := currentVersion(e.SecretVersionsToStages)
			for _, id := range waiting {
				if matches(id, name, arn) && current != "" && current == versions[id] {
					unchanged = append(unchanged, id)
				}
			}
			// A name is listed once: its ids are settled either way.
			delete(want, name)
		}
		if len(want) == 0 || aws.ToString(out.NextToken) == "" {
			return unchanged, nil
		}
		in.NextToken = out.NextToken
	}
}

// listError maps an error of ListSecrets to a resolver error, for the
// pacer's accounting (throttling lowers its rate) and the caller. A
// NextToken the service refuses is no permission problem: it fails this
// listing only.
func listError(err error) error {
	if awserr.Code(err) == "InvalidNextTokenException" {
		return errors.New("ListSecrets: InvalidNextTokenException: the service refused the NextToken it sent")
	}
	return awserr.Map("ListSecrets", err, codes)
}

// currentVersion returns the version id that carries the AWSCURRENT stage.
func currentVersion(stages map[string][]string) string {
	for v, s := range stages {
		if slices.Contains(s, "AWSCURRENT") {
			return v
		}
	}
	return ""
}

// namePrefixes returns at most limit name prefixes that together cover
// names, each cut by filterSafe (awslist.NamePrefixes), or nil to list
// everything.
func namePrefixes(names []string, limit int) []string {
	return awslist.NamePrefixes(names, limit, filterSafe)
}

// filterSafe cuts prefix before the first character a ListSecrets filter
// value cannot hold (pattern ^\!?[a-zA-Z0-9 :_@\/\+\=\.\-\!]*$; secret
// names use only letters, digits and "/_+=.@-", so this is defensive) and
// to maxFilterValueLen bytes. A leading "!" would negate the filter.
func filterSafe(prefix string) string {
	end := strings.IndexFunc(prefix, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/_+=.@-", r))
	})
	if end >= 0 {
		prefix = prefix[:end]
	}
	return prefix[:min(len(prefix), maxFilterValueLen)]
}
