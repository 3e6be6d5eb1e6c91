// Package schemacheck compiles the contracts' JSON Schemas and turns a validation failure into
// one line an operator can act on. The parsers of every inbound contract share it.
package schemacheck

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Lazy returns a function that compiles doc on first call: compiling costs milliseconds of
// cold start, which a function that never sees the event should not pay. A schema that does
// not compile is a bug in the build, so it panics.
func Lazy(name string, doc []byte) func() *jsonschema.Schema {
	return sync.OnceValue(func() *jsonschema.Schema {
		parsed, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
		if err != nil {
			panic(fmt.Sprintf("embedded %s does not parse: %v", name, err))
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource(name, parsed); err != nil {
			panic(fmt.Sprintf("embedded %s: %v", name, err))
		}
		s, err := c.Compile(name)
		if err != nil {
			panic(fmt.Sprintf("embedded %s does not compile: %v", name, err))
		}
		return s
	})
}

// Decode parses raw JSON as the schema library wants it (numbers kept exact).
func Decode(raw []byte) (any, error) { return jsonschema.UnmarshalJSON(bytes.NewReader(raw)) }

// Flatten lists every failing location of a validation error as "at /path: reason".
func Flatten(err error) string {
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return err.Error()
	}
	var msgs []string
	for _, unit := range verr.BasicOutput().Errors {
		if unit.Error == nil {
			continue
		}
		loc := unit.InstanceLocation
		if loc == "" {
			loc = "/"
		}
		msgs = append(msgs, fmt.Sprintf("at %s: %s", loc, unit.Error.String()))
	}
	if len(msgs) == 0 {
		return verr.Error()
	}
	return strings.Join(msgs, "; ")
}
