package sqsqueue_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/heraldhq/herald/infra/sqsqueue"
	"github.com/heraldhq/herald/shared/delivery"
)

// failingSQS answers SendMessageBatch (AWS JSON 1.0) failing the entries fail picks, per call:
// the partial failures real SQS reports per entry and no stand-in here can be made to produce.
type failingSQS struct {
	mu    sync.Mutex
	calls [][]string // entry ids per call
	// sent holds every call's queue URL and entries, in the order they came.
	sent []sentBatch
	fail func(call int, id string) (failed, senderFault bool)
}

type sentBatch struct {
	QueueUrl string
	Entries  []sentEntry
}

type sentEntry struct {
	Id, MessageBody, MessageGroupId, MessageDeduplicationId string
	DelaySeconds                                            int
}

func (f *failingSQS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in sentBatch
	_ = json.NewDecoder(r.Body).Decode(&in)
	f.mu.Lock()
	call := len(f.calls)
	var ids []string
	for _, e := range in.Entries {
		ids = append(ids, e.Id)
	}
	f.calls = append(f.calls, ids)
	f.sent = append(f.sent, in)
	f.mu.Unlock()
	type entry struct {
		Id          string
		MessageId   string `json:",omitempty"`
		Code        string `json:",omitempty"`
		Message     string `json:",omitempty"`
		SenderFault bool   `json:",omitempty"`
	}
	out := struct {
		Successful []entry
		Failed     []entry
	}{Successful: []entry{}, Failed: []entry{}}
	for _, id := range ids {
		if failed, sender := f.fail(call, id); failed {
			out.Failed = append(out.Failed, entry{Id: id, Code: "InternalError", Message: "try again", SenderFault: sender})
			continue
		}
		out.Successful = append(out.Successful, entry{Id: id, MessageId: "m-" + id})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(out)
}

func queueOver(t *testing.T, f *failingSQS) *sqsqueue.Queue {
	t.Helper()
	std, _ := queuesOver(t, f)
	return std
}

// queuesOver returns a standard queue ".../q" and a FIFO queue ".../q.fifo" over f.
func queuesOver(t *testing.T, f *failingSQS) (std, fifo *sqsqueue.Queue) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1})
	return sqsqueue.New(client, srv.URL+"/000000000000/q", srv.URL+"/000000000000/dlq"),
		sqsqueue.NewFIFO(client, srv.URL+"/000000000000/q.fifo", srv.URL+"/000000000000/dlq.fifo")
}

func TestEnqueueRetriesTheEntriesSQSFailed(t *testing.T) {
	t.Parallel()
	f := &failingSQS{fail: func(call int, id string) (bool, bool) { return call == 0 && (id == "3" || id == "7"), false }}
	q := queueOver(t, f)
	jobs := make([]delivery.Job, 10)
	for i := range jobs {
		jobs[i] = job(i)
	}
	if err := q.Enqueue(context.Background(), jobs); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	if len(f.calls) != 2 || len(f.calls[1]) != 2 || f.calls[1][0] != "3" || f.calls[1][1] != "7" {
		t.Fatalf("calls %v, want the batch then a retry of exactly entries 3 and 7", f.calls)
	}
}

func TestEnqueueFailsWhenEntriesKeepFailing(t *testing.T) {
	t.Parallel()
	cases := map[string]func(int, string) (bool, bool){
		"transient until the rounds run out": func(_ int, id string) (bool, bool) { return id == "1", false },
		"sender fault is not retried":        func(_ int, id string) (bool, bool) { return id == "1", true },
	}
	for name, fail := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := &failingSQS{fail: fail}
			q := queueOver(t, f)
			if err := q.Enqueue(context.Background(), []delivery.Job{job(1), job(2)}); err == nil {
				t.Fatal("Enqueue reported success with an entry never accepted: the router must fail so EventBridge retries")
			}
		})
	}
}
