package k8s

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"omsecrets/resolver"
)

// MaxNameLen is the longest Secret name: a DNS subdomain (RFC 1123).
const MaxNameLen = 253

// MaxIDLen bounds the ids the store maps. The longest id OpenMetadata
// builds joins a cluster name, a service or bot name and a field path; a
// few hundred bytes.
const MaxIDLen = 4096

// Mapping of the ids of OpenMetadata servers before PR #25988: the
// server truncated a mapped name longer than MaxNameLen to legacyKeep
// characters and appended "-" and a hash of the id.
const legacyKeep = 240

// SecretName returns the name of the Secret that id refers to, or an error
// wrapping resolver.ErrBadRef that says in one line why id cannot name a
// Secret.
//
// An id that is a valid Secret name (a lowercase RFC 1123 subdomain of at
// most 253 characters) is the name: the form OpenMetadata's server stores
// since PR #25988 ("openmetadata-database-mysql-prod-authtype-password").
// An id with a '/' is the form of the servers before it
// ("/openmetadata/database/mysql_prod/authtype/password"), which stored
// the value under the name LegacyName maps it to. Anything else is
// resolver.ErrBadRef.
func SecretName(id string) (string, error) {
	switch {
	case id == "":
		return "", fmt.Errorf("%w: empty secret id", resolver.ErrBadRef)
	case len(id) > MaxIDLen:
		return "", fmt.Errorf("%w: secret id longer than %d bytes", resolver.ErrBadRef, MaxIDLen)
	case !utf8.ValidString(id):
		return "", fmt.Errorf("%w: secret id is not valid UTF-8", resolver.ErrBadRef)
	}
	if nameProblem(id) == "" {
		return id, nil
	}
	if strings.Contains(id, "/") {
		name := LegacyName(id)
		if p := nameProblem(name); p != "" {
			return "", fmt.Errorf("%w: the OpenMetadata id maps to Secret name %q, which is not valid: %s", resolver.ErrBadRef, name, p)
		}
		return name, nil
	}
	return "", fmt.Errorf("%w: not a Kubernetes Secret name: %s", resolver.ErrBadRef, nameProblem(id))
}

// LegacyName maps an id the way OpenMetadata's server did before PR
// #25988, when it stored "/"-style ids in its database and derived the
// Secret name when it wrote and read the Secret
// (KubernetesSecretsManager.sanitizeSecretName):
//
//  1. leading '/' removed;
//  2. each character other than A-Z, a-z, 0-9 and '-' replaced by '-';
//  3. lower-cased;
//  4. runs of '-' collapsed to one;
//  5. leading and trailing '-' removed;
//  6. a result longer than 253 characters cut to its first 240, followed
//     by '-' and Java's String.hashCode of the whole id in lower-case hex
//     (Integer.toHexString);
//  7. "om-" put in front of a result that does not start with a letter or
//     digit (only the empty result).
//
// OpenMetadata's first Python client derived the name the same way but
// hashed long names with the first 8 hex digits of MD5: it could not read
// the Secrets of long ids the server wrote. LegacyName follows the server,
// which wrote the Secrets.
func LegacyName(id string) string {
	s := strings.TrimLeft(id, "/")
	var b strings.Builder
	b.Grow(len(s))
	dash := false // the last byte written is '-'
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + ('a' - 'A'))
			dash = false
		default: // '-' and every other character
			if !dash {
				b.WriteByte('-')
				dash = true
			}
		}
	}
	name := strings.Trim(b.String(), "-")
	if len(name) > MaxNameLen {
		name = fmt.Sprintf("%s-%x", name[:legacyKeep], uint32(javaHashCode(id)))
	}
	if name == "" || !isAlnum(name[0]) {
		name = "om-" + name
	}
	return name
}

// javaHashCode is Java's String.hashCode: s[0]*31^(n-1) + ... + s[n-1]
// over the UTF-16 code units of s, in 32-bit arithmetic.
func javaHashCode(s string) int32 {
	var h int32
	for _, r := range s {
		if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			h = 31*h + r1
			h = 31*h + r2
			continue
		}
		h = 31*h + r
	}
	return h
}

// nameProblem says why name is not a valid Secret name (a lowercase RFC
// 1123 subdomain of at most MaxNameLen characters), or returns "".
func nameProblem(name string) string {
	if name == "" {
		return "empty name"
	}
	if len(name) > MaxNameLen {
		return fmt.Sprintf("longer than %d characters", MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case isAlnum(c):
		case c == '-' || c == '.':
			if i == 0 || i == len(name)-1 {
				return "must start and end with a lowercase letter or digit"
			}
			if c == '.' && (name[i-1] == '.' || name[i-1] == '-' || name[i+1] == '-') {
				return "each dot-separated part must start and end with a lowercase letter or digit"
			}
		case c >= 'A' && c <= 'Z':
			return "upper-case letters are not allowed (Secret names are lowercase)"
		default:
			r, _ := utf8.DecodeRuneInString(name[i:])
			return fmt.Sprintf("character %q is not allowed (only lowercase letters, digits, '-' and '.')", r)
		}
	}
	return ""
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
