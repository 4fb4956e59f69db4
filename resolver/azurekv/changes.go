package azurekv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"omsecrets/resolver"
)

var _ resolver.ChangeLister = (*Provider)(nil)

// ListPage is the most secrets one Get Secrets call returns, and what it
// returns without maxresults, which azsecrets does not send (REST
// reference, Get Secrets: maxresults "Maximum number of results to return
// in a page. If not specified, the service will return up to 25
// results.").
const ListPage = 25

// listPermission names what listing needs, for the error of a refused
// listing.
const listPermission = "Microsoft.KeyVault/vaults/secrets/readMetadata/action on the vault (in the roles Key Vault Secrets User and Key Vault Reader; a role assigned on single secrets does not cover listing), or on a vault using access policies the secret permission List"

// listHints explain the 403 inner codes of a refused listing.
var listHints = map[string]string{
	"ForbiddenByRbac":     "no role assignment on the vault lets the identity list secrets",
	"AccessDenied":        "the vault's access policies do not give the identity List on secrets",
	"ForbiddenByFirewall": "the vault's network rules refuse this client's address",
	"ForbiddenByPolicy":   "a policy of the vault refuses the request",
}

// settleAfter is how long after a version's updated time a read must come
// for its whole-second time to tell it from any later version: the
// second itself, plus room for this machine's clock running behind the
// vault's.
const settleAfter = 5 * time.Second

// versionToken is the version token of sec, read now: the Key Vault
// version, a space and the version's updated time in whole seconds, or
// "-" in its place when the read came less than settleAfter after it
// (by this machine's clock): a version set in the same second would look
// the same, so such a read is not vouched for unless its id pins the
// version. A secret without an updated time (an endpoint that sends none)
// has a content version (resolver.ContentVersion), never vouched for: it
// could not be compared. sec.Value is set.
func (p *Provider) versionToken(sec azsecrets.Secret) string {
	if sec.Attributes == nil || sec.Attributes.Updated == nil {
		return resolver.ContentVersion(resolver.NewSecret(*sec.Value))
	}
	version := ""
	if sec.ID != nil {
		version = sec.ID.Version()
	}
	updated := *sec.Attributes.Updated
	if p.now().Sub(updated) < settleAfter {
		return version + " -"
	}
	return version + " " + strconv.FormatInt(updated.Unix(), 10)
}

// heldVersion returns what Unchanged compares of h: the lower-cased
// secret name, whether the id pins a version, and the updated second of
// the value (0 if not settled).
func heldVersion(h resolver.Held) (name string, pinned bool, updated int64, ok bool) {
	name, version, err := parseID(h.ID)
	_, at, found := strings.Cut(h.Version, " ")
	if err != nil || !found {
		return "", false, 0, false
	}
	if at != "-" {
		if updated, err = strconv.ParseInt(at, 10, 64); err != nil || updated == 0 {
			return "", false, 0, false
		}
	}
	return strings.ToLower(name), version != "", updated, true
}

// FullReadCalls implements resolver.ChangeLister: Key Vault has no batch
// read, so a full read of n ids is n GetSecret calls.
func (*Provider) FullReadCalls(n int) int { return n }

// Unchanged implements resolver.ChangeLister with Get Secrets (GET
// {vault}/secrets, azsecrets' NewListSecretPropertiesPager): it pages
// through the properties of every secret of the vault, ListPage per call,
// each call through pacer, and returns the ids of the held values it can
// vouch for (resolver.ListUnchanged). It stops
// as soon as every secret of a vouchable id was seen. Get Secrets lists
// each secret once, with the attributes of its latest version and an id
// without a version; deleted secrets are not listed, disabled ones are
// with enabled false.
//
//   - An id naming the latest version is vouched for when its secret is
//     listed, enabled, and its updated time is the one of the held
//     value. A new version (SetSecret) or a change of the latest
//     version's attributes moves it. Key Vault's times are whole seconds,
//     so a version set within the same second as the one Get returned
//     would keep the time: a value read less than settleAfter after its
//     version's updated time is not vouched for (the next refresh reads
//     it again, and that read is settled). A clock more than settleAfter
//     behind the vault's could still be fooled; the Resolver's
//     ChangeCheck.MaxAge bounds how long such a value is served.
//   - An id pinning a version ("name/version") is vouched for when its
//     secret is still listed as enabled: a version's value never changes.
//     The list shows only the latest version's enabled flag, so a pinned
//     older version disabled on its own is not seen until MaxAge.
//   - Values without a version token are left out.
//
// The listing is over the whole vault, not the ids: a vault holding many
// more secrets than ids makes it cost more than reading them, and it
// gives up with an error (not resolver.ErrPermission) before it would
// make more calls than FullReadCalls(len(held)), one per id. A refused
// listing (403: no role on the vault covering
// Microsoft.KeyVault/vaults/secrets/readMetadata/action, or no List in
// the access policy) is resolver.ErrPermission naming that permission;
// throttling is resolver.Throttled and other failures as for reads, except
// that token failures and other refusals are plain errors, since they say
// nothing about listing.
func (p *Provider) Unchanged(ctx context.Context, held []resolver.Held, pacer resolver.Pacer) ([]string, error) {
	var pager *runtime.Pager[azsecrets.ListSecretPropertiesResponse]
	return resolver.ListUnchanged(ctx, pacer, held, resolver.Listing[*azsecrets.SecretProperties]{
		What:   "list secrets of vault " + p.vault,
		Need:   listPermission,
		Budget: p.FullReadCalls(len(held)),
		Name: func(h resolver.Held) (string, bool) {
			name, _, _, ok := heldVersion(h)
			return name, ok
		},
		Page: func(ctx context.Context, _ []string) ([]*azsecrets.SecretProperties, bool, error) {
			if pager == nil {
				pager = p.api.NewListSecretPropertiesPager(nil)
			}
			page, err := pager.NextPage(ctx)
			if err != nil {
				return nil, false, listError(ctx, err)
			}
			return page.Value, pager.More(), nil
		},
		Listed: func(item *azsecrets.SecretProperties) (string, bool) {
			if item == nil || item.ID == nil {
				return "", false
			}
			return strings.ToLower(item.ID.Name()), true
		},
		Current: func(item *azsecrets.SecretProperties, h resolver.Held) bool {
			_, pinned, updated, _ := heldVersion(h)
			enabled, at := listed(item.Attributes)
			return enabled && (pinned || updated != 0 && at == updated)
		},
	})
}

// listed returns whether a listed secret is enabled and its updated
// time in seconds (0 if not sent).
func listed(a *azsecrets.SecretAttributes) (enabled bool, updated int64) {
	if a == nil {
		return false, 0
	}
	if a.Updated != nil {
		updated = a.Updated.Unix()
	}
	return a.Enabled != nil && *a.Enabled, updated
}

// listError classes an error of a Get Secrets call for the pacer and
// the caller. Only Key Vault's 403 is resolver.ErrPermission: the Resolver
// then stops listing, which a refused token (401), a failing credential or
// another 4xx do not call for; they fail this listing only.
func listError(ctx context.Context, err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		e := responseError(re, listHints)
		if re.StatusCode == http.StatusForbidden || !errors.Is(e, resolver.ErrPermission) {
			return e
		}
		return fmt.Errorf("not a refusal of the listing: %v", e)
	}
	e := classify(ctx, err)
	if errors.Is(e, resolver.ErrPermission) {
		return fmt.Errorf("not a refusal of the listing: %v", e)
	}
	return e
}
