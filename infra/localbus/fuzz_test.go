package localbus

import (
	"testing"
)

// FuzzDecodeRequest: a PutEvents request body, whatever it holds, is decoded and validated or
// refused, never a panic; a request found valid has between 1 and 10 entries.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"Entries":[{"Source":"encord.workflow","DetailType":"Task Stage Transition","Detail":"{\"a\":1}","EventBusName":"herald"}]}`))
	f.Add([]byte(`{"Entries":[]}`))
	f.Add([]byte(`{"Entries":null}`))
	f.Add([]byte(`{"Entries":[null,{"Time":1.5e9,"Resources":["arn:x"]}]} trailing`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeRequest(body)
		if err != nil {
			return
		}
		if validateRequest(req) == "" {
			if req.Entries == nil || len(*req.Entries) < 1 || len(*req.Entries) > maxEntries {
				t.Fatalf("a request with entries %v was found valid", req.Entries)
			}
		}
	})
}
