package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"omsecrets/internal/jsoncheck"
)

// Format is an input or output encoding.
type Format string

// Formats.
const (
	JSON Format = "json"
	YAML Format = "yaml"
)

// ParseFormat parses "json" or "yaml" (and "yml").
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "json":
		return JSON, nil
	case "yaml", "yml":
		return YAML, nil
	}
	return "", fmt.Errorf("unknown format %q (want json or yaml)", s)
}

// FormatOf returns the format a file name implies: YAML for .yaml and .yml,
// JSON for .json, and "" for anything else.
func FormatOf(name string) Format {
	lower := strings.ToLower(name)
	switch {
	case strings.HasSuffix(lower, ".json"):
		return JSON
	case strings.HasSuffix(lower, ".yaml"), strings.HasSuffix(lower, ".yml"):
		return YAML
	}
	return ""
}

// ErrSyntax marks a document that does not decode.
var ErrSyntax = errors.New("syntax error")

// Parse decodes data in format f; with f == "" it sniffs: a document whose
// first non-blank byte is '{' is JSON, anything else YAML. Parse errors give
// a line and column but never quote the input, which may hold secrets.
func Parse(data []byte, f Format) (*Document, error) {
	if f == "" {
		f = YAML
		if t := bytes.TrimLeft(data, " \t\r\n\ufeff"); len(t) > 0 && t[0] == '{' {
			f = JSON
		}
	}
	// Both decoders would turn invalid UTF-8 (and JSON's lone surrogate
	// escapes) into U+FFFD, and the output would differ from the input
	// without a word.
	if !utf8.Valid(data) {
		line, col := position(data, int64(firstInvalid(data)))
		return nil, fmt.Errorf("%w: line %d column %d: not valid UTF-8", ErrSyntax, line, col)
	}
	var root *yaml.Node
	var err error
	if f == JSON {
		root, err = parseJSON(data)
	} else {
		root, err = parseYAML(data)
	}
	if err != nil {
		return nil, err
	}
	if f == JSON {
		if off := jsoncheck.LoneSurrogate(data); off >= 0 {
			line, col := position(data, int64(off))
			return nil, fmt.Errorf("%w: line %d column %d: a \\u escape of half a UTF-16 surrogate pair, which JSON decoders turn into U+FFFD", ErrSyntax, line, col)
		}
	} else if err := checkKeys(root, 0); err != nil {
		return nil, err
	}
	return &Document{root: root, format: f}, nil
}

// firstInvalid returns the offset of the first byte of data that is not
// valid UTF-8.
func firstInvalid(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(data)
}

// checkKeys refuses YAML mapping keys that are not scalars ("? [a]",
// "? {a: b}"): JSON has only string keys, and such keys would all become
// "" there.
func checkKeys(n *yaml.Node, depth int) error {
	if depth > MaxDepth*2 {
		return nil // the walk reports documents this deep
	}
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			if err := checkKeys(c, depth+1); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.AliasNode && k.Alias != nil {
				k = k.Alias
			}
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("%w: line %d column %d: a mapping key that is a sequence or mapping; keys must be strings", ErrSyntax, n.Content[i].Line, n.Content[i].Column)
			}
			if err := checkKeys(n.Content[i+1], depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func parseYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: empty document", ErrSyntax)
		}
		return nil, fmt.Errorf("%w: %s", ErrSyntax, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: more than one YAML document", ErrSyntax)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, fmt.Errorf("%w: empty document", ErrSyntax)
	}
	return &doc, nil
}

// parseJSON builds the same node tree yaml.v3 would, from strict JSON:
// strings get !!str, numbers keep their literal text, duplicate keys and
// trailing data are errors.
func parseJSON(data []byte) (*yaml.Node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := jsonParser{dec: dec, data: data}
	n, err := p.value()
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = p.errorf("unexpected data after the top-level value")
		}
	}
	if err != nil {
		return nil, err
	}
	return &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{n}}, nil
}

type jsonParser struct {
	dec  *json.Decoder
	data []byte
}

func (p *jsonParser) errorf(format string, args ...any) error {
	line, col := position(p.data, p.dec.InputOffset())
	return fmt.Errorf("%w: line %d column %d: %s", ErrSyntax, line, col, fmt.Sprintf(format, args...))
}

// token reads one token; a decoder error is reported by position only,
// because encoding/json's messages quote the offending character.
func (p *jsonParser) token() (json.Token, error) {
	tok, err := p.dec.Token()
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := position(p.data, se.Offset)
			return nil, fmt.Errorf("%w: line %d column %d: invalid JSON", ErrSyntax, line, col)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: unexpected end of JSON", ErrSyntax)
		}
		return nil, p.errorf("invalid JSON")
	}
	return tok, nil
}

func (p *jsonParser) value() (*yaml.Node, error) {
	tok, err := p.token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			seen := make(map[string]bool)
			for p.dec.More() {
				kt, err := p.token()
				if err != nil {
					return nil, err
				}
				key, ok := kt.(string)
				if !ok {
					return nil, p.errorf("object key is not a string")
				}
				if seen[key] {
					return nil, p.errorf("duplicate key %q", key)
				}
				seen[key] = true
				v, err := p.value()
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, strNode(key), v)
			}
			if _, err := p.token(); err != nil { // '}'
				return nil, err
			}
			return n, nil
		case '[':
			n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			for p.dec.More() {
				v, err := p.value()
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, v)
			}
			if _, err := p.token(); err != nil { // ']'
				return nil, err
			}
			return n, nil
		}
		return nil, p.errorf("unexpected delimiter")
	case string:
		return strNode(t), nil
	case json.Number:
		tag := "!!int"
		if strings.ContainsAny(string(t), ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: string(t)}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(t)}, nil
	case nil:
		return nullNode(), nil
	}
	return nil, p.errorf("unexpected token")
}

func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func nullNode() *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}
