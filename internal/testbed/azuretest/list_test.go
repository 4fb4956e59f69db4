package azuretest_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/azuretest"
)

// TestSDKListSecrets pages through the vault with azsecrets'
// NewListSecretPropertiesPager: 25 secrets a page, deleted secrets left
// out, disabled ones listed with enabled false, each with its latest
// version's times and an id without a version.
func TestSDKListSecrets(t *testing.T) {
	t.Parallel()
	s := azuretest.New(t)
	c := sdkClient(t, s, s.ClientSecret)
	for i := range 60 {
		s.PutSecret(fmt.Sprintf("list-%02d", i), "list-value")
	}
	s.DeleteSecret("list-07")
	s.SetEnabled("list-08", "", false)
	s.PutSecret("Rotated", "v1")
	s.Advance(3 * time.Second)
	s.PutSecret("Rotated", "v2")

	pager := c.NewListSecretPropertiesPager(nil)
	var items []*azsecrets.SecretProperties
	pages := 0
	for pager.More() {
		page, err := pager.NextPage(t.Context())
		require.NoError(t, err)
		pages++
		assert.LessOrEqual(t, len(page.Value), azuretest.ListPage)
		items = append(items, page.Value...)
	}
	assert.Equal(t, 3, pages, "60 secrets, one deleted, one more: 25 + 25 + 10")
	assert.Equal(t, 3, s.Calls(azuretest.OpListSecrets))
	require.Len(t, items, 60)
	seen := map[string]*azsecrets.SecretProperties{}
	for _, it := range items {
		require.NotNil(t, it.ID)
		assert.Empty(t, it.ID.Version(), "a listed id has no version")
		assert.True(t, strings.HasPrefix(string(*it.ID), s.VaultURL()+"secrets/"), *it.ID)
		seen[it.ID.Name()] = it
	}
	assert.NotContains(t, seen, "list-07")
	require.Contains(t, seen, "list-08")
	assert.False(t, *seen["list-08"].Attributes.Enabled)
	assert.True(t, *seen["list-09"].Attributes.Enabled)
	rot := seen["Rotated"]
	require.NotNil(t, rot)
	got, err := c.GetSecret(t.Context(), "rotated", "", nil)
	require.NoError(t, err)
	assert.Equal(t, got.Attributes.Updated.Unix(), rot.Attributes.Updated.Unix(), "the latest version's updated")
	assert.Equal(t, *got.Attributes.Updated, *got.Attributes.Created)

	s.DenyList(azuretest.DenyRBAC)
	_, err = c.NewListSecretPropertiesPager(nil).NextPage(t.Context())
	status, code, inner := responseError(t, err)
	assert.Equal(t, http.StatusForbidden, status)
	assert.Equal(t, "Forbidden", code)
	assert.Equal(t, "ForbiddenByRbac", inner)
	s.DenyList(azuretest.DenyAccessPolicy)
	_, err = c.NewListSecretPropertiesPager(nil).NextPage(t.Context())
	_, _, inner = responseError(t, err)
	assert.Equal(t, "AccessDenied", inner)
	_, err = c.GetSecret(t.Context(), "rotated", "", nil)
	assert.NoError(t, err, "reading is still allowed")
}

func TestRawListSecrets(t *testing.T) {
	t.Parallel()
	s := azuretest.New(t)
	for i := range 5 {
		s.PutSecret(fmt.Sprintf("raw-%d", i), "v")
	}
	code, tok := postToken(t, s, s.TenantID, clientCredentials(s))
	require.Equal(t, http.StatusOK, code, tok)
	bearer := "Bearer " + tok["access_token"].(string)

	resp, body := rawGet(t, s, http.MethodGet, "/secrets", "api-version=7.4&maxresults=2", bearer)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Len(t, body["value"], 2)
	next, _ := body["nextLink"].(string)
	require.NotEmpty(t, next)
	assert.Contains(t, next, "api-version=7.4")
	assert.Contains(t, next, "maxresults=2")
	assert.Contains(t, next, "%24skiptoken=")
	item := body["value"].([]any)[0].(map[string]any)
	assert.Equal(t, "https://"+resp.Request.URL.Host+"/secrets/raw-0", item["id"])
	attrs := item["attributes"].(map[string]any)
	for _, k := range []string{"enabled", "created", "updated", "recoveryLevel"} {
		assert.Contains(t, attrs, k)
	}
	assert.NotContains(t, item, "value", "a list holds no value")

	for _, q := range []string{"api-version=7.4&maxresults=0", "api-version=7.4&maxresults=26", "api-version=7.4&maxresults=x", "api-version=7.4&$skiptoken=%25%25", ""} {
		resp, body := rawGet(t, s, http.MethodGet, "/secrets", q, bearer)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, q)
		assert.Equal(t, "BadParameter", errorCode(body), q)
	}
	resp, body = rawGet(t, s, http.MethodGet, "/secrets/", "api-version=7.4&maxresults=25", bearer)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Len(t, body["value"], 5)
	assert.Nil(t, body["nextLink"])
}
