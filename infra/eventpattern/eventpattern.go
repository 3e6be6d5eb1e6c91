// Package eventpattern compiles and evaluates Amazon EventBridge event
// patterns, so that rules can be checked in tests and routed by a local,
// EventBridge-compatible event bus without calling AWS.
//
// It is written from AWS's documented semantics (the EventBridge user guide
// pages on event patterns, arrays, null values, content filtering and
// comparison operators). Where the documentation is silent or ambiguous the
// choice made here is stated on the type or function concerned and
// summarised below.
//
// # Pattern shape
//
// A pattern is a JSON object. Each member is either a nested object, which
// descends into the event object of the same name, or an array of allowed
// values (a "match list"). A match list holds literal strings, numbers,
// booleans and null, and/or single-key operator objects:
//
//	{"prefix": "us-"}                      {"prefix": {"equals-ignore-case": "us-"}}
//	{"suffix": ".png"}                     {"suffix": {"equals-ignore-case": ".PNG"}}
//	{"equals-ignore-case": "alice"}        {"wildcard": "*/lib/*"}
//	{"anything-but": "x"}                  {"anything-but": ["x", "y"]}  {"anything-but": [1, 2]}
//	{"anything-but": {"prefix": "x" | ["x", ...]}}
//	{"anything-but": {"suffix": "x" | ["x", ...]}}
//	{"anything-but": {"equals-ignore-case": "x" | ["x", ...]}}
//	{"anything-but": {"wildcard": "x*" | ["x*", ...]}}
//	{"numeric": [">", 0, "<=", 5]}         {"numeric": ["=", 3.018e2]}
//	{"exists": true}                       {"exists": false}
//	{"cidr": "10.0.0.0/24"}
//
// A "$or" member, at any object level, holds an array of at least two
// non-empty pattern objects; it matches when any of them matches, and is
// ANDed with its sibling members. As on AWS, a pattern whose "$or" members
// expand to more than MaxOrCombinations alternatives is refused.
//
// # Matching
//
// All members of a pattern object must match (AND); a match list matches
// when any of its entries matches the event value (OR). Event members that
// the pattern does not mention are ignored. Only leaf values (strings,
// numbers, booleans, null) are matched by a match list: when the event value
// is an array, the list matches if it matches any element (arrays nested in
// arrays are flattened), and objects are never leaf values.
//
// When a nested pattern object meets an array in the event, the pattern
// object is matched against each array element separately and succeeds if
// any element matches. This is the "array-consistent" behaviour of AWS's
// matcher: two pattern fields are never satisfied by objects in different
// elements of the same array.
//
// Strings are compared as decoded JSON values, byte for byte: JSON escapes
// are resolved first, and there is no case folding or normalisation unless
// an equals-ignore-case form is used.
//
// Choices and deviations, in brief (details on the functions):
//
//   - Literal numbers match by numeric value (300, 300.0 and 3e2 are equal).
//     The AWS guide says exact matching compares the textual form of numbers;
//     numeric equality is used here because MatchDecoded must give the same
//     answer for events decoded with float64, which keeps no textual form.
//     Use {"numeric": ["=", 300]} in rules that must behave identically on
//     AWS.
//   - {"exists": false} is evaluated against the whole event: it matches when
//     the event has no leaf value at that field path anywhere (through any
//     arrays). That covers an absent field or parent object, an object
//     value (not a leaf, per the AWS guide) and an empty array. Every other
//     operator needs a leaf value at the field in the event object (or array
//     element) being tested.
//   - "anything-but" is the negation of its operand over present leaf values
//     of any type; it never matches a missing field.
//   - A malformed "$or" is rejected; AWS's matcher would quietly treat it as
//     an ordinary field name.
//   - Member names are never split on dots: {"a.b": [...]} matches an event
//     member named "a.b", not "a" containing "b".
//   - Duplicate member names in a pattern: the last one wins, as the AWS
//     guide documents.
//   - Numeric operands are not limited to the documented ±1e9 range; any
//     finite float64 is accepted.
//   - Case-insensitive comparisons use Unicode simple case folding.
package eventpattern

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalidPattern is matched (via errors.Is) by every error Compile
// returns, so callers such as a local PutRule implementation can map it to
// an InvalidEventPatternException without inspecting the message.
var ErrInvalidPattern = errors.New("eventpattern: invalid event pattern")

// PatternError describes why a pattern was rejected and where.
type PatternError struct {
	// Path locates the offending element, e.g. `detail.state[0].anything-but`.
	// Object members are joined with dots (quoted when they contain dots,
	// brackets, quotes or spaces) and list elements are shown as [i].
	// It is empty when the pattern as a whole is at fault.
	Path string
	// Reason is a human-readable explanation.
	Reason string
	// Err is an underlying error (from encoding/json or net/netip), if any.
	Err error
}

// Error implements error.
func (e *PatternError) Error() string {
	var b strings.Builder
	b.WriteString("eventpattern: invalid pattern")
	if e.Path != "" {
		b.WriteString(" at ")
		b.WriteString(e.Path)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *PatternError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalidPattern.
func (e *PatternError) Is(target error) bool { return target == ErrInvalidPattern }

// Pattern is a compiled event pattern. It is immutable and safe for
// concurrent use by multiple goroutines.
type Pattern struct {
	root *objectNode
	src  string
}

// String returns the pattern source exactly as it was given to Compile.
func (p *Pattern) String() string {
	if p == nil {
		return ""
	}
	return p.src
}

// Compile parses and validates an EventBridge event pattern (JSON). Invalid
// patterns return a *PatternError that names the offending field path and
// the reason; it also matches ErrInvalidPattern under errors.Is.
func Compile(pattern []byte) (*Pattern, error) {
	v, err := decodeJSON(pattern)
	if err != nil {
		return nil, &PatternError{Reason: "pattern is not valid JSON", Err: err}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, &PatternError{Reason: "pattern must be a JSON object, got " + kindOf(v)}
	}
	root, err := compileObject(obj, nil)
	if err != nil {
		return nil, err
	}
	if n := root.combinations(); n > MaxOrCombinations {
		return nil, &PatternError{Reason: fmt.Sprintf("the pattern's $or members expand to %d combinations; EventBridge allows at most %d", n, MaxOrCombinations)}
	}
	return &Pattern{root: root, src: string(pattern)}, nil
}

// MaxOrCombinations is how many alternatives EventBridge lets the "$or" members of one
// pattern expand to: each "$or" adds its alternatives' combinations, and the members of an
// object multiply theirs, so nested and sibling "$or" members multiply.
const MaxOrCombinations = 1000

// combinations counts the alternatives n expands to, stopping early once past the limit so
// that a hostile pattern cannot overflow the count.
func (n *objectNode) combinations() int {
	total := 1
	for _, f := range n.fields {
		if f.obj != nil {
			total = min(total*f.obj.combinations(), MaxOrCombinations+1)
		}
	}
	if len(n.or) > 0 {
		sum := 0
		for _, alt := range n.or {
			sum = min(sum+alt.combinations(), MaxOrCombinations+1)
		}
		total = min(total*sum, MaxOrCombinations+1)
	}
	return total
}

// Match reports whether the EventBridge event (the full envelope JSON:
// version, id, detail-type, source, account, time, region, resources,
// detail) matches. It returns an error only when event is not a single
// well-formed JSON value. An event that is valid JSON but not an object is
// treated as an object with no members.
func (p *Pattern) Match(event []byte) (bool, error) {
	v, err := decodeJSON(event)
	if err != nil {
		return false, fmt.Errorf("eventpattern: event is not valid JSON: %w", err)
	}
	return p.MatchDecoded(v), nil
}

// MatchDecoded is Match for an already-decoded event, as produced by
// encoding/json into an any (map[string]any, []any, string, bool, nil and
// either json.Number with Decoder.UseNumber or float64). Go integer and
// float32 values are accepted as numbers too. Values of other types are
// treated like objects: they are not leaf values and have no members.
//
// With float64 decoding, integers beyond 2^53 lose precision before they
// reach the matcher; decode with UseNumber (as Match does) to compare them
// exactly.
func (p *Pattern) MatchDecoded(event any) bool {
	if p == nil || p.root == nil {
		return false
	}
	if _, ok := event.(map[string]any); !ok {
		event = nil
	}
	return p.root.matchMembers(asObject(event), &evalState{root: event}, 0)
}

// decodeJSON decodes exactly one JSON value, keeping numbers as json.Number
// so that their text is available for exact comparison.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty input")
		}
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the top-level JSON value")
	}
	return v, nil
}

// ---------------------------------------------------------------------------
// Compiled form

// objectNode is a compiled pattern object.
type objectNode struct {
	fields []fieldNode   // sorted by name, for deterministic evaluation
	or     []*objectNode // alternatives of a "$or" member; nil if none
}

// fieldNode is one pattern member: either a nested object or a match list.
type fieldNode struct {
	name string
	obj  *objectNode
	list *matchList
}

// matchList is a compiled array of allowed values.
type matchList struct {
	// at locates the list in the pattern; its member names form the field
	// path from the event root that {"exists": false} looks up.
	at          *pathElem
	existsTrue  bool
	existsFalse bool
	exact       valueSet
	ops         []matcher
}

// valueSet holds literal values matched by equality.
type valueSet struct {
	strs                  map[string]struct{}
	nums                  []number
	null, isTrue, isFalse bool
}

func (s *valueSet) addString(v string) {
	if s.strs == nil {
		s.strs = make(map[string]struct{})
	}
	s.strs[v] = struct{}{}
}

// contains reports whether the leaf value v equals a member of s. Strings
// compare byte-for-byte (no case folding or normalisation, as documented),
// numbers by value, and types never compare equal to each other.
func (s *valueSet) contains(v any) bool {
	switch x := v.(type) {
	case string:
		_, ok := s.strs[x]
		return ok
	case nil:
		return s.null
	case bool:
		if x {
			return s.isTrue
		}
		return s.isFalse
	}
	if len(s.nums) == 0 {
		return false
	}
	n, ok := eventNumber(v)
	if !ok {
		return false
	}
	for _, lit := range s.nums {
		if lit.equal(n) {
			return true
		}
	}
	return false
}

// matcher is a compiled operator that tests one leaf value.
type matcher interface {
	match(v any) bool
}

// ---------------------------------------------------------------------------
// Compilation

const orKey = "$or"

func compileObject(m map[string]any, at *pathElem) (*objectNode, error) {
	if len(m) == 0 {
		return nil, at.fail("empty objects are not allowed")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)

	n := &objectNode{}
	for _, k := range keys {
		v := m[k]
		if k == orKey {
			alts, err := compileOr(v, at.key(k))
			if err != nil {
				return nil, err
			}
			n.or = alts
			continue
		}
		p := at.member(k)
		switch x := v.(type) {
		case map[string]any:
			child, err := compileObject(x, p)
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, fieldNode{name: k, obj: child})
		case []any:
			list, err := compileList(x, p)
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, fieldNode{name: k, list: list})
		default:
			return nil, p.fail("value must be an object or an array of match values, got " + kindOf(v))
		}
	}
	return n, nil
}

// compileOr compiles a "$or" member. AWS's matcher silently treats a
// malformed "$or" as an ordinary field name for backward compatibility;
// here it is rejected instead, because a pattern author who writes "$or"
// almost certainly meant the operator and would otherwise get a rule that
// never matches.
func compileOr(v any, at *pathElem) ([]*objectNode, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, at.fail("$or must be an array of at least two objects, got " + kindOf(v))
	}
	if len(arr) < 2 {
		return nil, at.fail(fmt.Sprintf("$or must be an array of at least two objects, got %d element(s)", len(arr)))
	}
	alts := make([]*objectNode, 0, len(arr))
	for i, el := range arr {
		p := at.index(i)
		obj, ok := el.(map[string]any)
		if !ok {
			return nil, p.fail("$or elements must be objects, got " + kindOf(el))
		}
		alt, err := compileObject(obj, p)
		if err != nil {
			return nil, err
		}
		alts = append(alts, alt)
	}
	return alts, nil
}

func compileList(arr []any, at *pathElem) (*matchList, error) {
	if len(arr) == 0 {
		return nil, at.fail("empty arrays are not allowed; list at least one value to match")
	}
	l := &matchList{at: at}
	for i, el := range arr {
		p := at.index(i)
		switch x := el.(type) {
		case string:
			l.exact.addString(x)
		case json.Number:
			n, err := patternNumber(x, p)
			if err != nil {
				return nil, err
			}
			l.exact.nums = append(l.exact.nums, n)
		case bool:
			if x {
				l.exact.isTrue = true
			} else {
				l.exact.isFalse = true
			}
		case nil:
			l.exact.null = true
		case []any:
			return nil, p.fail("nested arrays are not allowed in a match list")
		case map[string]any:
			if err := compileOperator(l, x, p); err != nil {
				return nil, err
			}
		default:
			return nil, p.fail("unsupported value of type " + kindOf(el))
		}
	}
	return l, nil
}

const operatorNames = "prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, exists or cidr"

func compileOperator(l *matchList, m map[string]any, at *pathElem) error {
	if len(m) != 1 {
		return at.fail(fmt.Sprintf("a match expression must be an object with exactly one of %s; got %d keys", operatorNames, len(m)))
	}
	var name string
	var v any
	for name, v = range m { // take the only entry
	}
	p := at.key(name)
	switch name {
	case "prefix", "suffix":
		s, fold, err := affixOperand(v, name, p)
		if err != nil {
			return err
		}
		l.ops = append(l.ops, affixMatcher{s: s, suffix: name == "suffix", fold: fold})
	case "equals-ignore-case":
		s, ok := v.(string)
		if !ok {
			return p.fail("equals-ignore-case value must be a string, got " + kindOf(v))
		}
		l.ops = append(l.ops, foldMatcher(s))
	case "wildcard":
		s, ok := v.(string)
		if !ok {
			return p.fail("wildcard value must be a string, got " + kindOf(v))
		}
		g, err := compileWildcard(s, p)
		if err != nil {
			return err
		}
		l.ops = append(l.ops, g)
	case "anything-but":
		ab, err := compileAnythingBut(v, p)
		if err != nil {
			return err
		}
		l.ops = append(l.ops, ab)
	case "numeric":
		nm, err := compileNumeric(v, p)
		if err != nil {
			return err
		}
		l.ops = append(l.ops, nm)
	case "exists":
		b, ok := v.(bool)
		if !ok {
			return p.fail("exists value must be true or false, got " + kindOf(v))
		}
		if b {
			l.existsTrue = true
		} else {
			l.existsFalse = true
		}
	case "cidr":
		cm, err := compileCIDR(v, p)
		if err != nil {
			return err
		}
		l.ops = append(l.ops, cm)
	default:
		return at.fail(fmt.Sprintf("unknown match type %q; expected one of %s", name, operatorNames))
	}
	return nil
}

// affixOperand validates the operand of prefix or suffix: a string, or
// {"equals-ignore-case": string} for a case-insensitive comparison.
func affixOperand(v any, op string, at *pathElem) (s string, fold bool, err error) {
	switch x := v.(type) {
	case string:
		return x, false, nil
	case map[string]any:
		if len(x) == 1 {
			if s, ok := x["equals-ignore-case"].(string); ok {
				return s, true, nil
			}
			if inner, ok := x["equals-ignore-case"]; ok {
				return "", false, &PatternError{Path: at.key("equals-ignore-case").String(), Reason: "equals-ignore-case value must be a string, got " + kindOf(inner)}
			}
		}
	}
	return "", false, at.fail(fmt.Sprintf(`%s value must be a string or {"equals-ignore-case": string}, got %s`, op, kindOf(v)))
}

// compileAnythingBut compiles the operand of anything-but. Per the AWS
// guide it is a single string or number, a non-empty list of only strings or
// only numbers, or an object with one of prefix, suffix, equals-ignore-case
// or wildcard, each a string or a non-empty list of strings (an empty prefix
// or suffix, which would exclude everything, is refused as AWS refuses it).
func compileAnythingBut(v any, at *pathElem) (matcher, error) {
	ab := anythingBut{}
	switch x := v.(type) {
	case string:
		ab.set.addString(x)
	case json.Number:
		n, err := patternNumber(x, at)
		if err != nil {
			return nil, err
		}
		ab.set.nums = append(ab.set.nums, n)
	case []any:
		if len(x) == 0 {
			return nil, at.fail("anything-but list must not be empty")
		}
		var sawString, sawNumber bool
		for i, el := range x {
			p := at.index(i)
			switch e := el.(type) {
			case string:
				sawString = true
				ab.set.addString(e)
			case json.Number:
				sawNumber = true
				n, err := patternNumber(e, p)
				if err != nil {
					return nil, err
				}
				ab.set.nums = append(ab.set.nums, n)
			default:
				return nil, p.fail("anything-but list elements must be strings or numbers, got " + kindOf(el))
			}
			if sawString && sawNumber {
				return nil, at.fail("anything-but list must contain only strings or only numbers, not both")
			}
		}
	case map[string]any:
		if len(x) != 1 {
			return nil, at.fail(fmt.Sprintf("anything-but object must have exactly one of prefix, suffix, equals-ignore-case or wildcard; got %d keys", len(x)))
		}
		var name string
		var operand any
		for name, operand = range x { // take the only entry
		}
		p := at.key(name)
		switch name {
		case "prefix", "suffix":
			strs, err := stringOrStrings(operand, "anything-but "+name, p)
			if err != nil {
				return nil, err
			}
			for i, s := range strs {
				if s == "" {
					ep := p
					if _, isList := operand.([]any); isList {
						ep = p.index(i)
					}
					return nil, ep.fail(fmt.Sprintf("anything-but %s value must not be empty", name))
				}
				ab.ops = append(ab.ops, affixMatcher{s: s, suffix: name == "suffix"})
			}
		case "equals-ignore-case":
			strs, err := stringOrStrings(operand, "anything-but equals-ignore-case", p)
			if err != nil {
				return nil, err
			}
			for _, s := range strs {
				ab.ops = append(ab.ops, foldMatcher(s))
			}
		case "wildcard":
			strs, err := stringOrStrings(operand, "anything-but wildcard", p)
			if err != nil {
				return nil, err
			}
			for i, s := range strs {
				wp := p
				if _, isList := operand.([]any); isList {
					wp = p.index(i)
				}
				g, err := compileWildcard(s, wp)
				if err != nil {
					return nil, err
				}
				ab.ops = append(ab.ops, g)
			}
		default:
			return nil, at.fail(fmt.Sprintf("unknown anything-but match type %q; expected prefix, suffix, equals-ignore-case or wildcard", name))
		}
	default:
		return nil, at.fail("anything-but value must be a string, a number, a list of strings or of numbers, or an object; got " + kindOf(v))
	}
	return ab, nil
}

func stringOrStrings(v any, what string, at *pathElem) ([]string, error) {
	switch x := v.(type) {
	case string:
		return []string{x}, nil
	case []any:
		if len(x) == 0 {
			return nil, at.fail(what + " list must not be empty")
		}
		out := make([]string, 0, len(x))
		for i, el := range x {
			s, ok := el.(string)
			if !ok {
				return nil, at.index(i).fail(what + " list elements must be strings, got " + kindOf(el))
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, at.fail(what + " value must be a string or a list of strings, got " + kindOf(v))
}

// ---------------------------------------------------------------------------
// Helpers shared by compilation and matching

// kindOf names the JSON type of a decoded value for error messages.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// pathElem is one step of a location inside a pattern, linked to its
// parent. Paths are kept as chains rather than strings or slices so that
// compiling a deeply nested pattern stays linear: the text of a path is only
// built when an error is reported.
type pathElem struct {
	parent *pathElem
	name   string
	pos    int  // list position, or -1 for a named step
	field  bool // a pattern member naming an event field (not "$or" or an operator)
}

// member returns the path of the pattern member name, an event field.
func (p *pathElem) member(name string) *pathElem {
	return &pathElem{parent: p, name: name, pos: -1, field: true}
}

// key returns the path of a named step that is not an event field, such as
// "$or" or an operator name.
func (p *pathElem) key(name string) *pathElem {
	return &pathElem{parent: p, name: name, pos: -1}
}

// index returns the path of element i of a list.
func (p *pathElem) index(i int) *pathElem {
	return &pathElem{parent: p, pos: i}
}

// fieldNames returns the event field path (member names only, outermost
// first), appending to buf.
func (p *pathElem) fieldNames(buf []string) []string {
	start := len(buf)
	for e := p; e != nil; e = e.parent {
		if e.field {
			buf = append(buf, e.name)
		}
	}
	slices.Reverse(buf[start:])
	return buf
}

// fail returns a *PatternError at this location.
func (p *pathElem) fail(reason string) *PatternError {
	return &PatternError{Path: p.String(), Reason: reason}
}

// String renders the path as in PatternError.Path.
func (p *pathElem) String() string {
	var chain []*pathElem
	for e := p; e != nil; e = e.parent {
		chain = append(chain, e)
	}
	var b strings.Builder
	for i := len(chain) - 1; i >= 0; i-- {
		e := chain[i]
		if e.pos >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(e.pos))
			b.WriteByte(']')
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		name := e.name
		if name == "" || strings.ContainsAny(name, ".[]\" \t\r\n") || !utf8.ValidString(name) {
			name = strconv.Quote(name)
		}
		b.WriteString(name)
	}
	return b.String()
}

// equalFoldRune reports whether a and b are equal under Unicode simple case
// folding (the relation strings.EqualFold uses).
func equalFoldRune(a, b rune) bool {
	if a == b {
		return true
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}

// hasPrefixFold is strings.HasPrefix under Unicode simple case folding. It
// walks rune by rune because folded forms may differ in byte length.
func hasPrefixFold(s, prefix string) bool {
	for prefix != "" {
		if s == "" {
			return false
		}
		pr, pn := utf8.DecodeRuneInString(prefix)
		sr, sn := utf8.DecodeRuneInString(s)
		if !equalFoldRune(pr, sr) {
			return false
		}
		prefix, s = prefix[pn:], s[sn:]
	}
	return true
}

// hasSuffixFold is strings.HasSuffix under Unicode simple case folding.
func hasSuffixFold(s, suffix string) bool {
	for suffix != "" {
		if s == "" {
			return false
		}
		pr, pn := utf8.DecodeLastRuneInString(suffix)
		sr, sn := utf8.DecodeLastRuneInString(s)
		if !equalFoldRune(pr, sr) {
			return false
		}
		suffix, s = suffix[:len(suffix)-pn], s[:len(s)-sn]
	}
	return true
}
