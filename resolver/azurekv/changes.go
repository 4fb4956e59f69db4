package azurekv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
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

// readVersion is what the Provider remembers of an id it returned a
// value for: the lower-cased secret name, whether the id pins a version,
// and the updated time (whole seconds) of the version returned. Never the
// value.
type readVersion struct {
	name    string
	pinned  bool
	updated int64
	// settled: the read came settleAfter or more after the version's
	// updated time (by this machine's clock), so any later version has a
	// later updated second. A read closer to it is not vouched for: a
	// version set in the same second would look the same.
	settled bool
}

// settleAfter is how long after a version's updated time a read must come
// for its whole-second time to tell it from any later version: the
// second itself, plus room for this machine's clock running behind the
// vault's.
const settleAfter = 5 * time.Second

// remember records what Unchanged compares of the secret returned now
// for id (of the secret name; pinned when id names a version). A secret
// without an updated time (an endpoint that sends none) is not
// remembered: it could not be compared.
func (p *Provider) remember(id, name string, pinned bool, sec azsecrets.Secret) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if sec.Attributes == nil || sec.Attributes.Updated == nil {
		delete(p.read, id)
		return
	}
	updated := *sec.Attributes.Updated
	p.read[id] = readVersion{name: strings.ToLower(name), pinned: pinned, updated: updated.Unix(),
		settled: p.now().Sub(updated) >= settleAfter}
}

// forget drops what the Provider remembered of id, whose last read
// failed: Unchanged then no longer vouches for it.
func (p *Provider) forget(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.read, id)
}

// FullReadCalls implements resolver.ChangeLister: Key Vault has no batch
// read, so a full read of n ids is n GetSecret calls.
func (*Provider) FullReadCalls(n int) int { return n }

// Unchanged implements resolver.ChangeLister with Get Secrets (GET
// {vault}/secrets, azsecrets' NewListSecretPropertiesPager): it pages
// through the properties of every secret of the vault, ListPage per call,
// each call through pacer, and returns the ids it can vouch for. It stops
// as soon as every secret of a vouchable id was seen. Get Secrets lists
// each secret once, with the attributes of its latest version and an id
// without a version; deleted secrets are not listed, disabled ones are
// with enabled false.
//
//   - An id naming the latest version is vouched for when its secret is
//     listed, enabled, and its updated time is the one of the value Get
//     last returned. A new version (SetSecret) or a change of the latest
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
//   - Ids it never returned a value for, or whose last read failed, are
//     left out.
//
// The listing is over the whole vault, not the ids: a vault holding many
// more secrets than ids makes it cost more than reading them, and it
// gives up with an error (not resolver.ErrPermission) before it would
// make more calls than FullReadCalls(len(ids)), one per id. A refused
// listing (403: no role on the vault covering
// Microsoft.KeyVault/vaults/secrets/readMetadata/action, or no List in
// the access policy) is resolver.ErrPermission naming that permission;
// throttling is resolver.Throttled and other failures as for reads, except
// that token failures and other refusals are plain errors, since they say
// nothing about listing.
func (p *Provider) Unchanged(ctx context.Context, ids []string, pacer resolver.Pacer) ([]string, error) {
	want := make(map[string][]string) // lower-cased secret name -> ids
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

	pager := p.api.NewListSecretPropertiesPager(nil)
	budget := p.FullReadCalls(len(ids))
	var unchanged []string
	for calls := 0; ; calls++ {
		if calls == budget {
			return nil, fmt.Errorf("list secrets of vault %s: %d pages did not cover the %d secrets, and more would cost more than reading them", p.vault, calls, len(want))
		}
		var page azsecrets.ListSecretPropertiesResponse
		err := pacer.Call(ctx, "list", func(ctx context.Context) error {
			var err error
			if page, err = pager.NextPage(ctx); err != nil {
				return listError(ctx, err)
			}
			return nil
		})
		if errors.Is(err, resolver.ErrPermission) {
			return nil, fmt.Errorf("list secrets of vault %s (change detection needs %s): %w", p.vault, listPermission, err)
		}
		if err != nil {
			return nil, fmt.Errorf("list secrets of vault %s: %w", p.vault, err)
		}
		for _, item := range page.Value {
			if item == nil || item.ID == nil {
				continue
			}
			name := strings.ToLower(item.ID.Name())
			waiting, ok := want[name]
			if !ok {
				continue
			}
			enabled, updated := listed(item.Attributes)
			for _, id := range waiting {
				r := read[id]
				if enabled && (r.pinned || r.settled && updated != 0 && updated == r.updated) {
					unchanged = append(unchanged, id)
				}
			}
			// A secret is listed once: its ids are settled either way.
			delete(want, name)
		}
		if len(want) == 0 || !pager.More() {
			return unchanged, nil
		}
	}
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
