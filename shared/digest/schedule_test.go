package digest_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/shared/digest"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// fires lists the instants a time of day fires at, starting after `from`, n of them.
func fires(hhmm string, loc *time.Location, from time.Time, n int) []time.Time {
	h, m, err := digest.ParseTimeOfDay(hhmm)
	if err != nil {
		panic(err)
	}
	var out []time.Time
	for t := from; len(out) < n; {
		t = digest.NextAt(h, m, loc, t)
		out = append(out, t)
	}
	return out
}

func TestNextAtAcrossDaylightSaving(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	kathmandu := mustZone(t, "Asia/Kathmandu")
	for _, c := range []struct {
		name string
		hhmm string
		loc  *time.Location
		from time.Time
		want []string
	}{
		{
			// 2026-03-08: 02:00 EST becomes 03:00 EDT; 02:30 does not exist that day and fires
			// at the jump, 03:00 EDT (07:00Z), once.
			"spring forward: a missing time fires once, at the jump", "02:30", ny, utc("2026-03-06T12:00:00Z"),
			[]string{"2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"},
		},
		{
			// 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:30 happens at 05:30Z and 06:30Z and
			// fires at the first only.
			"fall back: a repeated time fires once, the first time", "01:30", ny, utc("2026-10-30T12:00:00Z"),
			[]string{"2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"},
		},
		{
			"a time outside the change is an hour apart in UTC across it", "09:00", ny, utc("2026-03-07T00:00:00Z"),
			[]string{"2026-03-07T14:00:00Z", "2026-03-08T13:00:00Z"},
		},
		{
			"a +05:45 zone", "09:00", kathmandu, utc("2026-06-01T00:00:00Z"),
			[]string{"2026-06-01T03:15:00Z", "2026-06-02T03:15:00Z"},
		},
		{
			"just before and at the time", "00:00", time.UTC, utc("2026-06-01T23:59:59Z"),
			[]string{"2026-06-02T00:00:00Z", "2026-06-03T00:00:00Z"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := fires(c.hhmm, c.loc, c.from, len(c.want))
			for i, w := range c.want {
				if !got[i].Equal(utc(w)) {
					t.Fatalf("fire %d at %s, want %s (all: %v)", i, got[i].UTC().Format(time.RFC3339), w, got)
				}
			}
		})
	}
}

// Every time of day, in every zone that changes its clock, fires exactly once on each local
// day of a year.
func TestNextAtFiresOnceADayAllYear(t *testing.T) {
	for _, zone := range []string{"America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu", "America/Santiago"} {
		loc := mustZone(t, zone)
		for _, hhmm := range []string{"00:00", "00:30", "01:30", "02:00", "02:30", "03:00", "23:59"} {
			from := time.Date(2026, 1, 1, 0, 0, 0, 0, loc).Add(-time.Second)
			seen := map[string]int{}
			prev := from
			for _, at := range fires(hhmm, loc, from, 365) {
				if !at.After(prev) {
					t.Fatalf("%s %s: %v after %v", zone, hhmm, at, prev)
				}
				prev = at
				seen[at.In(loc).Format("2006-01-02")]++
			}
			for day, n := range seen {
				if n != 1 {
					t.Fatalf("%s %s fired %d times on %s", zone, hhmm, n, day)
				}
			}
			if len(seen) != 365 {
				t.Fatalf("%s %s fired on %d days of 365", zone, hhmm, len(seen))
			}
		}
	}
}

// An edit made while a run held the schedule wins for what it changed; the run's progress
// holds for the slots the edit kept as the run found them.
func TestMergeKeepsAnEditAndTheRunsProgress(t *testing.T) {
	nine, tomorrowNine := utc("2026-12-05T14:00:00Z"), utc("2026-12-06T14:00:00Z")
	noon, five := utc("2026-12-05T17:00:00Z"), utc("2026-12-05T22:00:00Z")
	run := digest.Schedule{Slots: map[string]time.Time{"09:00": tomorrowNine, "12:00": utc("2026-12-06T17:00:00Z")}}
	sent := map[string]time.Time{"09:00": nine, "12:00": noon}
	latest := digest.Schedule{
		TenantID: "acme", NotificationID: "ntf_1", Revision: 2, LeaseOwner: "run",
		// 09:00 kept as it was, 12:00 removed, 17:00 added.
		Slots: map[string]time.Time{"09:00": nine, "17:00": five},
	}
	got := digest.Merge(latest, run, sent)
	if len(got.Slots) != 2 || !got.Slots["09:00"].Equal(tomorrowNine) || !got.Slots["17:00"].Equal(five) ||
		!got.NextDue.Equal(five) || got.Revision != 2 || got.NotificationID != "ntf_1" {
		t.Fatalf("merged %+v", got)
	}
	// A slot the edit reset (removed and added back, at another due time) keeps the edit's time.
	latest.Slots["09:00"] = nine.Add(time.Hour)
	if got := digest.Merge(latest, run, sent); !got.Slots["09:00"].Equal(nine.Add(time.Hour)) {
		t.Fatalf("merged over an edited slot %+v", got)
	}
	if latest.Slots["09:00"] != nine.Add(time.Hour) || len(latest.Slots) != 2 {
		t.Fatal("Merge changed its input")
	}
}
