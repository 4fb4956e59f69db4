package awstest_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/awstest"
)

// listAllSecrets follows ListSecrets' NextToken with the SDK's paginator
// and returns the entries and the number of pages.
func listAllSecrets(t *testing.T, c *secretsmanager.Client, in *secretsmanager.ListSecretsInput) ([]smtypes.SecretListEntry, int) {
	t.Helper()
	p := secretsmanager.NewListSecretsPaginator(c, in)
	var out []smtypes.SecretListEntry
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		require.NoError(t, err)
		pages++
		out = append(out, page.SecretList...)
	}
	return out, pages
}

func secretNames(entries []smtypes.SecretListEntry) []string {
	var names []string
	for _, e := range entries {
		names = append(names, aws.ToString(e.Name))
	}
	return names
}

func TestListSecretsPages(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	var want []string
	for i := range 250 {
		name := fmt.Sprintf("/app/prod/s%03d", i)
		s.PutSecret(name, "list-value")
		want = append(want, name)
	}
	s.PutSecret("/app/staging/x", "list-value-staging")
	s.PutSecret("other", "list-value-other")
	c := smClient(s)

	// The default page is 100, the most MaxResults allows.
	out, err := c.ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{})
	require.NoError(t, err)
	assert.Len(t, out.SecretList, 100)
	assert.NotNil(t, out.NextToken)

	filter := []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{"/app/prod/"}}}
	got, pages := listAllSecrets(t, c, &secretsmanager.ListSecretsInput{Filters: filter, MaxResults: aws.Int32(100)})
	assert.Equal(t, want, secretNames(got))
	assert.Equal(t, 3, pages, "250 secrets in pages of 100")

	got, pages = listAllSecrets(t, c, &secretsmanager.ListSecretsInput{Filters: filter, MaxResults: aws.Int32(50)})
	assert.Len(t, got, 250)
	assert.Equal(t, 5, pages, "an exact last page gets no NextToken")

	for _, e := range got {
		assert.Contains(t, aws.ToString(e.ARN), ":secret:"+aws.ToString(e.Name)+"-")
		assert.NotNil(t, e.LastChangedDate)
		assert.NotNil(t, e.CreatedDate)
		assert.Len(t, e.SecretVersionsToStages, 1)
	}
	for _, v := range []int32{0, 101} {
		_, err := c.ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(v)})
		code, status := apiError(t, err)
		assert.Equal(t, "ValidationException", code, "MaxResults %d", v)
		assert.Equal(t, http.StatusBadRequest, status)
	}
	_, err = c.ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{NextToken: aws.String("bogus")})
	var bad *smtypes.InvalidNextTokenException
	require.ErrorAs(t, err, &bad)
	// A DescribeParameters token is no ListSecrets token.
	ps := ssmClient(s)
	s.PutParameter("/p1", "v", false)
	s.PutParameter("/p2", "v", false)
	dp, err := ps.DescribeParameters(t.Context(), &ssm.DescribeParametersInput{MaxResults: aws.Int32(1)})
	require.NoError(t, err)
	require.NotNil(t, dp.NextToken)
	_, err = c.ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{NextToken: dp.NextToken})
	require.ErrorAs(t, err, &bad)
}

func TestListSecretsFilters(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	for _, n := range []string{"/a/x", "/a/y", "/A/z", "/b/x", "a/x"} {
		s.PutSecret(n, "filter-value")
	}
	c := smClient(s)
	for _, tc := range []struct {
		name   string
		values []string
		want   []string
	}{
		{name: "prefix", values: []string{"/a/"}, want: []string{"/a/x", "/a/y"}},
		{name: "case-sensitive", values: []string{"/A"}, want: []string{"/A/z"}},
		{name: "any value", values: []string{"/a/x", "/b"}, want: []string{"/a/x", "/b/x"}},
		{name: "negation", values: []string{"!/a"}, want: []string{"/A/z", "/b/x", "a/x"}},
		{name: "whole name", values: []string{"/a/y"}, want: []string{"/a/y"}},
		{name: "none", values: []string{"/c"}, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, _ := listAllSecrets(t, c, &secretsmanager.ListSecretsInput{Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: tc.values}}})
			assert.Equal(t, tc.want, secretNames(got))
		})
	}

	for _, tc := range []struct {
		name     string
		filter   smtypes.Filter
		wantCode string
	}{
		{name: "unknown key", filter: smtypes.Filter{Key: "colour", Values: []string{"x"}}, wantCode: "ValidationException"},
		{name: "no values", filter: smtypes.Filter{Key: smtypes.FilterNameStringTypeName}, wantCode: "ValidationException"},
		{name: "too many values", filter: smtypes.Filter{Key: smtypes.FilterNameStringTypeName, Values: make([]string, 11)}, wantCode: "ValidationException"},
		{name: "bad character", filter: smtypes.Filter{Key: smtypes.FilterNameStringTypeName, Values: []string{"a*"}}, wantCode: "ValidationException"},
		{name: "unmodelled key", filter: smtypes.Filter{Key: smtypes.FilterNameStringTypeAll, Values: []string{"x"}}, wantCode: "InvalidParameterException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{Filters: []smtypes.Filter{tc.filter}})
			code, _ := apiError(t, err)
			assert.Equal(t, tc.wantCode, code)
		})
	}
}

func TestListSecretsVersions(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	s.PutSecret("v", "version-one")
	c := smClient(s)
	get := func() *secretsmanager.GetSecretValueOutput {
		out, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("v")})
		require.NoError(t, err)
		return out
	}
	list := func(in *secretsmanager.ListSecretsInput) []smtypes.SecretListEntry {
		out, err := c.ListSecrets(t.Context(), in)
		require.NoError(t, err)
		return out.SecretList
	}
	v1 := aws.ToString(get().VersionId)
	e := list(&secretsmanager.ListSecretsInput{})
	require.Len(t, e, 1)
	assert.Equal(t, map[string][]string{v1: {"AWSCURRENT"}}, e[0].SecretVersionsToStages)
	changed1 := *e[0].LastChangedDate

	time.Sleep(5 * time.Millisecond)
	s.PutSecret("v", "version-two")
	v2 := aws.ToString(get().VersionId)
	require.NotEqual(t, v1, v2, "a new value is a new version")
	e = list(&secretsmanager.ListSecretsInput{})
	require.Len(t, e, 1)
	assert.Equal(t, map[string][]string{v2: {"AWSCURRENT"}, v1: {"AWSPREVIOUS"}}, e[0].SecretVersionsToStages)
	assert.True(t, e[0].LastChangedDate.After(changed1), "LastChangedDate moves")
	assert.Nil(t, e[0].DeletedDate)

	s.ScheduleSecretDeletion("v")
	assert.Empty(t, list(&secretsmanager.ListSecretsInput{}), "planned deletions are left out by default")
	e = list(&secretsmanager.ListSecretsInput{IncludePlannedDeletion: aws.Bool(true)})
	require.Len(t, e, 1)
	assert.NotNil(t, e[0].DeletedDate)

	s.DeleteSecret("v")
	assert.Empty(t, list(&secretsmanager.ListSecretsInput{IncludePlannedDeletion: aws.Bool(true)}))
}

func TestListSecretsDenied(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	s.PutSecret("d", "denied-list-value")
	s.Deny(awstest.ActionListSecrets)
	c := smClient(s)
	_, err := c.ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{})
	code, status := apiError(t, err)
	assert.Equal(t, "AccessDeniedException", code)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.NotContains(t, err.Error(), "denied-list-value")
	// Reading is a separate action.
	_, err = c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("d")})
	require.NoError(t, err)
	s.Allow(awstest.ActionListSecrets)
	_, err = c.ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{})
	require.NoError(t, err)
	assert.Equal(t, 2, s.Calls(awstest.TargetListSecrets))
}

// describeAll follows DescribeParameters' NextToken and returns the names
// and the number of pages.
func describeAll(t *testing.T, c *ssm.Client, in *ssm.DescribeParametersInput) ([]string, int) {
	t.Helper()
	p := ssm.NewDescribeParametersPaginator(c, in)
	var names []string
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		require.NoError(t, err)
		pages++
		for _, m := range page.Parameters {
			names = append(names, aws.ToString(m.Name))
		}
	}
	return names, pages
}

func TestDescribeParametersPages(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	var want []string
	for i := range 120 {
		name := fmt.Sprintf("/svc/prod/p%03d", i)
		s.PutParameter(name, "describe-value", i%2 == 0)
		want = append(want, name)
	}
	s.PutParameter("/svc/dev/p", "describe-dev", false)
	c := ssmClient(s)

	out, err := c.DescribeParameters(t.Context(), &ssm.DescribeParametersInput{})
	require.NoError(t, err)
	assert.Len(t, out.Parameters, 10, "the default page")
	assert.NotNil(t, out.NextToken)

	filter := []ssmtypes.ParameterStringFilter{{Key: aws.String("Name"), Option: aws.String("BeginsWith"), Values: []string{"/svc/prod/"}}}
	got, pages := describeAll(t, c, &ssm.DescribeParametersInput{ParameterFilters: filter, MaxResults: aws.Int32(50)})
	assert.Equal(t, want, got)
	assert.Equal(t, 3, pages)

	out, err = c.DescribeParameters(t.Context(), &ssm.DescribeParametersInput{ParameterFilters: filter, MaxResults: aws.Int32(2)})
	require.NoError(t, err)
	require.Len(t, out.Parameters, 2)
	m := out.Parameters[0]
	assert.Equal(t, "/svc/prod/p000", aws.ToString(m.Name))
	assert.Equal(t, ssmtypes.ParameterTypeSecureString, m.Type)
	assert.Equal(t, int64(1), m.Version)
	assert.Equal(t, "arn:aws:ssm:"+s.Region+":"+s.Account+":parameter/svc/prod/p000", aws.ToString(m.ARN))
	assert.NotNil(t, m.LastModifiedDate)
	assert.Equal(t, ssmtypes.ParameterTypeString, out.Parameters[1].Type)

	// PutParameter bumps Version.
	assert.Equal(t, int64(2), s.PutParameter("/svc/prod/p000", "describe-value-2", true))
	out, err = c.DescribeParameters(t.Context(), &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Name"), Values: []string{"/svc/prod/p000"}}}})
	require.NoError(t, err)
	require.Len(t, out.Parameters, 1, "Name defaults to Equals")
	assert.Equal(t, int64(2), out.Parameters[0].Version)

	for _, v := range []int32{0, 51} {
		_, err := c.DescribeParameters(t.Context(), &ssm.DescribeParametersInput{MaxResults: aws.Int32(v)})
		code, _ := apiError(t, err)
		assert.Equal(t, "ValidationException", code, "MaxResults %d", v)
	}
	_, err = c.DescribeParameters(t.Context(), &ssm.DescribeParametersInput{NextToken: aws.String("bogus")})
	var bad *ssmtypes.InvalidNextToken
	require.ErrorAs(t, err, &bad)
}

func TestDescribeParametersFilters(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	s.PutParameter("/a/x", "f", false)
	s.PutParameter("/a/y", "f", true)
	s.PutParameter("/a/b/z", "f", false)
	s.PutParameter("/ab", "f", false)
	s.PutStringList("top", "f", "g")
	c := ssmClient(s)
	filter := func(key, option string, values ...string) ssmtypes.ParameterStringFilter {
		f := ssmtypes.ParameterStringFilter{Key: aws.String(key), Values: values}
		if option != "" {
			f.Option = aws.String(option)
		}
		return f
	}
	for _, tc := range []struct {
		name    string
		filters []ssmtypes.ParameterStringFilter
		want    []string
	}{
		{name: "none", want: []string{"/a/b/z", "/a/x", "/a/y", "/ab", "top"}},
		{name: "name begins with", filters: []ssmtypes.ParameterStringFilter{filter("Name", "BeginsWith", "/a")}, want: []string{"/a/b/z", "/a/x", "/a/y", "/ab"}},
		{name: "name equals", filters: []ssmtypes.ParameterStringFilter{filter("Name", "Equals", "/a/x", "top")}, want: []string{"/a/x", "top"}},
		{name: "name contains", filters: []ssmtypes.ParameterStringFilter{filter("Name", "Contains", "b")}, want: []string{"/a/b/z", "/ab"}},
		{name: "path one level", filters: []ssmtypes.ParameterStringFilter{filter("Path", "OneLevel", "/a")}, want: []string{"/a/x", "/a/y"}},
		{name: "path default one level", filters: []ssmtypes.ParameterStringFilter{filter("Path", "", "/a/")}, want: []string{"/a/x", "/a/y"}},
		{name: "path recursive", filters: []ssmtypes.ParameterStringFilter{filter("Path", "Recursive", "/a")}, want: []string{"/a/b/z", "/a/x", "/a/y"}},
		{name: "path root", filters: []ssmtypes.ParameterStringFilter{filter("Path", "OneLevel", "/")}, want: []string{"/ab"}},
		{name: "type", filters: []ssmtypes.ParameterStringFilter{filter("Type", "Equals", "SecureString")}, want: []string{"/a/y"}},
		{name: "filters narrow together", filters: []ssmtypes.ParameterStringFilter{filter("Path", "Recursive", "/a"), filter("Type", "Equals", "String")}, want: []string{"/a/b/z", "/a/x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, _ := describeAll(t, c, &ssm.DescribeParametersInput{ParameterFilters: tc.filters})
			assert.Equal(t, tc.want, got)
		})
	}

	for _, tc := range []struct {
		name     string
		filter   ssmtypes.ParameterStringFilter
		wantCode string
	}{
		{name: "label", filter: filter("Label", "Equals", "x"), wantCode: "InvalidFilterKey"},
		{name: "unknown key", filter: filter("Colour", "Equals", "x"), wantCode: "InvalidFilterKey"},
		{name: "bad option", filter: filter("Name", "Recursive", "/a"), wantCode: "InvalidFilterOption"},
		{name: "path option on name", filter: filter("Path", "BeginsWith", "/a"), wantCode: "InvalidFilterOption"},
		{name: "relative path", filter: filter("Path", "Recursive", "a"), wantCode: "InvalidFilterValue"},
		{name: "no values", filter: filter("Name", "Equals"), wantCode: "InvalidFilterValue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.DescribeParameters(t.Context(), &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{tc.filter}})
			code, status := apiError(t, err)
			assert.Equal(t, tc.wantCode, code)
			assert.Equal(t, http.StatusBadRequest, status)
		})
	}
}

func TestDescribeParametersScanLimit(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	for i := range 30 {
		s.PutParameter(fmt.Sprintf("/other/%02d", i), "scan", false)
	}
	s.PutParameter("/want/1", "scan", false)
	s.PutParameter("/want/2", "scan", false)
	s.SetDescribeScanLimit(10)
	c := ssmClient(s)
	filter := []ssmtypes.ParameterStringFilter{{Key: aws.String("Name"), Option: aws.String("BeginsWith"), Values: []string{"/want/"}}}
	p := ssm.NewDescribeParametersPaginator(c, &ssm.DescribeParametersInput{ParameterFilters: filter, MaxResults: aws.Int32(50)})
	var sizes []int
	var got []string
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		require.NoError(t, err)
		sizes = append(sizes, len(page.Parameters))
		for _, m := range page.Parameters {
			got = append(got, aws.ToString(m.Name))
		}
	}
	assert.Equal(t, []string{"/want/1", "/want/2"}, got)
	assert.Equal(t, []int{0, 0, 0, 2}, sizes, "pages are cut by the scan, empty ones included")
}

func TestDescribeParametersDenied(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	s.PutParameter("/d", "denied-describe-value", true)
	s.Deny(awstest.ActionDescribeParameters)
	c := ssmClient(s)
	_, err := c.DescribeParameters(t.Context(), &ssm.DescribeParametersInput{})
	code, _ := apiError(t, err)
	assert.Equal(t, "AccessDeniedException", code)
	assert.NotContains(t, err.Error(), "denied-describe-value")
	_, err = c.GetParameter(t.Context(), &ssm.GetParameterInput{Name: aws.String("/d")})
	require.NoError(t, err)
}

func TestListingsCarryNoValues(t *testing.T) {
	t.Parallel()
	s := awstest.New(t)
	s.PutSecret("nv", "listing-secret-value")
	s.PutParameter("/nv", "listing-param-value", true)
	status, _ := rawRequest(t, s, awstest.TargetListSecrets, `{}`, serverCreds(s), "secretsmanager", s.Region)
	assert.Equal(t, http.StatusOK, status)
	sm, err := smClient(s).ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{})
	require.NoError(t, err)
	assert.NotContains(t, fmt.Sprintf("%+v", sm.SecretList), "listing-secret-value")
	dp, err := ssmClient(s).DescribeParameters(t.Context(), &ssm.DescribeParametersInput{})
	require.NoError(t, err)
	assert.NotContains(t, fmt.Sprintf("%+v", dp.Parameters), "listing-param-value")
	assert.True(t, slices.ContainsFunc(dp.Parameters, func(m ssmtypes.ParameterMetadata) bool { return aws.ToString(m.KeyId) == "alias/aws/ssm" }))
}
