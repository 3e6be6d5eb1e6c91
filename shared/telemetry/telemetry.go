// Package telemetry counts what the domain wants operators to see: rejected events, dropped
// jobs, attempts by class. The domain counts through Counter; each runtime decides where
// counts go (CloudWatch embedded metrics on AWS, memory on one machine and in tests).
package telemetry

import (
	"sort"
	"sync"
)

// Counter adds one to a metric, broken down by one dimension value (a reason or a class).
type Counter interface {
	Count(metric, dimension string)
}

// Metric names. They are part of the operational contract: alarms and dashboards name them.
const (
	EventsRejected   = "EventsRejected"
	EventsRouted     = "EventsRouted"
	JobsEnqueued     = "JobsEnqueued"
	JobsDropped      = "JobsDropped"
	Attempts         = "DeliveryAttempts"
	DeadLettered     = "DeadLettered"
	OwnFaultRequeued = "OwnFaultRequeued"
	AttemptLogLost   = "AttemptLogLost"
	// NotificationItems counts what notifications produced, by channel (webhook, slack, email).
	NotificationItems = "NotificationItems"
	// EmailsSent and EmailsFailed count the mailer's messages, by outcome reason.
	EmailsSent   = "EmailsSent"
	EmailsFailed = "EmailsFailed"
	// EmailLinesGivenUp counts email lines dropped after their recipient's emails failed for
	// longer than the mailer's give-up age, by the last failure's reason.
	EmailLinesGivenUp = "EmailLinesGivenUp"
	// DigestsSent counts digests by outcome: sent, skipped_empty or abandoned.
	DigestsSent = "DigestsSent"
	// InboundRecordsLost counts inbound events whose record (what the Events page shows)
	// could not be written, by router; the event itself was handled.
	InboundRecordsLost = "InboundRecordsLost"
	// WebhooksDisabled counts webhooks the delivery path disabled, by why ("failing").
	WebhooksDisabled = "WebhooksDisabled"
	// HealthFaults counts failures to keep webhook health (a store or alert error), by
	// operation; deliveries go on regardless.
	HealthFaults = "HealthFaults"
	// RateLimited counts jobs sent back to the queue to wait for their rate-limit slot.
	RateLimited = "RateLimited"
)

// Memory is a Counter that keeps counts in memory. It is safe for concurrent use.
type Memory struct {
	mu     sync.Mutex
	counts map[string]map[string]int64
}

// NewMemory returns an empty Memory counter.
func NewMemory() *Memory { return &Memory{counts: map[string]map[string]int64{}} }

// Count implements Counter.
func (m *Memory) Count(metric, dimension string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	byDim := m.counts[metric]
	if byDim == nil {
		byDim = map[string]int64{}
		m.counts[metric] = byDim
	}
	byDim[dimension]++
}

// Get returns the count of metric for one dimension value.
func (m *Memory) Get(metric, dimension string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts[metric][dimension]
}

// Total returns the count of metric over all dimension values.
func (m *Memory) Total(metric string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for _, v := range m.counts[metric] {
		n += v
	}
	return n
}

// Dimensions returns the dimension values seen for metric, sorted.
func (m *Memory) Dimensions(metric string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var dims []string
	for d := range m.counts[metric] {
		dims = append(dims, d)
	}
	sort.Strings(dims)
	return dims
}

// Tee counts into several counters, e.g. CloudWatch and memory.
type Tee []Counter

// Count implements Counter.
func (t Tee) Count(metric, dimension string) {
	for _, c := range t {
		c.Count(metric, dimension)
	}
}
