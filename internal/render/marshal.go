package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds how many nodes JSON output may expand aliases into, so a
// YAML "billion laughs" document cannot exhaust memory.
const maxNodes = 1 << 17

// ErrNotJSON marks YAML content that has no JSON form (merge keys,
// infinities, NaN).
var ErrNotJSON = errors.New("not representable in JSON")

// Marshal encodes the document in format f: JSON indented by two spaces,
// or YAML with two-space indentation and comments kept. Both end in a
// newline.
func (d *Document) Marshal(f Format) ([]byte, error) {
	if f == YAML {
		var b bytes.Buffer
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(d.root); err != nil {
			return nil, fmt.Errorf("encode yaml: %w", err)
		}
		if err := enc.Close(); err != nil {
			return nil, fmt.Errorf("encode yaml: %w", err)
		}
		return b.Bytes(), nil
	}
	e := jsonEncoder{}
	if err := e.encode(d.root.Content[0], nil, 0); err != nil {
		return nil, err
	}
	e.buf.WriteByte('\n')
	return e.buf.Bytes(), nil
}

type jsonEncoder struct {
	buf   bytes.Buffer
	nodes int
}

func (e *jsonEncoder) indent(level int) {
	e.buf.WriteByte('\n')
	for range level {
		e.buf.WriteString("  ")
	}
}

func (e *jsonEncoder) encode(n *yaml.Node, path []string, level int) error {
	e.nodes++
	if e.nodes > maxNodes {
		return &FieldError{Path: joinPath(path), Err: fmt.Errorf("%w: more than %d nodes after expanding aliases", ErrNotJSON, maxNodes)}
	}
	if level > MaxDepth*2 {
		return &FieldError{Path: joinPath(path), Err: ErrTooDeep}
	}
	n = deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		if len(n.Content) == 0 {
			e.buf.WriteString("{}")
			return nil
		}
		e.buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := append(path[:len(path):len(path)], k.Value)
			if k.ShortTag() == "!!merge" {
				return &FieldError{Path: joinPath(child), Err: fmt.Errorf("%w: YAML merge key (<<); use --format yaml", ErrNotJSON)}
			}
			if i > 0 {
				e.buf.WriteByte(',')
			}
			e.indent(level + 1)
			e.str(k.Value)
			e.buf.WriteString(": ")
			if err := e.encode(v, child, level+1); err != nil {
				return err
			}
		}
		e.indent(level)
		e.buf.WriteByte('}')
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			e.buf.WriteString("[]")
			return nil
		}
		e.buf.WriteByte('[')
		for i, v := range n.Content {
			if i > 0 {
				e.buf.WriteByte(',')
			}
			e.indent(level + 1)
			if err := e.encode(v, append(path[:len(path):len(path)], "["+strconv.Itoa(i)+"]"), level+1); err != nil {
				return err
			}
		}
		e.indent(level)
		e.buf.WriteByte(']')
	case yaml.ScalarNode:
		return e.scalar(n, path)
	default:
		return &FieldError{Path: joinPath(path), Err: fmt.Errorf("%w: unexpected node", ErrNotJSON)}
	}
	return nil
}

var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

func (e *jsonEncoder) scalar(n *yaml.Node, path []string) error {
	switch n.ShortTag() {
	case "!!null":
		e.buf.WriteString("null")
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			e.str(n.Value)
			return nil
		}
		e.buf.WriteString(strconv.FormatBool(b))
	case "!!int", "!!float":
		if jsonNumber.MatchString(n.Value) {
			e.buf.WriteString(n.Value)
			return nil
		}
		// YAML spellings such as 0x1F, 0o17, 1_000 or +1.5.
		var v any
		if err := n.Decode(&v); err != nil {
			return &FieldError{Path: joinPath(path), Err: fmt.Errorf("%w: number", ErrNotJSON)}
		}
		b, err := json.Marshal(v)
		if err != nil {
			return &FieldError{Path: joinPath(path), Err: fmt.Errorf("%w: infinity or NaN", ErrNotJSON)}
		}
		e.buf.Write(b)
	default:
		// Strings, and tags JSON has no type for (timestamps, binary,
		// custom tags), keep their text.
		e.str(n.Value)
	}
	return nil
}

// str writes s as a JSON string without HTML escaping.
func (e *jsonEncoder) str(s string) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	e.buf.Write(bytes.TrimSuffix(b.Bytes(), []byte{'\n'}))
}
