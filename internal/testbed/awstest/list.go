package awstest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Limits of the listings (API references: ListSecrets MaxResults "Valid
// Range: Minimum value of 1. Maximum value of 100", Filter Values "Maximum
// number of 10 items", "Maximum length of 512"; DescribeParameters
// MaxResults "Minimum value of 1. Maximum value of 50",
// ParameterStringFilter Values "Minimum number of 1 item. Maximum number of
// 50 items", "Maximum length of 1024").
const (
	maxListSecrets         = 100
	defaultListSecrets     = 100
	maxFilterValues        = 10
	maxFilterValueLen      = 512
	maxDescribeParameters  = 50
	maxParamFilterValues   = 50
	maxParamFilterValueLen = 1024
)

// defaultDescribeParameters is the page size of a DescribeParameters call
// without MaxResults. The API reference does not state it; 10 is what
// the AWS CLI's users report and is an assumption.
const defaultDescribeParameters = 10

// Token kinds: a NextToken of one listing is refused by the other.
const (
	tokenListSecrets        = "ls"
	tokenDescribeParameters = "dp"
)

// tokenPrefix starts every listing NextToken.
const tokenPrefix = "awstest:"

// pageToken returns the NextToken of the page of a listing of kind that
// starts after the name after. AWS's tokens are opaque; these carry the
// last name returned, so that paging survives concurrent changes the way
// a cursor does.
func listToken(kind, after string) string {
	return tokenPrefix + kind + ":" + base64.RawURLEncoding.EncodeToString([]byte(after))
}

// parseListToken returns the name a NextToken of kind starts after, or
// false if tok is not such a token.
func parseListToken(kind, tok string) (after string, ok bool) {
	rest, ok := strings.CutPrefix(tok, tokenPrefix+kind+":")
	if !ok || rest == "" {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) == 0 {
		return "", false
	}
	return string(b), true
}

// sortedSecretNames returns the names of all secrets, sorted. Callers hold
// s.mu and must not modify the slice.
func (s *Server) sortedSecretNames() []string {
	if s.secretNames == nil {
		s.secretNames = make([]string, 0, len(s.secrets))
		for name := range s.secrets {
			s.secretNames = append(s.secretNames, name)
		}
		slices.Sort(s.secretNames)
	}
	return s.secretNames
}

// sortedParamNames is sortedSecretNames for parameters.
func (s *Server) sortedParamNames() []string {
	if s.paramNames == nil {
		s.paramNames = make([]string, 0, len(s.params))
		for name := range s.params {
			s.paramNames = append(s.paramNames, name)
		}
		slices.Sort(s.paramNames)
	}
	return s.paramNames
}

// after returns the index of the first name in sorted names greater than
// name.
func after(names []string, name string) int {
	i, found := slices.BinarySearch(names, name)
	if found {
		i++
	}
	return i
}

// ListSecrets.

type secretsFilter struct {
	Key    string   `json:"Key"`
	Values []string `json:"Values"`
}

type listSecretsInput struct {
	Filters                []secretsFilter `json:"Filters"`
	IncludePlannedDeletion bool            `json:"IncludePlannedDeletion"`
	MaxResults             *int            `json:"MaxResults"`
	NextToken              *string         `json:"NextToken"`
}

// secretListEntry is an entry of ListSecrets' SecretList: metadata only,
// never a value. Timestamps are epoch seconds.
type secretListEntry struct {
	ARN                    string              `json:"ARN"`
	Name                   string              `json:"Name"`
	CreatedDate            float64             `json:"CreatedDate"`
	LastChangedDate        float64             `json:"LastChangedDate"`
	DeletedDate            *float64            `json:"DeletedDate,omitempty"`
	SecretVersionsToStages map[string][]string `json:"SecretVersionsToStages"`
}

type listSecretsOutput struct {
	SecretList []secretListEntry `json:"SecretList"`
	NextToken  string            `json:"NextToken,omitempty"`
}

// secretFilterKeys are the Filter keys of the API reference
// (FilterNameStringType).
var secretFilterKeys = []string{"description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all"}

// validFilterValue reports whether v matches the API reference's pattern
// for Filter values, ^\!?[a-zA-Z0-9 :_@\/\+\=\.\-\!]*$.
func validFilterValue(v string) bool {
	for i, r := range v {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune(" :_@/+=.-", r):
		case r == '!' && i == 0:
		default:
			return false
		}
	}
	return true
}

// nameFilter is the name filter of ListSecrets: "Prefix match,
// case-sensitive" (API reference, Filter), a value starting with "!"
// negating it (AWS's answers quoted in localstack/localstack#4820: Values
// "/" lists "/testing2/two", "!/" lists "testing1/one"), several values
// matching if any does (as moto models it).
type nameFilter []string

func (f nameFilter) match(name string) bool {
	for _, v := range f {
		if neg, ok := strings.CutPrefix(v, "!"); ok {
			if !strings.HasPrefix(name, neg) {
				return true
			}
		} else if strings.HasPrefix(name, v) {
			return true
		}
	}
	return false
}

func (s *Server) listSecrets(body []byte) (any, *apiError) {
	var in listSecretsInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, errSerialization()
	}
	limit := defaultListSecrets
	if in.MaxResults != nil {
		limit = *in.MaxResults
		if e := checkRange("maxResults", limit, 1, maxListSecrets); e != nil {
			return nil, e
		}
	}
	var filters []nameFilter
	for i, f := range in.Filters {
		if !slices.Contains(secretFilterKeys, f.Key) {
			return nil, errValidation(fmt.Sprintf("1 validation error detected: Value '%s' at 'filters.%d.member.key' failed to satisfy constraint: Member must satisfy enum value set: [%s]",
				f.Key, i+1, strings.Join(secretFilterKeys, ", ")))
		}
		if len(f.Values) == 0 || len(f.Values) > maxFilterValues {
			return nil, errValidation(fmt.Sprintf("1 validation error detected: Value at 'filters.%d.member.values' failed to satisfy constraint: Member must have length between 1 and %d", i+1, maxFilterValues))
		}
		for _, v := range f.Values {
			if len(v) > maxFilterValueLen || !validFilterValue(v) {
				return nil, errValidation(fmt.Sprintf("1 validation error detected: Value at 'filters.%d.member.values' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to %d, Member must satisfy regular expression pattern: ^\\!?[a-zA-Z0-9 :_@\\/\\+\\=\\.\\-\\!]*$]", i+1, maxFilterValueLen))
			}
		}
		if f.Key != "name" {
			return nil, smError("InvalidParameterException", "awstest does not model the "+f.Key+" filter.")
		}
		filters = append(filters, nameFilter(f.Values))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	names := s.sortedSecretNames()
	start := 0
	if in.NextToken != nil {
		name, ok := parseListToken(tokenListSecrets, *in.NextToken)
		if !ok {
			return nil, smError("InvalidNextTokenException", "The NextToken value is invalid.")
		}
		start = after(names, name)
	}
	out := listSecretsOutput{SecretList: []secretListEntry{}}
	for _, name := range names[start:] {
		sec := s.secrets[name]
		if sec.deleting && !in.IncludePlannedDeletion || !matchAll(filters, name) {
			continue
		}
		if len(out.SecretList) == limit {
			// Another match: the caller needs a NextToken.
			out.NextToken = listToken(tokenListSecrets, out.SecretList[limit-1].Name)
			break
		}
		out.SecretList = append(out.SecretList, sec.listEntry())
	}
	return out, nil
}

// matchAll reports whether name passes every filter (filters of different
// keys narrow the listing together).
func matchAll(filters []nameFilter, name string) bool {
	for _, f := range filters {
		if !f.match(name) {
			return false
		}
	}
	return true
}

func (sec *secret) listEntry() secretListEntry {
	stages := map[string][]string{sec.versionID: {"AWSCURRENT"}}
	if sec.prevVersion != "" {
		stages[sec.prevVersion] = []string{"AWSPREVIOUS"}
	}
	e := secretListEntry{
		ARN:                    sec.arn,
		Name:                   sec.name,
		CreatedDate:            epochSeconds(sec.created),
		LastChangedDate:        epochSeconds(sec.changed),
		SecretVersionsToStages: stages,
	}
	if sec.deleting {
		d := epochSeconds(sec.deletedAt)
		e.DeletedDate = &d
	}
	return e
}

// checkRange returns the ValidationException of a member outside
// [lo, hi], worded as AWS's request validation words it.
func checkRange(member string, v, lo, hi int) *apiError {
	switch {
	case v < lo:
		return errValidation(fmt.Sprintf("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to %d", v, member, lo))
	case v > hi:
		return errValidation(fmt.Sprintf("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value less than or equal to %d", v, member, hi))
	}
	return nil
}

// DescribeParameters.

type parameterStringFilter struct {
	Key    string   `json:"Key"`
	Option *string  `json:"Option"`
	Values []string `json:"Values"`
}

type describeParametersInput struct {
	Filters          []json.RawMessage       `json:"Filters"`
	ParameterFilters []parameterStringFilter `json:"ParameterFilters"`
	MaxResults       *int                    `json:"MaxResults"`
	NextToken        *string                 `json:"NextToken"`
	Shared           bool                    `json:"Shared"`
}

// parameterMetadata is an entry of DescribeParameters' Parameters:
// metadata only, never a value.
type parameterMetadata struct {
	Name             string  `json:"Name"`
	ARN              string  `json:"ARN"`
	Type             string  `json:"Type"`
	KeyID            string  `json:"KeyId,omitempty"`
	LastModifiedDate float64 `json:"LastModifiedDate"`
	LastModifiedUser string  `json:"LastModifiedUser"`
	Version          int64   `json:"Version"`
	Tier             string  `json:"Tier"`
	Policies         []any   `json:"Policies"`
	DataType         string  `json:"DataType"`
}

type describeParametersOutput struct {
	Parameters []parameterMetadata `json:"Parameters"`
	NextToken  string              `json:"NextToken,omitempty"`
}

// paramFilter is one ParameterStringFilter, checked.
type paramFilter struct {
	key, option string
	values      []string
}

func (f paramFilter) match(p *parameter) bool {
	for _, v := range f.values {
		if f.matchOne(p, v) {
			return true
		}
	}
	return false
}

func (f paramFilter) matchOne(p *parameter, v string) bool {
	subject := p.name
	if f.key == "Type" {
		subject = p.typ
	}
	switch f.option {
	case "Equals":
		return subject == v
	case "BeginsWith":
		return strings.HasPrefix(subject, v)
	case "Contains":
		return strings.Contains(subject, v)
	case "Recursive":
		return strings.HasPrefix(subject, pathPrefix(v))
	case "OneLevel":
		rest, ok := strings.CutPrefix(subject, pathPrefix(v))
		return ok && rest != "" && !strings.Contains(rest, "/")
	}
	return false
}

// pathPrefix is the prefix of the names under path: "/a" and "/a/" both
// hold "/a/x".
func pathPrefix(path string) string {
	return strings.TrimSuffix(path, "/") + "/"
}

// paramFilterOptions are the options each modelled key takes (API
// reference, ParameterStringFilter: "For all filters used with
// DescribeParameters, valid options include Equals and BeginsWith. The
// Name filter additionally supports the Contains option. (Exception: For
// filters using the key Path, valid options include Recursive and
// OneLevel.)"), the first the default.
var paramFilterOptions = map[string][]string{
	"Name": {"Equals", "BeginsWith", "Contains"},
	"Type": {"Equals", "BeginsWith"},
	"Path": {"OneLevel", "Recursive"},
}

// checkParamFilter validates f as Parameter Store does, with its error
// names (InvalidFilterKey, InvalidFilterOption, InvalidFilterValue).
func checkParamFilter(f parameterStringFilter) (paramFilter, *apiError) {
	options, modelled := paramFilterOptions[f.Key]
	switch {
	case f.Key == "Label":
		// "For DescribeParameters, all of the listed patterns are valid
		// except Label."
		return paramFilter{}, ssmError("InvalidFilterKey", "The following filter key is not valid: Label. Valid filter keys include: [Path, Name, Type, KeyId, Tier, DataType, tag:].")
	case f.Key == "KeyId" || f.Key == "Tier" || f.Key == "DataType" || strings.HasPrefix(f.Key, "tag:"):
		return paramFilter{}, ssmError("InvalidFilterKey", "awstest does not model the "+f.Key+" filter.")
	case !modelled:
		return paramFilter{}, ssmError("InvalidFilterKey", "The following filter key is not valid: "+f.Key+". Valid filter keys include: [Path, Name, Type, KeyId, Tier, DataType, tag:].")
	}
	option := options[0]
	if f.Option != nil {
		option = *f.Option
	}
	if !slices.Contains(options, option) {
		return paramFilter{}, ssmError("InvalidFilterOption", "The following filter option is not valid: "+option+". Valid options include: ["+strings.Join(options, ", ")+"].")
	}
	if len(f.Values) == 0 || len(f.Values) > maxParamFilterValues {
		return paramFilter{}, ssmError("InvalidFilterValue", fmt.Sprintf("The following filter values are missing or too many: %s filters take 1 to %d values.", f.Key, maxParamFilterValues))
	}
	for _, v := range f.Values {
		if v == "" || len(v) > maxParamFilterValueLen {
			return paramFilter{}, ssmError("InvalidFilterValue", fmt.Sprintf("The following filter value is not valid: its length must be between 1 and %d.", maxParamFilterValueLen))
		}
		if f.Key == "Path" && !strings.HasPrefix(v, "/") {
			return paramFilter{}, ssmError("InvalidFilterValue", "The following filter value is not valid: "+v+". A path must begin with a forward slash (/).")
		}
	}
	return paramFilter{key: f.Key, option: option, values: f.Values}, nil
}

func (s *Server) describeParameters(body []byte) (any, *apiError) {
	var in describeParametersInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, errSerialization()
	}
	limit := defaultDescribeParameters
	if in.MaxResults != nil {
		limit = *in.MaxResults
		if e := checkRange("maxResults", limit, 1, maxDescribeParameters); e != nil {
			return nil, e
		}
	}
	switch {
	case len(in.Filters) > 0:
		return nil, ssmError("ValidationException", "awstest does not model the deprecated Filters; use ParameterFilters.")
	case in.Shared:
		return nil, ssmError("ValidationException", "awstest does not model shared parameters.")
	}
	filters := make([]paramFilter, 0, len(in.ParameterFilters))
	for _, f := range in.ParameterFilters {
		pf, e := checkParamFilter(f)
		if e != nil {
			return nil, e
		}
		filters = append(filters, pf)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	names := s.sortedParamNames()
	start := 0
	if in.NextToken != nil {
		name, ok := parseListToken(tokenDescribeParameters, *in.NextToken)
		if !ok {
			return nil, ssmError("InvalidNextToken", "The specified token isn't valid.")
		}
		start = after(names, name)
	}
	out := describeParametersOutput{Parameters: []parameterMetadata{}}
	for i, name := range names[start:] {
		if s.scanLimit > 0 && i == s.scanLimit {
			// The internal limit: stop where the scan got to.
			out.NextToken = listToken(tokenDescribeParameters, names[start+i-1])
			break
		}
		p := s.params[name]
		if !matchParam(filters, p) {
			continue
		}
		if len(out.Parameters) == limit {
			out.NextToken = listToken(tokenDescribeParameters, out.Parameters[limit-1].Name)
			break
		}
		out.Parameters = append(out.Parameters, s.metadata(p))
	}
	return out, nil
}

func matchParam(filters []paramFilter, p *parameter) bool {
	for _, f := range filters {
		if !f.match(p) {
			return false
		}
	}
	return true
}

func (s *Server) metadata(p *parameter) parameterMetadata {
	v := p.versions[len(p.versions)-1]
	m := parameterMetadata{
		Name:             p.name,
		ARN:              s.paramARN(p.name),
		Type:             p.typ,
		LastModifiedDate: epochSeconds(v.modified),
		LastModifiedUser: "arn:aws:iam::" + s.Account + ":user/awstest",
		Version:          int64(len(p.versions)),
		Tier:             "Standard",
		Policies:         []any{},
		DataType:         "text",
	}
	if p.typ == "SecureString" {
		m.KeyID = "alias/aws/ssm"
	}
	return m
}
