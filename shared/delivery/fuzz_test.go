package delivery_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
)

// FuzzDecodeJob: a queue message body, whatever it holds, is decoded or refused, never a
// panic; a job it accepts is valid and survives a round trip through the queue unchanged.
func FuzzDecodeJob(f *testing.F) {
	f.Add([]byte(`{"id":"d1","tenant_id":"acme","webhook_id":"wh_1","event_type":"task_submitted_event","payload":{"a":1},"attempts":0}`))
	f.Add([]byte(`{"id":"d1","tenant_id":"acme","kind":"slack","webhook_id":"slk_1","owner_id":"alice","event_type":"x","payload":{"text":"hi"}}`))
	// Bodies the one-pass reader takes, and bodies it leaves to the general decoder: names in
	// another case or escaped, a field twice, text with escapes or beyond ASCII, numbers and
	// payloads at the edges of JSON's grammar.
	f.Add([]byte(`{"id":"d1","tenant_id":"acme","webhook_id":"wh_1","event_type":"x","payload":[1,-2.5e+3,"\u00e9\n",{"a":null,"b":[true,false]}],"attempts":3,"not_before":"2026-01-02T03:04:05.123Z","slot":"2026-01-02T03:04:05+02:00","ordered":true}`))
	f.Add([]byte(` { "ID" : "d1" , "tenant_id":"acme","webhook_id":"wh_1","event_type":"x","payload":{} } `))
	f.Add([]byte(`{"id":"d1","id":"d2","tenant_id":"acme","webhook_id":"wh_1","event_type":"x","payload":{}}`))
	f.Add([]byte(`{"\u0069d":"d1","tenant_id":"acme","webhook_id":"wh_1","event_type":"x","payload":{}}`))
	f.Add([]byte(`{"id":"d\u00e91","tenant_id":"acmé","webhook_id":"wh_1","event_type":"x","payload":"\xff"}`))
	f.Add([]byte(`{"id":"d1","tenant_id":"acme","webhook_id":"wh_1","event_type":"x","payload":{},"attempts":1.0}`))
	f.Add([]byte(`{"id":"d1","tenant_id":"acme","webhook_id":"wh_1","event_type":"x","payload":01}`))
	f.Add([]byte(`{"id":"d1","tenant_id":"acme","webhook_id":"wh_1","event_type":"x","payload":{"a":1,}}`))
	f.Add([]byte(`{"id":"d1","tenant_id":"acme","webhook_id":"wh_1","event_type":"x","payload":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`))
	f.Add([]byte(`{"id":"d1","tenant_id":"acme","webhook_id":"wh_1","event_type":"x","payload":{},"not_before":"2026-13-02T03:04:05Z"}`))
	f.Add([]byte(`{"id":"d1","tenant_id":"acme","webhook_id":"wh_1","event_type":"x","payload":{},"extra":1}`))
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
		if err != nil || !reflect.DeepEqual(instants(normal(back)), instants(normal(j))) {
			t.Fatalf("round trip of %s: %+v, %v", again, back, err)
		}
	})
}

// Jobs as Herald writes them take the one-pass reader, which allocates once (for the text
// fields), and decode to what was written.
func TestDecodeJobReadsHeraldsJobsInOnePass(t *testing.T) {
	// Not parallel: AllocsPerRun counts the whole process's allocations.
	at := time.Date(2026, 12, 5, 10, 0, 0, 123456789, time.UTC)
	first := delivery.Job{ID: "687457ce-6489-4891-b7c8-544477d99e41", TenantID: "acme", WebhookID: "wh_1", EventType: "task_submitted_event",
		Payload: json.RawMessage(`{"uid":"687457ce","payload":{"data_hashes":["f0b0"],"n":1.5e3,"ok":true,"none":null}}`)}
	retry := first
	retry.Attempts, retry.NotBefore, retry.Slot, retry.Ordered = 4, at, at.Add(time.Second), true
	slack := first
	slack.Kind, slack.OwnerID = delivery.KindSlack, "alice"
	for name, job := range map[string]delivery.Job{"first attempt": first, "retry": retry, "slack": slack} {
		body, err := json.Marshal(job)
		if err != nil {
			t.Fatal(err)
		}
		got, err := delivery.DecodeJob(body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, job) {
			t.Errorf("%s: decoded %+v, want %+v", name, got, job)
		}
		if allocs := testing.AllocsPerRun(10, func() { _, _ = delivery.DecodeJob(body) }); allocs != 1 {
			t.Errorf("%s: %v allocations, want 1 (the one-pass reader gave the job up)", name, allocs)
		}
	}
}

// instants reads the job's times in UTC: a time at offset +00:00 comes back from a round trip
// as the same instant written with Z, in another time.Location.
func instants(j delivery.Job) delivery.Job {
	j.NotBefore, j.Slot = j.NotBefore.UTC(), j.Slot.UTC()
	return j
}

// normal compacts the payload, which the round trip may re-indent.
func normal(j delivery.Job) delivery.Job {
	var v any
	if json.Unmarshal(j.Payload, &v) == nil {
		j.Payload, _ = json.Marshal(v)
	}
	return j
}
