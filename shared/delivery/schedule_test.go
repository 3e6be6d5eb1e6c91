package delivery_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/delivery"
)

func TestDefaultScheduleIsSvixLike(t *testing.T) {
	t.Parallel()
	s, err := delivery.ParseSchedule(delivery.DefaultSchedule)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
	if len(s) != len(want) || s.MaxAttempts() != 8 {
		t.Fatalf("schedule %v (%d attempts), want %v (8 attempts)", s, s.MaxAttempts(), want)
	}
	for attempt := 1; attempt <= len(want); attempt++ {
		base := want[attempt-1]
		for range 50 {
			w, ok := s.Wait(attempt)
			if !ok || w < time.Duration(float64(base)*0.8) || w > time.Duration(float64(base)*1.2) || w > delivery.MaxWait {
				t.Fatalf("wait after attempt %d = %s (ok %v), want %s ±20%%", attempt, w, ok, base)
			}
		}
	}
	if _, ok := s.Wait(8); ok {
		t.Fatal("a wait after the last attempt")
	}
}

func TestScheduleJitterSpreads(t *testing.T) {
	t.Parallel()
	s, _ := delivery.ParseSchedule("5m")
	seen := map[time.Duration]bool{}
	for range 20 {
		w, _ := s.Wait(1)
		seen[w] = true
	}
	if len(seen) < 10 {
		t.Fatalf("20 waits took only %d distinct values: no jitter", len(seen))
	}
}

func TestParseScheduleRejectsNonsense(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "5", "5s,,5m", "-1s", "0s", "13h", "5 minutes"} {
		if _, err := delivery.ParseSchedule(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
