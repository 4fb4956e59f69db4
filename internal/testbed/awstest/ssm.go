package awstest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// maxGetParameters is the most names GetParameters takes. Exceeding it is
// a ValidationException, worded as in remind101/ssm-env#10: "1 validation
// error detected: Value '[...]' at 'names' failed to satisfy constraint:
// Member must have length less than or equal to 10".
const maxGetParameters = 10

// secretsManagerRefPrefix is the reserved path under which Parameter Store
// returns Secrets Manager secrets (Systems Manager user guide,
// "Referencing AWS Secrets Manager secrets from Parameter Store
// parameters"). Only GetParameter and GetParameters support it, and only
// with WithDecryption.
const secretsManagerRefPrefix = "/aws/reference/secretsmanager/"

// msgRefNeedsDecryption is AWS's ValidationException text for a reference
// read without WithDecryption (quoted in sous-chefs/aws#419).
const msgRefNeedsDecryption = "WithDecryption flag must be True for retrieving a Secret Manager secret."

// SSM's modelled errors carry their text in "message" (InternalServerError
// excepted; see injectedFault).
func ssmError(code, msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, msg: msg, msgKey: "message"}
}

// ssmParameter is a parameter in GetParameter's and GetParameters'
// answers.
type ssmParameter struct {
	Name             string  `json:"Name"`
	Type             string  `json:"Type"`
	Value            string  `json:"Value"`
	Version          int64   `json:"Version"`
	Selector         string  `json:"Selector,omitempty"`
	SourceResult     string  `json:"SourceResult,omitempty"`
	LastModifiedDate float64 `json:"LastModifiedDate"`
	ARN              string  `json:"ARN"`
	DataType         string  `json:"DataType"`
}

type getParameterInput struct {
	Name           *string `json:"Name"`
	WithDecryption bool    `json:"WithDecryption"`
}

type getParametersInput struct {
	Names          []string `json:"Names"`
	WithDecryption bool     `json:"WithDecryption"`
}

type getParameterOutput struct {
	Parameter ssmParameter `json:"Parameter"`
}

type getParametersOutput struct {
	Parameters        []ssmParameter `json:"Parameters"`
	InvalidParameters []string       `json:"InvalidParameters"`
}

func getParameterIDs(body []byte) []string {
	var in getParameterInput
	if json.Unmarshal(body, &in) != nil || in.Name == nil {
		return nil
	}
	return []string{*in.Name}
}

func getParametersIDs(body []byte) []string {
	var in getParametersInput
	if json.Unmarshal(body, &in) != nil {
		return nil
	}
	return in.Names
}

// validParamName reports whether name uses only the characters Parameter
// Store allows in a name: letters, digits and "_.-/" (and, for the
// Secrets Manager reference path, the secret name characters "+=@").
func validParamName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("_.-/+=@", r):
		default:
			return false
		}
	}
	return true
}

// paramARN is the ARN of the parameter name.
func (s *Server) paramARN(name string) string {
	return fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/%s", s.Region, s.Account, strings.TrimPrefix(name, "/"))
}

// lookup is the outcome of reading one parameter name.
type lookup struct {
	param    ssmParameter
	notFound *apiError // the parameter, version or secret does not exist
}

// readParameter reads one requested name for action. A nil *apiError with
// notFound set means the name is missing (GetParameters lists it in
// InvalidParameters, GetParameter fails with notFound); a non-nil
// *apiError fails the whole call. Callers hold s.mu.
func (s *Server) readParameter(requested string, withDecryption bool, action string) (lookup, *apiError) {
	// "The service removes any spaces specified for the beginning or end
	// of a parameter name. If the specified name for a parameter contains
	// spaces between characters, the request fails with a
	// ValidationException error." (GetParameters API reference)
	name := strings.TrimSpace(requested)
	if strings.HasPrefix(name, secretsManagerRefPrefix) {
		return s.readSecretReference(name, withDecryption, action)
	}
	base, sel, hasSel := strings.Cut(name, ":")
	if !validParamName(base) || strings.Contains(sel, ":") {
		return lookup{}, errValidation("Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive) and must use only a-zA-Z0-9_.-/ characters; selectors are :version or :label.")
	}
	if s.deniedIDs[base] || s.deniedIDs[name] {
		return lookup{}, errAccessDenied(notAuthorized(action, s.paramARN(base)))
	}
	p, ok := s.params[base]
	if !ok {
		return lookup{notFound: ssmError("ParameterNotFound", "")}, nil
	}
	version := int64(len(p.versions))
	if hasSel {
		if n, err := strconv.ParseInt(sel, 10, 64); err == nil {
			version = n
		} else if v, ok := p.labels[sel]; ok {
			version = v
		} else {
			version = 0
		}
		if version < 1 || version > int64(len(p.versions)) {
			return lookup{notFound: ssmError("ParameterVersionNotFound", "Systems Manager could not find version "+sel+" of "+base+". Verify the version and try again.")}, nil
		}
	}
	v := p.versions[version-1]
	value := v.value
	if p.typ == "SecureString" {
		if !withDecryption {
			value = ciphertext(v.value, version)
		} else if s.failDecrypt[base] || s.failDecrypt[name] {
			return lookup{}, ssmError("InvalidKeyId", "The query key ID isn't valid.")
		}
	}
	out := ssmParameter{
		// AWS echoes the bare name and puts the selector apart, which is
		// how aws/secrets-store-csi-driver-provider-aws maps GetParameters
		// results back to "name:version" requests.
		Name:             base,
		Type:             p.typ,
		Value:            value,
		Version:          version,
		LastModifiedDate: epochSeconds(v.modified),
		ARN:              s.paramARN(base),
		DataType:         "text",
	}
	if hasSel {
		out.Selector = ":" + sel
	}
	return lookup{param: out}, nil
}

// readSecretReference reads /aws/reference/secretsmanager/<secret id>.
func (s *Server) readSecretReference(name string, withDecryption bool, action string) (lookup, *apiError) {
	if !withDecryption {
		return lookup{}, errValidation(msgRefNeedsDecryption)
	}
	if s.deniedIDs[name] {
		return lookup{}, errAccessDenied(notAuthorized(action, s.paramARN(name)))
	}
	sec, e := s.readSecret(strings.TrimPrefix(name, secretsManagerRefPrefix))
	if e != nil {
		switch e.code {
		case "AccessDeniedException":
			// "Parameter Store honors IAM policies attached to Secrets
			// Manager secrets."
			return lookup{}, e
		case "DecryptionFailure":
			return lookup{}, ssmError("InvalidKeyId", "The query key ID isn't valid.")
		}
		return lookup{notFound: ssmError("ParameterNotFound", "Secrets Manager can't find the specified secret.")}, nil
	}
	value := ""
	if sec.str != nil {
		value = *sec.str
	} else {
		// Not verified against AWS: a binary secret's value is given as
		// its base64 text.
		value = base64.StdEncoding.EncodeToString(sec.binary)
	}
	src, _ := json.Marshal(map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": sec.versionID, "VersionStages": []string{"AWSCURRENT"}, "CreatedDate": epochSeconds(sec.created)})
	return lookup{param: ssmParameter{
		Name:             name,
		Type:             "SecureString",
		Value:            value,
		SourceResult:     string(src),
		LastModifiedDate: epochSeconds(sec.created),
		ARN:              sec.arn,
		DataType:         "text",
	}}, nil
}

// ciphertext stands for a SecureString read without WithDecryption: AWS
// returns the KMS ciphertext, base64. It is derived from value by a hash,
// so it never contains it.
func ciphertext(value string, version int64) string {
	sum := sha256.Sum256([]byte(strconv.FormatInt(version, 10) + "\x00" + value))
	return "AQICAHh" + base64.StdEncoding.EncodeToString(sum[:])
}

func (s *Server) getParameter(body []byte) (any, *apiError) {
	var in getParameterInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, errSerialization()
	}
	if in.Name == nil {
		return nil, errValidation("1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, e := s.readParameter(*in.Name, in.WithDecryption, ActionGetParameter)
	if e != nil {
		return nil, e
	}
	if l.notFound != nil {
		return nil, l.notFound
	}
	return getParameterOutput{Parameter: l.param}, nil
}

func (s *Server) getParameters(body []byte) (any, *apiError) {
	var in getParametersInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, errSerialization()
	}
	switch {
	case len(in.Names) == 0:
		return nil, errValidation("1 validation error detected: Value '[]' at 'names' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case len(in.Names) > maxGetParameters:
		return nil, errValidation(fmt.Sprintf("1 validation error detected: Value '[%s]' at 'names' failed to satisfy constraint: Member must have length less than or equal to %d",
			strings.Join(in.Names, ", "), maxGetParameters))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := getParametersOutput{Parameters: []ssmParameter{}, InvalidParameters: []string{}}
	for _, name := range in.Names {
		l, e := s.readParameter(name, in.WithDecryption, ActionGetParameters)
		if e != nil {
			return nil, e
		}
		if l.notFound != nil {
			out.InvalidParameters = append(out.InvalidParameters, name)
			continue
		}
		out.Parameters = append(out.Parameters, l.param)
	}
	return out, nil
}
