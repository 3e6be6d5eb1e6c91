package delivery_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
)

func TestHealthPolicyDisablesOnlyALongStreakOfEnoughFailures(t *testing.T) {
	p := delivery.DefaultHealthPolicy
	since := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name     string
		failures int
		after    time.Duration
		policy   delivery.HealthPolicy
		want     bool
	}{
		{"five days of failures", 40, 5 * 24 * time.Hour, p, true},
		{"a moment short of five days", 40, 5*24*time.Hour - time.Second, p, false},
		{"five days but too few failures", 4, 6 * 24 * time.Hour, p, false},
		{"exactly the minimum", 5, 5 * 24 * time.Hour, p, true},
		{"never, when DisableAfter is zero", 1000, 365 * 24 * time.Hour, delivery.HealthPolicy{MinFailures: 5}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.policy.Due(delivery.FailureStreak{Since: since, Failures: tt.failures}, since.Add(tt.after))
			if got != tt.want {
				t.Fatalf("Due = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStreakReasonNamesItsStartAndCount(t *testing.T) {
	s := delivery.FailureStreak{Since: time.Date(2026, 12, 1, 9, 0, 0, 0, time.FixedZone("EST", -5*3600)), Failures: 42}
	if got, want := s.Reason(), "every attempt failed since 2026-12-01T14:00:00Z (42 failed attempts): disabled automatically"; got != want {
		t.Fatalf("Reason() = %q, want %q", got, want)
	}
}
