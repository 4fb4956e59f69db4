package gcpsm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"omsecrets/resolver"
)

// Limits of GCP names (Secret Manager API reference: CreateSecretRequest
// secret_id, Secret.version_aliases; Resource Manager: project ids).
const (
	maxSecretID = 255
	maxAlias    = 255
	// maxQuotedID is the longest id an error message quotes whole.
	maxQuotedID = 300
)

// latest is the version alias of the most recently created version.
const latest = "latest"

// secretName is a SecretVersion resource name:
// projects/<project>/secrets/<secret>/versions/<version>.
type secretName struct {
	project, secret, version string
}

func (n secretName) String() string {
	return "projects/" + n.project + "/secrets/" + n.secret + "/versions/" + n.version
}

// parseID turns a reference id into the version to read. A plain id is
// a secret of project, version latest (as OpenMetadata reads it); a
// resource name projects/<p>/secrets/<s>[/versions/<v>] is used as
// written (another project, a pinned version or an alias). Any id GCP
// cannot hold is an error wrapping resolver.ErrBadRef, decided without a
// call.
func parseID(id, project string) (secretName, error) {
	if id == "" {
		return secretName{}, fmt.Errorf("%w: empty secret id", resolver.ErrBadRef)
	}
	if strings.HasPrefix(id, "projects/") {
		return parseResourceName(id)
	}
	if err := checkSecretID(id); err != nil {
		return secretName{}, err
	}
	return secretName{project: project, secret: id, version: latest}, nil
}

// parseResourceName parses projects/<p>/secrets/<s>[/versions/<v>].
func parseResourceName(id string) (secretName, error) {
	parts := strings.Split(id, "/")
	if len(parts) >= 3 && parts[2] == "locations" {
		return secretName{}, fmt.Errorf("%w: regional secrets (projects/*/locations/*) are not supported; use a global secret", resolver.ErrBadRef)
	}
	if (len(parts) != 4 && len(parts) != 6) || parts[2] != "secrets" || (len(parts) == 6 && parts[4] != "versions") {
		return secretName{}, fmt.Errorf("%w: not a secret resource name: want projects/<project>/secrets/<secret>[/versions/<version>]", resolver.ErrBadRef)
	}
	if err := checkProject(parts[1]); err != nil {
		return secretName{}, fmt.Errorf("%w: %v", resolver.ErrBadRef, err)
	}
	if err := checkSecretID(parts[3]); err != nil {
		return secretName{}, err
	}
	n := secretName{project: parts[1], secret: parts[3], version: latest}
	if len(parts) == 6 {
		if err := checkVersion(parts[5]); err != nil {
			return secretName{}, err
		}
		n.version = parts[5]
	}
	return n, nil
}

// checkSecretID checks a secret id: 1 to 255 of [A-Za-z0-9_-].
func checkSecretID(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty secret id in the resource name", resolver.ErrBadRef)
	}
	if len(s) > maxSecretID {
		return fmt.Errorf("%w: secret id longer than %d characters, the most GCP allows", resolver.ErrBadRef, maxSecretID)
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !idChar(r) {
			if r == '/' {
				return fmt.Errorf("%w: GCP secret ids hold only letters, digits, - and _, not /: OpenMetadata's gcp ids are _-separated (a /-separated id is the AWS form)", resolver.ErrBadRef)
			}
			if r == utf8.RuneError && size <= 1 {
				return fmt.Errorf("%w: secret id is not valid UTF-8; GCP secret ids hold only letters, digits, - and _", resolver.ErrBadRef)
			}
			return fmt.Errorf("%w: GCP secret ids hold only letters, digits, - and _, not %q", resolver.ErrBadRef, r)
		}
		i += size
	}
	return nil
}

func idChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

// checkVersion checks a version: "latest", a version number, or an
// alias (a letter, then letters, digits, - and _; not "NEW").
func checkVersion(v string) error {
	switch {
	case v == latest:
		return nil
	case v == "":
		return fmt.Errorf("%w: empty version in the resource name", resolver.ErrBadRef)
	case v[0] >= '0' && v[0] <= '9':
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 1 || v[0] == '0' {
			return fmt.Errorf("%w: version is not a version number (1, 2, ...), latest or an alias", resolver.ErrBadRef)
		}
		return nil
	case v == "NEW":
		return fmt.Errorf("%w: NEW is not a version GCP can read", resolver.ErrBadRef)
	}
	if len(v) > maxAlias || !isLetter(v[0]) || strings.IndexFunc(v, func(r rune) bool { return !idChar(r) }) >= 0 {
		return fmt.Errorf("%w: version is not a version number (1, 2, ...), latest or an alias", resolver.ErrBadRef)
	}
	return nil
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

// checkProject checks a project id (6 to 30 of lowercase letters, digits
// and hyphens, starting with a letter and not ending with a hyphen,
// optionally after a "domain:" prefix for legacy domain-scoped projects)
// or a project number. Its messages do not quote the value.
func checkProject(p string) error {
	if p != "" && len(p) <= 19 && strings.Trim(p, "0123456789") == "" && p[0] != '0' {
		return nil // a project number
	}
	id := p
	if i := strings.LastIndexByte(p, ':'); i >= 0 {
		domain := p[:i]
		id = p[i+1:]
		if domain == "" || len(domain) > 253 || strings.Trim(domain, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
			return errProject
		}
	}
	if len(id) < 6 || len(id) > 30 || id[0] < 'a' || id[0] > 'z' || id[len(id)-1] == '-' ||
		strings.Trim(id, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return errProject
	}
	return nil
}

var errProject = errors.New("not a GCP project id (6 to 30 lowercase letters, digits and hyphens, starting with a letter) or project number")

// quoteID quotes id for an error message, shortened when it is longer
// than any id GCP could hold.
func quoteID(id string) string {
	if len(id) <= maxQuotedID {
		return strconv.Quote(id)
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(id[:64]), len(id))
}
