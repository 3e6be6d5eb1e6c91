package awsfixture

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/heraldhq/herald/events/operational"
	"github.com/heraldhq/herald/infra/eventpattern"
	"github.com/heraldhq/herald/infra/localbus"
)

// EventBusName is the bus the functions publish Herald's own events to.
const EventBusName = "herald"

// busCapture is a localbus.Sink that keeps what its one rule routes.
type busCapture struct {
	mu     sync.Mutex
	events [][]byte
}

func (c *busCapture) Accept(_ context.Context, invs []localbus.Invocation) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, inv := range invs {
		c.events = append(c.events, inv.Event)
	}
	return nil
}

// BusStandIn is an EventBridge stand-in for a test: the embedded bus behind a test server,
// with one rule that keeps every event of Herald's own source put on EventBusName. It
// returns the PutEvents endpoint and what was routed so far.
func BusStandIn(t testing.TB) (endpoint string, published func() [][]byte) {
	t.Helper()
	c := &busCapture{}
	return c.serve(t), c.published
}

func (c *busCapture) published() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.events...)
}

// serve starts the bus and returns its PutEvents endpoint.
func (c *busCapture) serve(t testing.TB) string {
	t.Helper()
	pattern, err := eventpattern.Compile([]byte(`{"source":["` + operational.Source + `"]}`))
	if err != nil {
		t.Fatal(err)
	}
	bus := localbus.New([]localbus.Rule{{Name: "herald-events", Function: "capture", Bus: EventBusName, Pattern: pattern}}, c, localbus.Options{})
	srv := httptest.NewServer(bus)
	t.Cleanup(srv.Close)
	return srv.URL
}

// Published returns the envelope of every event of Herald's own source put on EventBusName.
func (b *Backend) Published() [][]byte { return b.events.published() }
