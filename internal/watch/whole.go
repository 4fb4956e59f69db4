package watch

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
)

// jsonName reports whether name is read as JSON by the daemon (.json in
// any case, as render.FormatOf). Only those files may skip the quiet
// period: a YAML document has no end that its syntax marks, so any prefix
// of one cut at a line break is itself a document.
func jsonName(name string) bool {
	return strings.EqualFold(filepath.Ext(name), ".json")
}

// completeJSONObject reports whether data is exactly one complete JSON
// document whose top-level value is an object, with nothing but JSON
// whitespace around it. Such a file is not caught half-written, whatever
// the writer's chunking: the object ends with the '}' that matches its
// first byte, so a strict prefix of it never passes, and what follows a
// complete object may only be whitespace, which changes nothing. (Other
// top-level values lack this: "12" is a prefix of "123", and both are
// valid.)
//
// A leading UTF-8 byte order mark is not skipped: encoding/json refuses
// it and so does the daemon's JSON parser (render.Parse for a .json
// name), so such a file is an error either way and keeps the quiet
// period like other JSON that does not parse. Whether the text is valid
// UTF-8, or free of lone surrogate escapes, is for the daemon to report.
func completeJSONObject(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(t)
}
