package sqsqueue

import (
	"testing"
	"time"
)

// The processor puts the rest of a held group back with a wait of 0, which must reach SQS as 0
// (visible at once), while a wait under a second must not.
func TestVisibilitySeconds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		wait time.Duration
		want int32
	}{
		{0, 0},
		{time.Nanosecond, 1},
		{999 * time.Millisecond, 1},
		{time.Second, 1},
		{1999 * time.Millisecond, 1},
		{90 * time.Second, 90},
		{13 * time.Hour, 43200},
	} {
		if got := visibilitySeconds(tc.wait); got != tc.want {
			t.Errorf("visibilitySeconds(%s) = %d, want %d", tc.wait, got, tc.want)
		}
	}
}
