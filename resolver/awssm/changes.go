package awssm

import (
	"context"
	"errors"
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

// versionToken is the version token of a value: the VersionId, a space
// and the secret's name (which an id that is an ARN does not tell), or ""
// when either is missing (an endpoint that sends none). Secret names
// hold no space.
func versionToken(name, versionID string) string {
	if name == "" || versionID == "" {
		return ""
	}
	return versionID + " " + name
}

// versioned gives v its version token (versionToken), or a content
// version (resolver.ContentVersion, never vouched for) if it has none.
func versioned(v resolver.Secret, name, versionID string) resolver.Secret {
	if t := versionToken(name, versionID); t != "" {
		return v.WithVersion(t)
	}
	return v.WithVersion(resolver.ContentVersion(v))
}

// parseToken splits a token of versionToken into the secret's name and
// the VersionId.
func parseToken(token string) (name, versionID string, ok bool) {
	i := strings.LastIndexByte(token, ' ')
	if i <= 0 || i == len(token)-1 {
		return "", "", false
	}
	return token[i+1:], token[:i], true
}

// FullReadCalls implements resolver.ChangeLister: the calls GetBatch makes
// for n ids, ceil(n / MaxBatch()) (n once BatchGetSecretValue is denied).
func (p *Provider) FullReadCalls(n int) int {
	b := p.MaxBatch()
	return (n + b - 1) / b
}

// Unchanged implements resolver.ChangeLister with ListSecrets: it lists
// the metadata of the secrets under the longest common name prefixes of
// the held values' secrets (a name filter, ListPage per call, each call
// through pacer) and returns the ids whose secret's AWSCURRENT version
// is still the VersionId of the held value. Values without a version
// token are left out, and so are secrets scheduled for deletion
// (ListSecrets leaves them out). It stops as soon as every secret was
// seen (resolver.ListUnchanged).
//
// It gives up with an error (not resolver.ErrPermission) before it would
// make more calls than FullReadCalls(len(held)); a denied ListSecrets is
// resolver.ErrPermission, throttling resolver.Throttled, as for reads.
//
// ListSecrets is eventually consistent: "ListSecrets might not reflect
// changes from the last five minutes" (API reference, ListSecrets). A
// secret changed less than five minutes before a refresh may still be
// listed with its old version and be vouched for once more; the next
// refresh at least five minutes later sees the change. Comparing version
// ids, not dates, makes the test exact otherwise: a new value is always a
// new VersionId.
func (p *Provider) Unchanged(ctx context.Context, held []resolver.Held, pacer resolver.Pacer) ([]string, error) {
	var in *secretsmanager.ListSecretsInput
	return resolver.ListUnchanged(ctx, pacer, held, resolver.Listing[types.SecretListEntry]{
		What:   "list secrets",
		Need:   listAction + ` on resource "*"`,
		Budget: p.FullReadCalls(len(held)),
		Name: func(h resolver.Held) (string, bool) {
			name, _, ok := parseToken(h.Version)
			return name, ok
		},
		Page: func(ctx context.Context, names []string) ([]types.SecretListEntry, bool, error) {
			if in == nil {
				in = &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(ListPage)}
				if values := namePrefixes(names, maxFilterValues); values != nil {
					in.Filters = []types.Filter{{Key: types.FilterNameStringTypeName, Values: values}}
				}
			}
			out, err := p.api.ListSecrets(ctx, in)
			if err != nil {
				return nil, false, listError(err)
			}
			in.NextToken = out.NextToken
			return out.SecretList, aws.ToString(out.NextToken) != "", nil
		},
		Listed: func(e types.SecretListEntry) (string, bool) { return aws.ToString(e.Name), true },
		Current: func(e types.SecretListEntry, h resolver.Held) bool {
			name, version, _ := parseToken(h.Version)
			current := currentVersion(e.SecretVersionsToStages)
			return matches(h.ID, name, aws.ToString(e.ARN)) && current != "" && current == version
		},
	})
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
