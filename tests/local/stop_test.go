package local_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// TestSIGTERMLetsDeliveriesInFlightFinish: SIGTERM while the receiver is still answering a
// delivery. The attempt finishes and is recorded as the success it was, Herald exits, and the
// next start does not send it again (a cut attempt would come back as a retry).
func TestSIGTERMLetsDeliveriesInFlightFinish(t *testing.T) {
	dataDir := t.TempDir()
	var hits atomic.Int32
	inFlight := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			inFlight <- struct{}{}
			time.Sleep(2 * time.Second) // SIGTERM lands here
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	addWebhook(t, dataDir, srv.URL+"/hook")
	p := startHerald(t, dataDir)
	entry, _ := transition(t, 1)
	if _, err := eventBridge(t, p.eventsURL).PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-inFlight:
	case <-time.After(15 * time.Second):
		t.Fatalf("the delivery never reached the receiver:\n%s", p.output.String())
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("herald exited with %v after SIGTERM:\n%s", err, p.output.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("herald did not exit after SIGTERM:\n%s", p.output.String())
	}
	if hits.Load() != 1 {
		t.Fatalf("receiver hit %d times before the restart", hits.Load())
	}
	startHerald(t, dataDir)
	time.Sleep(3 * time.Second) // the retry schedule's first wait is 1 s: a cut attempt would be back
	if n := hits.Load(); n != 1 {
		t.Fatalf("the receiver got the delivery %d times: the stop cut it and the restart sent it again", n)
	}
}
