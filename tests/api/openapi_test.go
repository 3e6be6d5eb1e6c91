package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi/datamodel/high/base"

	"github.com/heraldhq/herald/infra/httpapi"
)

// operation is one documented call, read from openapi.json by an OpenAPI library, not by us.
type operation struct {
	id, method, path string
	body             map[string]any
	codes            []string
}

func documentedOperations(t *testing.T) []operation {
	t.Helper()
	doc, err := libopenapi.NewDocument(httpapi.OpenAPI())
	if err != nil {
		t.Fatalf("openapi.json does not parse as OpenAPI: %v", err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatalf("openapi.json does not build as OpenAPI 3: %v", err)
	}
	var ops []operation
	for path, item := range model.Model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			o := operation{id: op.OperationId, method: strings.ToUpper(method), path: path}
			for code := range op.Responses.Codes.KeysFromOldest() {
				o.codes = append(o.codes, code)
			}
			if op.RequestBody != nil {
				if mt, ok := op.RequestBody.Content.Get("application/json"); ok {
					o.body = example(mt.Schema.Schema(), o.id)
				}
			}
			ops = append(ops, o)
		}
	}
	// Deleting last leaves the webhook for every other call.
	slices.SortStableFunc(ops, func(a, b operation) int {
		return strings.Compare(fmt.Sprint(a.method == "DELETE"), fmt.Sprint(b.method == "DELETE"))
	})
	return ops
}

// example builds a valid value from a schema: every property (so minProperties holds), enum
// values, URIs as public https URLs.
func example(s *base.Schema, seed string) map[string]any {
	out := map[string]any{}
	if s == nil || s.Properties == nil {
		return out
	}
	for name, proxy := range s.Properties.FromOldest() {
		p := proxy.Schema()
		switch {
		case len(p.Enum) > 0:
			out[name] = p.Enum[0].Value
		case slices.Contains(p.Type, "boolean"):
			out[name] = true
		case slices.Contains(p.Type, "integer"):
			out[name] = 1
		case p.Format == "uri":
			out[name] = "https://8.8.8.8/generated/" + seed
		default:
			out[name] = "gen-" + seed
		}
	}
	return out
}

// TestDrivenFromTheOpenAPIDocument calls every documented operation with a request built
// from the document alone and expects a documented success.
func TestDrivenFromTheOpenAPIDocument(t *testing.T) {
	ops := documentedOperations(t)
	if len(ops) < 8 {
		t.Fatalf("only %d operations documented", len(ops))
	}
	forEachBackend(t, func(t *testing.T, be backend) {
		id := create(t, be, "tenant-a", "stage-openapi", "https://8.8.8.8/openapi")["id"].(string)
		for _, op := range ops {
			var body []byte
			header := http.Header{}
			if op.body != nil {
				body, _ = json.Marshal(op.body)
				header.Set("Content-Type", "application/json")
			}
			res := be.call(t, "tenant-a", "user-1", op.method, strings.ReplaceAll(op.path, "{id}", id), body, header)
			code := fmt.Sprint(res.status)
			if !slices.Contains(op.codes, code) || res.status >= 300 {
				t.Errorf("%s (%s %s) with %s: %d %s; documented %v", op.id, op.method, op.path, body, res.status, res.body, op.codes)
			}
		}
	})
}
