package awstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxBatchSecrets is the most ids BatchGetSecretValue takes (API reference:
// SecretIdList, "Maximum number of 20 items").
const maxBatchSecrets = 20

// maxSecretID is the longest secret id (API reference: SecretId, "Maximum
// length of 2048").
const maxSecretID = 2048

// Secrets Manager's modelled errors carry their text in "Message".
func smError(code, msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, msg: msg, msgKey: "Message"}
}

// Messages of Secrets Manager's errors, as the service words them.
const (
	msgSecretNotFound = "Secrets Manager can't find the specified secret."
	msgMarkedDeletion = "You can't perform this operation on the secret because it was marked for deletion."
	msgDecryption     = "Secrets Manager can't decrypt the protected secret text using the provided KMS key."
)

// secretValue is a secret in GetSecretValue's answer and in
// BatchGetSecretValue's SecretValues. SecretBinary is a blob: encoding/json
// writes []byte as standard base64, which is how AWS JSON sends blobs, and
// timestamps are epoch seconds.
type secretValue struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionID     string   `json:"VersionId"`
	SecretString  *string  `json:"SecretString,omitempty"`
	SecretBinary  []byte   `json:"SecretBinary,omitempty"`
	VersionStages []string `json:"VersionStages"`
	CreatedDate   float64  `json:"CreatedDate"`
}

type getSecretValueInput struct {
	SecretID     *string `json:"SecretId"`
	VersionID    string  `json:"VersionId"`
	VersionStage string  `json:"VersionStage"`
}

type batchGetSecretValueInput struct {
	SecretIDList []string          `json:"SecretIdList"`
	Filters      []json.RawMessage `json:"Filters"`
	MaxResults   *int              `json:"MaxResults"`
	NextToken    string            `json:"NextToken"`
}

type apiErrorEntry struct {
	SecretID  string `json:"SecretId"`
	ErrorCode string `json:"ErrorCode"`
	Message   string `json:"Message"`
}

type batchGetSecretValueOutput struct {
	SecretValues []secretValue   `json:"SecretValues"`
	Errors       []apiErrorEntry `json:"Errors"`
	NextToken    string          `json:"NextToken,omitempty"`
}

func getSecretValueIDs(body []byte) []string {
	var in getSecretValueInput
	if json.Unmarshal(body, &in) != nil || in.SecretID == nil {
		return nil
	}
	return []string{*in.SecretID}
}

func batchGetSecretValueIDs(body []byte) []string {
	var in batchGetSecretValueInput
	if json.Unmarshal(body, &in) != nil {
		return nil
	}
	return in.SecretIDList
}

// findSecret returns the secret id names: its name, its full ARN or its
// partial ARN (the ARN without the "-" and six random characters that
// Secrets Manager appends). Callers hold s.mu.
func (s *Server) findSecret(id string) *secret {
	if sec, ok := s.secrets[id]; ok {
		return sec
	}
	if !strings.HasPrefix(id, "arn:") {
		return nil
	}
	for _, sec := range s.secrets {
		if sec.arn == id || sec.arn[:len(sec.arn)-len("-xxxxxx")] == id {
			return sec
		}
	}
	return nil
}

// readSecret applies the access rules to one secret id and returns the
// secret or the error reading it gets. Callers hold s.mu.
func (s *Server) readSecret(id string) (*secret, *apiError) {
	sec := s.findSecret(id)
	resource := id
	if sec != nil {
		resource = sec.arn
	}
	if s.deniedIDs[id] || sec != nil && (s.deniedIDs[sec.name] || s.deniedIDs[sec.arn]) {
		return nil, errAccessDenied(notAuthorized(ActionGetSecretValue, resource))
	}
	switch {
	case sec == nil:
		return nil, smError("ResourceNotFoundException", msgSecretNotFound)
	case sec.deleting:
		return nil, smError("InvalidRequestException", msgMarkedDeletion)
	case s.failDecrypt[id] || s.failDecrypt[sec.name] || s.failDecrypt[sec.arn]:
		return nil, smError("DecryptionFailure", msgDecryption)
	}
	return sec, nil
}

func (sec *secret) value() secretValue {
	return secretValue{
		ARN:           sec.arn,
		Name:          sec.name,
		VersionID:     sec.versionID,
		SecretString:  sec.str,
		SecretBinary:  sec.binary,
		VersionStages: []string{"AWSCURRENT"},
		CreatedDate:   epochSeconds(sec.created),
	}
}

func epochSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func (s *Server) getSecretValue(body []byte) (any, *apiError) {
	var in getSecretValueInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, errSerialization()
	}
	switch {
	case in.SecretID == nil:
		return nil, errValidation("1 validation error detected: Value null at 'secretId' failed to satisfy constraint: Member must not be null")
	case *in.SecretID == "" || len(*in.SecretID) > maxSecretID:
		return nil, errValidation(fmt.Sprintf("1 validation error detected: Value at 'secretId' failed to satisfy constraint: Member must have length between 1 and %d", maxSecretID))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, e := s.readSecret(*in.SecretID)
	if e != nil {
		return nil, e
	}
	// Only the current version is kept.
	if in.VersionStage != "" && in.VersionStage != "AWSCURRENT" || in.VersionID != "" && in.VersionID != sec.versionID {
		return nil, smError("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for the requested version or staging label.")
	}
	return sec.value(), nil
}

// pageToken is the NextToken of the page that starts at offset.
func pageToken(offset int) string { return "awstest-page-" + strconv.Itoa(offset) }

func (s *Server) batchGetSecretValue(body []byte) (any, *apiError) {
	var in batchGetSecretValueInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, errSerialization()
	}
	switch {
	case len(in.Filters) > 0 && len(in.SecretIDList) > 0:
		return nil, smError("InvalidParameterException", "You can't specify both SecretIdList and Filters.")
	case len(in.Filters) > 0:
		return nil, smError("InvalidParameterException", "awstest does not model Filters.")
	case len(in.SecretIDList) == 0:
		return nil, smError("InvalidParameterException", "You must specify either SecretIdList or Filters.")
	case len(in.SecretIDList) > maxBatchSecrets:
		return nil, errValidation(fmt.Sprintf("1 validation error detected: Value '[%s]' at 'secretIdList' failed to satisfy constraint: Member must have length less than or equal to %d",
			strings.Join(in.SecretIDList, ", "), maxBatchSecrets))
	case in.MaxResults != nil:
		return nil, smError("InvalidParameterException", "MaxResults can only be used with Filters.")
	}
	for _, id := range in.SecretIDList {
		if id == "" || len(id) > maxSecretID {
			return nil, errValidation(fmt.Sprintf("1 validation error detected: Value at 'secretIdList' failed to satisfy constraint: Member must satisfy constraint: [Member must have length between 1 and %d]", maxSecretID))
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	ids, offset := in.SecretIDList, 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(in.NextToken, "awstest-page-"))
		if !strings.HasPrefix(in.NextToken, "awstest-page-") || err != nil || n <= 0 || n >= len(ids) {
			return nil, smError("InvalidNextTokenException", "The NextToken value is invalid.")
		}
		offset = n
	}
	end := len(ids)
	if s.pageSize > 0 {
		end = min(end, offset+s.pageSize)
	}
	out := batchGetSecretValueOutput{SecretValues: []secretValue{}, Errors: []apiErrorEntry{}}
	for _, id := range ids[offset:end] {
		sec, e := s.readSecret(id)
		if e != nil {
			out.Errors = append(out.Errors, apiErrorEntry{SecretID: id, ErrorCode: e.code, Message: e.msg})
			continue
		}
		out.SecretValues = append(out.SecretValues, sec.value())
	}
	if end < len(ids) {
		out.NextToken = pageToken(end)
	}
	return out, nil
}
