package render

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"omsecrets/resolver"
)

// MaxDepth bounds how deeply a document may nest. Workflow configs nest
// about ten levels; the bound keeps hostile input from exhausting the stack.
const MaxDepth = 64

// ErrTooDeep marks a document nested deeper than MaxDepth.
var ErrTooDeep = errors.New("document nested too deeply")

// ErrDuplicateKey marks a mapping with the same key twice.
var ErrDuplicateKey = errors.New("duplicate key")

// Document is a decoded workflow document. It is not safe for concurrent
// use; Apply changes it in place.
type Document struct {
	root   *yaml.Node // a DocumentNode with one child
	format Format
}

// Format returns the format the document was parsed from.
func (d *Document) Format() Format { return d.format }

// Occurrence is one place in a document that holds a reference.
type Occurrence struct {
	Path string // e.g. source.serviceConnection.config.authType.password
	Ref  resolver.Ref
	node *yaml.Node
}

// FieldError is a problem at one place in a document.
type FieldError struct {
	Path string
	Err  error
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Err.Error()
	}
	return e.Path + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

// Refs walks the whole document and returns every reference in document
// order. Every string value that starts with "secret:" is a reference,
// under any key and at any depth; keys are never references. It also
// reports, as *FieldError values joined together, malformed references,
// values equal to OpenMetadata's mask (which mean the document was fetched
// with a token that is not a bot's), duplicate keys, and nesting beyond
// MaxDepth.
func (d *Document) Refs() ([]Occurrence, error) {
	w := walker{visited: make(map[*yaml.Node]bool)}
	w.walk(d.root.Content[0], nil, 0)
	return w.occ, errors.Join(w.errs...)
}

type walker struct {
	occ     []Occurrence
	errs    []error
	visited map[*yaml.Node]bool // anchors are walked once, not per alias
}

func (w *walker) fail(path []string, err error) {
	w.errs = append(w.errs, &FieldError{Path: joinPath(path), Err: err})
}

func (w *walker) walk(n *yaml.Node, path []string, depth int) {
	if depth > MaxDepth {
		w.fail(path, fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth))
		return
	}
	switch n.Kind {
	case yaml.AliasNode:
		// The anchored node is walked where it is defined.
		return
	case yaml.MappingNode:
		if n.Anchor != "" {
			if w.visited[n] {
				return
			}
			w.visited[n] = true
		}
		seen := make(map[string]bool, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			child := append(path[:len(path):len(path)], key)
			if k.Kind == yaml.ScalarNode && seen[key] {
				w.fail(child, ErrDuplicateKey)
				continue
			}
			seen[key] = true
			w.walk(v, child, depth+1)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			w.walk(v, append(path[:len(path):len(path)], "["+strconv.Itoa(i)+"]"), depth+1)
		}
	case yaml.ScalarNode:
		if !isString(n) {
			if resolver.IsRef(n.Value) || n.Value == resolver.Mask {
				// "!custom secret:x" would otherwise be written out
				// unresolved: fail closed.
				w.fail(path, fmt.Errorf("%w: a secret: reference (or the mask) tagged %s; write it as a plain string", ErrNotJSON, n.ShortTag()))
			}
			return
		}
		switch {
		case resolver.IsRef(n.Value):
			ref, err := resolver.ParseRef(n.Value)
			if err != nil {
				w.fail(path, err)
				return
			}
			w.occ = append(w.occ, Occurrence{Path: joinPath(path), Ref: ref, node: n})
		case n.Value == resolver.Mask:
			w.fail(path, resolver.ErrMasked)
		}
	}
}

// isString reports whether a scalar is a string (plain YAML strings,
// quoted scalars and JSON strings all carry the !!str tag).
func isString(n *yaml.Node) bool { return n.ShortTag() == "!!str" }

var plainKey = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$-]*$`)

// joinPath renders a path as dotted keys with [i] for array indices and
// ["k"] for keys that are not plain identifiers.
func joinPath(path []string) string {
	var b strings.Builder
	for _, p := range path {
		switch {
		case strings.HasPrefix(p, "[") && strings.HasSuffix(p, "]") && isIndex(p[1:len(p)-1]):
			b.WriteString(p)
		case plainKey.MatchString(p):
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		default:
			b.WriteString("[" + strconv.Quote(p) + "]")
		}
	}
	return b.String()
}

func isIndex(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// Apply replaces every occurrence whose reference is in values with its
// value; it returns an error naming the first occurrence that has none, and
// then changes nothing. Occurrences must come from this document's Refs.
func (d *Document) Apply(occ []Occurrence, values map[resolver.Ref]resolver.Secret) error {
	for _, o := range occ {
		if _, ok := values[o.Ref]; !ok {
			return &FieldError{Path: o.Path, Err: fmt.Errorf("%s: no value", o.Ref)}
		}
	}
	for _, o := range occ {
		setSecret(o.node, values[o.Ref])
	}
	return nil
}

// setSecret turns a reference node into its value. Strings are always
// double-quoted in YAML output: PyYAML, which `metadata ingest` uses, reads
// YAML 1.1, where a plain yes, on, 0777 or 1:20 is not a string.
func setSecret(n *yaml.Node, s resolver.Secret) {
	if s.IsNull() {
		n.Tag, n.Value, n.Style = "!!null", "null", 0
		return
	}
	n.Tag, n.Value, n.Style = "!!str", s.Value(), yaml.DoubleQuotedStyle
}

// Lookup returns the string at a path of mapping keys, if there is one.
func (d *Document) Lookup(keys ...string) (string, bool) {
	n := d.find(keys)
	if n == nil || n.Kind != yaml.ScalarNode || !isString(n) {
		return "", false
	}
	return n.Value, true
}

// IsMapping reports whether the path of mapping keys holds a mapping.
func (d *Document) IsMapping(keys ...string) bool {
	n := d.find(keys)
	return n != nil && n.Kind == yaml.MappingNode
}

// SetString sets key to a string value in the mapping at path, adding the
// key at the end if it is absent. It reports false, changing nothing, when
// path does not lead to a mapping.
func (d *Document) SetString(path []string, key, value string) bool {
	m := d.find(path)
	if m == nil || m.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			v.Kind, v.Tag, v.Value, v.Content, v.Alias = yaml.ScalarNode, "!!str", value, nil, nil
			return true
		}
	}
	m.Content = append(m.Content, strNode(key), strNode(value))
	return true
}

func (d *Document) find(keys []string) *yaml.Node {
	n := d.root.Content[0]
	for _, k := range keys {
		n = deref(n)
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
				break
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return deref(n)
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// SetJSON parses raw as one JSON value with the package's own parser and
// sets key to it in the mapping at path: an existing key keeps its place
// and gets the new value, an absent key is added at the end. It returns an
// error, changing nothing, when raw is not valid JSON (the error gives a
// position, never the content) or path does not lead to a mapping.
func (d *Document) SetJSON(path []string, key string, raw []byte) error {
	root, err := parseJSON(raw)
	if err != nil {
		return err
	}
	m := d.find(path)
	if m == nil || m.Kind != yaml.MappingNode {
		return &FieldError{Path: joinPath(path), Err: errors.New("not an object")}
	}
	v := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return nil
		}
	}
	m.Content = append(m.Content, strNode(key), v)
	return nil
}
