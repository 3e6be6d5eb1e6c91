package eventpattern

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

type compileErrCase struct {
	name    string
	pattern string
	path    string // expected PatternError.Path
	reason  string // substring expected in PatternError.Reason
}

var compileErrCases = []compileErrCase{
	// --- document shape -------------------------------------------------------
	{name: "empty input", pattern: ``, path: "", reason: "not valid JSON"},
	{name: "malformed JSON", pattern: `{"source": ["aws.ec2"]`, path: "", reason: "not valid JSON"},
	{name: "trailing data", pattern: `{"source":["a"]} {"x":["y"]}`, path: "", reason: "not valid JSON"},
	{name: "top level is an array", pattern: `[{"source":["a"]}]`, path: "", reason: "must be a JSON object, got array"},
	{name: "top level is a string", pattern: `"aws.ec2"`, path: "", reason: "must be a JSON object, got string"},
	{name: "top level is null", pattern: `null`, path: "", reason: "must be a JSON object, got null"},
	{name: "empty pattern object", pattern: `{}`, path: "", reason: "empty objects are not allowed"},
	{name: "empty nested object", pattern: `{"source":["a"],"detail":{}}`, path: "detail", reason: "empty objects are not allowed"},

	// --- leaves must be arrays -------------------------------------------------
	{name: "leaf is a bare string", pattern: `{"source":"aws.ec2"}`, path: "source", reason: "must be an object or an array of match values, got string"},
	{name: "leaf is a bare number", pattern: `{"detail":{"n":5}}`, path: "detail.n", reason: "got number"},
	{name: "leaf is a bare boolean", pattern: `{"detail":{"b":true}}`, path: "detail.b", reason: "got boolean"},
	{name: "leaf is null", pattern: `{"detail":{"v":null}}`, path: "detail.v", reason: "got null"},
	{name: "empty match list", pattern: `{"source":[]}`, path: "source", reason: "empty arrays are not allowed"},
	{name: "nested array in match list", pattern: `{"source":[["aws.ec2"]]}`, path: "source[0]", reason: "nested arrays are not allowed"},
	{name: "path quotes keys with dots", pattern: `{"detail":{"a.b":"x"}}`, path: `detail."a.b"`, reason: "got string"},

	// --- operator objects ---------------------------------------------------
	{name: "unknown operator", pattern: `{"detail":{"t":[{"contains":"x"}]}}`, path: "detail.t[0]", reason: `unknown match type "contains"`},
	{name: "operator names are case-sensitive", pattern: `{"source":[{"Prefix":"aws."}]}`, path: "source[0]", reason: `unknown match type "Prefix"`},
	{name: "nested pattern object inside a match list", pattern: `{"detail":[{"state":["x"]}]}`, path: "detail[0]", reason: `unknown match type "state"`},
	{name: "operator object with two keys", pattern: `{"source":[{"prefix":"a","suffix":"b"}]}`, path: "source[0]", reason: "exactly one of"},
	{name: "empty operator object", pattern: `{"source":[{}]}`, path: "source[0]", reason: "got 0 keys"},

	// --- prefix / suffix / equals-ignore-case -------------------------------
	{name: "prefix with a number", pattern: `{"source":[{"prefix":5}]}`, path: "source[0].prefix", reason: "prefix value must be a string"},
	{name: "prefix with null", pattern: `{"source":[{"prefix":null}]}`, path: "source[0].prefix", reason: "got null"},
	{name: "prefix with a list", pattern: `{"source":[{"prefix":["a","b"]}]}`, path: "source[0].prefix", reason: "got array"},
	{name: "prefix with an unknown object", pattern: `{"source":[{"prefix":{"wildcard":"a*"}}]}`, path: "source[0].prefix", reason: `{"equals-ignore-case": string}`},
	{name: "prefix equals-ignore-case with a number", pattern: `{"source":[{"prefix":{"equals-ignore-case":5}}]}`, path: "source[0].prefix.equals-ignore-case", reason: "must be a string, got number"},
	{name: "prefix equals-ignore-case with an extra key", pattern: `{"source":[{"prefix":{"equals-ignore-case":"a","x":"b"}}]}`, path: "source[0].prefix", reason: "got object"},
	{name: "suffix with a number", pattern: `{"source":[{"suffix":5}]}`, path: "source[0].suffix", reason: "suffix value must be a string"},
	{name: "suffix equals-ignore-case with a list", pattern: `{"source":[{"suffix":{"equals-ignore-case":["a"]}}]}`, path: "source[0].suffix.equals-ignore-case", reason: "got array"},
	{name: "equals-ignore-case with a number", pattern: `{"source":[{"equals-ignore-case":5}]}`, path: "source[0].equals-ignore-case", reason: "must be a string, got number"},
	{name: "equals-ignore-case with a list", pattern: `{"source":[{"equals-ignore-case":["a"]}]}`, path: "source[0].equals-ignore-case", reason: "got array"},

	// --- wildcard -----------------------------------------------------------
	{name: "wildcard with a number", pattern: `{"source":[{"wildcard":5}]}`, path: "source[0].wildcard", reason: "must be a string"},
	{name: "wildcard consecutive stars", pattern: `{"source":[{"wildcard":"a**b"}]}`, path: "source[0].wildcard", reason: "consecutive wildcard characters"},
	{name: "wildcard only stars", pattern: `{"source":[{"wildcard":"**"}]}`, path: "source[0].wildcard", reason: "consecutive wildcard characters"},
	{name: "wildcard backslash escaping another character", pattern: `{"source":[{"wildcard":"a\\qb"}]}`, path: "source[0].wildcard", reason: "may only escape"},
	{name: "wildcard trailing backslash", pattern: `{"source":[{"wildcard":"a\\"}]}`, path: "source[0].wildcard", reason: "may only escape"},

	// --- anything-but ---------------------------------------------------------
	{name: "anything-but boolean", pattern: `{"detail":{"s":[{"anything-but":true}]}}`, path: "detail.s[0].anything-but", reason: "got boolean"},
	{name: "anything-but null", pattern: `{"detail":{"s":[{"anything-but":null}]}}`, path: "detail.s[0].anything-but", reason: "got null"},
	{name: "anything-but empty list", pattern: `{"detail":{"s":[{"anything-but":[]}]}}`, path: "detail.s[0].anything-but", reason: "must not be empty"},
	{name: "anything-but mixed list", pattern: `{"detail":{"s":[{"anything-but":["a",1]}]}}`, path: "detail.s[0].anything-but", reason: "only strings or only numbers"},
	{name: "anything-but list with boolean", pattern: `{"detail":{"s":[{"anything-but":["a",true]}]}}`, path: "detail.s[0].anything-but[1]", reason: "must be strings or numbers, got boolean"},
	{name: "anything-but list with object", pattern: `{"detail":{"s":[{"anything-but":[{"prefix":"a"}]}]}}`, path: "detail.s[0].anything-but[0]", reason: "got object"},
	{name: "anything-but object with two keys", pattern: `{"detail":{"s":[{"anything-but":{"prefix":"a","suffix":"b"}}]}}`, path: "detail.s[0].anything-but", reason: "exactly one of"},
	{name: "anything-but numeric", pattern: `{"detail":{"s":[{"anything-but":{"numeric":[">",1]}}]}}`, path: "detail.s[0].anything-but", reason: `unknown anything-but match type "numeric"`},
	{name: "anything-but nested anything-but", pattern: `{"detail":{"s":[{"anything-but":{"anything-but":"x"}}]}}`, path: "detail.s[0].anything-but", reason: `unknown anything-but match type "anything-but"`},
	{name: "anything-but prefix with a number", pattern: `{"detail":{"s":[{"anything-but":{"prefix":5}}]}}`, path: "detail.s[0].anything-but.prefix", reason: "got number"},
	{name: "wildcard too complex", pattern: `{"detail":{"s":[{"wildcard":"a*b*c*d*e*f*"}]}}`, path: "detail.s[0].wildcard", reason: "too complex"},
	{name: "anything-but wildcard too complex", pattern: `{"detail":{"s":[{"anything-but":{"wildcard":["x","*a*b*c*d*e*"]}}]}}`, path: "detail.s[0].anything-but.wildcard[1]", reason: "too complex"},
	{name: "anything-but prefix with an empty string", pattern: `{"detail":{"s":[{"anything-but":{"prefix":""}}]}}`, path: "detail.s[0].anything-but.prefix", reason: "must not be empty"},
	{name: "anything-but suffix list with an empty string", pattern: `{"detail":{"s":[{"anything-but":{"suffix":["a",""]}}]}}`, path: "detail.s[0].anything-but.suffix[1]", reason: "must not be empty"},
	{name: "anything-but prefix with an empty list", pattern: `{"detail":{"s":[{"anything-but":{"prefix":[]}}]}}`, path: "detail.s[0].anything-but.prefix", reason: "must not be empty"},
	{name: "anything-but prefix list with a number", pattern: `{"detail":{"s":[{"anything-but":{"prefix":["a",5]}}]}}`, path: "detail.s[0].anything-but.prefix[1]", reason: "got number"},
	{name: "anything-but equals-ignore-case empty list", pattern: `{"detail":{"s":[{"anything-but":{"equals-ignore-case":[]}}]}}`, path: "detail.s[0].anything-but.equals-ignore-case", reason: "must not be empty"},
	{name: "anything-but equals-ignore-case with a number", pattern: `{"detail":{"s":[{"anything-but":{"equals-ignore-case":[1]}}]}}`, path: "detail.s[0].anything-but.equals-ignore-case[0]", reason: "must be strings, got number"},
	{name: "anything-but wildcard consecutive stars", pattern: `{"detail":{"s":[{"anything-but":{"wildcard":["a*","b**"]}}]}}`, path: "detail.s[0].anything-but.wildcard[1]", reason: "consecutive wildcard characters"},

	// --- numeric ------------------------------------------------------------
	{name: "numeric with a string operand", pattern: `{"detail":{"n":[{"numeric":["<","5"]}]}}`, path: "detail.n[0].numeric[1]", reason: "must be a number, got string"},
	{name: "numeric not an array", pattern: `{"detail":{"n":[{"numeric":5}]}}`, path: "detail.n[0].numeric", reason: "must be an array"},
	{name: "numeric empty", pattern: `{"detail":{"n":[{"numeric":[]}]}}`, path: "detail.n[0].numeric", reason: "got 0 element(s)"},
	{name: "numeric missing operand", pattern: `{"detail":{"n":[{"numeric":[">"]}]}}`, path: "detail.n[0].numeric", reason: "got 1 element(s)"},
	{name: "numeric odd length", pattern: `{"detail":{"n":[{"numeric":[">",0,"<"]}]}}`, path: "detail.n[0].numeric", reason: "got 3 element(s)"},
	{name: "numeric too long", pattern: `{"detail":{"n":[{"numeric":[">",0,"<",5,"<",6]}]}}`, path: "detail.n[0].numeric", reason: "got 6 element(s)"},
	{name: "numeric unknown operator", pattern: `{"detail":{"n":[{"numeric":["==",5]}]}}`, path: "detail.n[0].numeric[0]", reason: `unknown numeric operator "=="`},
	{name: "numeric operator not a string", pattern: `{"detail":{"n":[{"numeric":[5,5]}]}}`, path: "detail.n[0].numeric[0]", reason: "operator must be a string"},
	{name: "numeric = combined with a bound", pattern: `{"detail":{"n":[{"numeric":["=",5,"<",6]}]}}`, path: "detail.n[0].numeric[0]", reason: `"=" cannot be combined`},
	{name: "numeric two lower bounds", pattern: `{"detail":{"n":[{"numeric":[">",0,">=",1]}]}}`, path: "detail.n[0].numeric[2]", reason: "two lower bounds"},
	{name: "numeric two upper bounds", pattern: `{"detail":{"n":[{"numeric":["<",0,"<=",1]}]}}`, path: "detail.n[0].numeric[2]", reason: "two upper bounds"},
	{name: "numeric inverted range", pattern: `{"detail":{"n":[{"numeric":[">",10,"<",5]}]}}`, path: "detail.n[0].numeric", reason: "range is empty"},
	{name: "numeric empty open range", pattern: `{"detail":{"n":[{"numeric":[">",5,"<=",5]}]}}`, path: "detail.n[0].numeric", reason: "range is empty"},
	{name: "numeric operand overflows", pattern: `{"detail":{"n":[{"numeric":[">",1e400]}]}}`, path: "detail.n[0].numeric[1]", reason: "out of range"},
	{name: "exact number overflows", pattern: `{"detail":{"n":[-1e400]}}`, path: "detail.n[0]", reason: "out of range"},

	// --- exists / cidr ------------------------------------------------------
	{name: "exists with a string", pattern: `{"detail":{"n":[{"exists":"true"}]}}`, path: "detail.n[0].exists", reason: "must be true or false, got string"},
	{name: "exists with a number", pattern: `{"detail":{"n":[{"exists":1}]}}`, path: "detail.n[0].exists", reason: "got number"},
	{name: "cidr prefix too long", pattern: `{"detail":{"ip":[{"cidr":"10.0.0.0/33"}]}}`, path: "detail.ip[0].cidr", reason: "not an IPv4 or IPv6 prefix"},
	{name: "cidr bare address", pattern: `{"detail":{"ip":[{"cidr":"10.0.0.1"}]}}`, path: "detail.ip[0].cidr", reason: "CIDR notation"},
	{name: "cidr with a number", pattern: `{"detail":{"ip":[{"cidr":10}]}}`, path: "detail.ip[0].cidr", reason: "must be a string"},

	// --- $or ----------------------------------------------------------------
	{name: "$or is an object", pattern: `{"$or":{"a":["1"]}}`, path: "$or", reason: "must be an array of at least two objects, got object"},
	{name: "$or is a match list", pattern: `{"$or":["a","b"]}`, path: "$or[0]", reason: "must be objects, got string"},
	{name: "$or with one element", pattern: `{"$or":[{"a":["1"]}]}`, path: "$or", reason: "got 1 element(s)"},
	{name: "$or empty", pattern: `{"$or":[]}`, path: "$or", reason: "got 0 element(s)"},
	{name: "$or with an empty object", pattern: `{"$or":[{"a":["1"]},{}]}`, path: "$or[1]", reason: "empty objects are not allowed"},
	{name: "$or with an invalid branch", pattern: `{"detail":{"$or":[{"a":["1"]},{"b":[{"numeric":["<","x"]}]}]}}`, path: "detail.$or[1].b[0].numeric[1]", reason: "must be a number"},
	{name: "nested $or invalid", pattern: `{"$or":[{"a":["1"]},{"b":["2"],"$or":[{"c":["3"]}]}]}`, path: "$or[1].$or", reason: "got 1 element(s)"},
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range compileErrCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := Compile([]byte(tc.pattern))
			if err == nil {
				t.Fatalf("Compile(%s) = %v, nil; want error", tc.pattern, p)
			}
			if p != nil {
				t.Errorf("Compile returned a non-nil pattern with error %v", err)
			}
			if !errors.Is(err, ErrInvalidPattern) {
				t.Errorf("errors.Is(err, ErrInvalidPattern) = false for %v", err)
			}
			var pe *PatternError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *PatternError: %v", err, err)
			}
			if pe.Path != tc.path {
				t.Errorf("Path = %q, want %q (error: %v)", pe.Path, tc.path, err)
			}
			if !strings.Contains(pe.Reason, tc.reason) {
				t.Errorf("Reason = %q, want it to contain %q", pe.Reason, tc.reason)
			}
			if tc.path != "" && !strings.Contains(err.Error(), tc.path) {
				t.Errorf("Error() = %q does not name the path %q", err.Error(), tc.path)
			}
		})
	}
}

func TestCompileErrorUnwrapsCause(t *testing.T) {
	t.Parallel()
	_, err := Compile([]byte(`{"a": [}`))
	var pe *PatternError
	if !errors.As(err, &pe) || pe.Err == nil {
		t.Fatalf("want a *PatternError wrapping the JSON error, got %#v", err)
	}
	if errors.Unwrap(err) != pe.Err {
		t.Error("Unwrap does not return the JSON error")
	}
}

// TestCompileValid covers patterns that are unusual but accepted.
func TestCompileValid(t *testing.T) {
	t.Parallel()
	for _, pattern := range []string{
		`{"source":[{"prefix":""}]}`,
		`{"source":[{"wildcard":"*"}]}`,
		`{"source":[{"wildcard":"\\**"}]}`,
		`{"source":[{"wildcard":"*\\\\*"}]}`,
		`{"source":[{"wildcard":""}]}`,
		`{"n":[{"numeric":[">=",5,"<=",5]}]}`,
		`{"n":[{"numeric":["<",-1e9]}]}`,
		`{"n":[{"exists":true},{"exists":false}]}`,
		`{"ip":[{"cidr":"::/0"}]}`,
		`{"ip":[{"cidr":"10.0.0.1/24"}]}`,
		`{"":["empty key"]}`,
		`{"a":{"$or":[{"b":["1"]},{"c":{"$or":[{"d":["2"]},{"e":["3"]}]}}]}}`,
		` {"source":["aws.ec2"]} ` + "\n",
	} {
		if _, err := Compile([]byte(pattern)); err != nil {
			t.Errorf("Compile(%s): %v", pattern, err)
		}
	}
}

// EventBridge refuses a pattern whose $or members expand to more than 1,000 alternatives:
// sibling and nested $or multiply.
func TestOrCombinationsAreBounded(t *testing.T) {
	t.Parallel()
	or := func(n int) string {
		alts := make([]string, n)
		for i := range alts {
			alts[i] = fmt.Sprintf(`{"f%d":["v"]}`, i)
		}
		return `[` + strings.Join(alts, ",") + `]`
	}
	for _, c := range []struct {
		name    string
		pattern string
		ok      bool
	}{
		{"10 x 10 x 10 = 1000", `{"a":{"$or":` + or(10) + `},"b":{"$or":` + or(10) + `},"c":{"$or":` + or(10) + `}}`, true},
		{"10 x 10 x 11 = 1100", `{"a":{"$or":` + or(10) + `},"b":{"$or":` + or(10) + `},"c":{"$or":` + or(11) + `}}`, false},
		{"one $or of 1001", `{"$or":` + or(1001) + `}`, false},
		{"nested: 2 alternatives of 600", `{"$or":[{"x":{"$or":` + or(600) + `}},{"y":{"$or":` + or(600) + `}}]}`, false},
		{"nested: 2 alternatives of 500", `{"$or":[{"x":{"$or":` + or(500) + `}},{"y":{"$or":` + or(500) + `}}]}`, true},
	} {
		_, err := Compile([]byte(c.pattern))
		if (err == nil) != c.ok {
			t.Errorf("%s: Compile error %v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !c.ok && !strings.Contains(err.Error(), "combinations") {
			t.Errorf("%s: error %v does not say why", c.name, err)
		}
	}
}
