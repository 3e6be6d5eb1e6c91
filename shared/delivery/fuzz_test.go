package delivery_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/heraldhq/herald/shared/delivery"
)

// FuzzDecodeJob: a queue message body, whatever it holds, is decoded or refused, never a
// panic; a job it accepts is valid and survives a round trip through the queue unchanged.
func FuzzDecodeJob(f *testing.F) {
	f.Add([]byte(`{"id":"d1","tenant_id":"acme","webhook_id":"wh_1","event_type":"task_submitted_event","payload":{"a":1},"attempts":0}`))
	f.Add([]byte(`{"id":"d1","tenant_id":"acme","kind":"slack","webhook_id":"slk_1","owner_id":"alice","event_type":"x","payload":{"text":"hi"}}`))
	f.Add([]byte(`{"id":"","payload":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		j, err := delivery.DecodeJob(body)
		// DecodeJob decodes in one pass; it must accept and read what encoding/json does.
		var v1 delivery.Job
		v1OK := json.Unmarshal(body, &v1) == nil && v1.Validate() == nil
		if v1OK != (err == nil) {
			t.Fatalf("encoding/json and DecodeJob disagree on %q: accepted %t, DecodeJob %v", body, v1OK, err)
		}
		if v1OK && !reflect.DeepEqual(normal(v1), normal(j)) {
			t.Fatalf("encoding/json and DecodeJob decode %q differently: %+v, %+v", body, v1, j)
		}
		if err != nil {
			return
		}
		if err := j.Validate(); err != nil {
			t.Fatalf("DecodeJob accepted an invalid job %+v: %v", j, err)
		}
		again, err := json.Marshal(j)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", j, err)
		}
		back, err := delivery.DecodeJob(again)
		if err != nil || !reflect.DeepEqual(normal(back), normal(j)) {
			t.Fatalf("round trip of %s: %+v, %v", again, back, err)
		}
	})
}

// normal compacts the payload, which the round trip may re-indent.
func normal(j delivery.Job) delivery.Job {
	var v any
	if json.Unmarshal(j.Payload, &v) == nil {
		j.Payload, _ = json.Marshal(v)
	}
	return j
}
