package eventpattern

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// ---------------------------------------------------------------------------
// prefix / suffix / equals-ignore-case

// affixMatcher implements prefix and suffix, optionally case-insensitive.
// Like every string operator it only matches string values: the AWS guide
// says prefix and suffix matching work on string values only.
type affixMatcher struct {
	s      string
	suffix bool
	fold   bool
}

func (m affixMatcher) match(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	switch {
	case m.suffix && m.fold:
		return hasSuffixFold(s, m.s)
	case m.suffix:
		return strings.HasSuffix(s, m.s)
	case m.fold:
		return hasPrefixFold(s, m.s)
	default:
		return strings.HasPrefix(s, m.s)
	}
}

// foldMatcher implements equals-ignore-case using Unicode simple case
// folding (strings.EqualFold). AWS does not document which case mapping it
// uses; for ASCII, which covers practically all event values, every
// reasonable choice agrees.
type foldMatcher string

func (m foldMatcher) match(v any) bool {
	s, ok := v.(string)
	return ok && strings.EqualFold(s, string(m))
}

// ---------------------------------------------------------------------------
// wildcard

// wildcardMatcher is a compiled wildcard expression: literal segments that
// were separated by unescaped '*' characters. A pattern without '*' has one
// segment and is an exact match.
type wildcardMatcher struct {
	segs []string
}

// compileWildcard parses a wildcard operand. As documented by AWS, '*'
// matches any run of characters (including none), "\*" is a literal
// asterisk and "\\" a literal backslash; a backslash before any other
// character (or at the end) is rejected, and so are two consecutive
// unescaped '*' characters.
func compileWildcard(s string, at *pathElem) (wildcardMatcher, error) {
	var segs []string
	var cur strings.Builder
	prevStar := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			if i+1 >= len(s) || (s[i+1] != '*' && s[i+1] != '\\') {
				return wildcardMatcher{}, at.fail(fmt.Sprintf(`invalid wildcard %q: a backslash may only escape "*" or "\" (offset %d)`, s, i))
			}
			i++
			cur.WriteByte(s[i])
			prevStar = false
		case '*':
			if prevStar {
				return wildcardMatcher{}, at.fail(fmt.Sprintf("invalid wildcard %q: consecutive wildcard characters are not allowed (offset %d)", s, i))
			}
			segs = append(segs, cur.String())
			cur.Reset()
			prevStar = true
		default:
			cur.WriteByte(c)
			prevStar = false
		}
	}
	segs = append(segs, cur.String())
	if stars := len(segs) - 1; stars > MaxWildcards {
		return wildcardMatcher{}, at.fail(fmt.Sprintf("invalid wildcard %q: %d wildcard characters make the pattern too complex; at most %d", s, stars, MaxWildcards))
	}
	return wildcardMatcher{segs: segs}, nil
}

// MaxWildcards bounds the '*' characters of one wildcard operand. EventBridge refuses wildcard
// patterns that are too complex to evaluate but publishes no figure; its guide advises against
// patterns with many wildcards. Five covers every pattern in that guide ("*/lib/*" has two)
// with room to spare, and keeps a pattern's evaluation cost linear in what it lists.
const MaxWildcards = 5

// match runs in O(len(s) * total segment length) at worst: the first segment
// is anchored at the start, the last at the end, and each middle segment is
// placed at its leftmost occurrence, which is optimal for '*'-only globs.
func (m wildcardMatcher) match(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	if len(m.segs) == 1 {
		return s == m.segs[0]
	}
	first, last := m.segs[0], m.segs[len(m.segs)-1]
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	for _, mid := range m.segs[1 : len(m.segs)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return strings.HasSuffix(s, last)
}

// ---------------------------------------------------------------------------
// anything-but

// anythingBut matches any present leaf value that its operand does not
// match: a literal set (strings or numbers) or string operators. Because it
// is a plain negation, a number or boolean event value satisfies a string
// anything-but, and a non-string value satisfies anything-but prefix.
// A missing field never reaches it, so it never matches one.
type anythingBut struct {
	set valueSet
	ops []matcher
}

func (m anythingBut) match(v any) bool {
	if m.set.contains(v) {
		return false
	}
	for _, op := range m.ops {
		if op.match(v) {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// numeric

// numericMatcher is a numeric comparison: either equality or a range with
// an optional lower and an optional upper bound. It only matches JSON
// numbers, never numeric-looking strings, as documented.
type numericMatcher struct {
	hasLo, hasHi   bool
	lo, hi         float64
	loIncl, hiIncl bool
}

func (m numericMatcher) match(v any) bool {
	f, ok := eventFloat(v)
	if !ok {
		return false
	}
	if m.hasLo && (f < m.lo || (f == m.lo && !m.loIncl)) {
		return false
	}
	if m.hasHi && (f > m.hi || (f == m.hi && !m.hiIncl)) {
		return false
	}
	return true
}

// compileNumeric validates a numeric operand: ["=", n], [op, n] with op one
// of <, <=, >, >=, or a range of one lower bound (>, >=) and one upper bound
// (<, <=) such as [">", 0, "<=", 5]. The bounds may be given in either order;
// the AWS examples put the lower bound first. A range that no number can
// satisfy is rejected rather than silently never matching.
func compileNumeric(v any, at *pathElem) (matcher, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, at.fail(`numeric value must be an array such as [">", 0, "<=", 5], got ` + kindOf(v))
	}
	if len(arr) != 2 && len(arr) != 4 {
		return nil, at.fail(fmt.Sprintf("numeric array must hold one or two operator/number pairs, got %d element(s)", len(arr)))
	}
	var m numericMatcher
	for i := 0; i < len(arr); i += 2 {
		op, ok := arr[i].(string)
		if !ok {
			return nil, at.index(i).fail("numeric operator must be a string (=, <, <=, >, >=), got " + kindOf(arr[i]))
		}
		num, ok := arr[i+1].(json.Number)
		if !ok {
			return nil, at.index(i + 1).fail(fmt.Sprintf("numeric operand for %q must be a number, got %s", op, kindOf(arr[i+1])))
		}
		n, err := patternNumber(num, at.index(i+1))
		if err != nil {
			return nil, err
		}
		switch op {
		case "=":
			if len(arr) != 2 {
				return nil, at.index(i).fail(`numeric "=" cannot be combined with another comparison`)
			}
			m = numericMatcher{hasLo: true, hasHi: true, lo: n.f, hi: n.f, loIncl: true, hiIncl: true}
		case ">", ">=":
			if m.hasLo {
				return nil, at.index(i).fail("numeric range has two lower bounds; combine one of >, >= with one of <, <=")
			}
			m.hasLo, m.lo, m.loIncl = true, n.f, op == ">="
		case "<", "<=":
			if m.hasHi {
				return nil, at.index(i).fail("numeric range has two upper bounds; combine one of >, >= with one of <, <=")
			}
			m.hasHi, m.hi, m.hiIncl = true, n.f, op == "<="
		default:
			return nil, at.index(i).fail(fmt.Sprintf("unknown numeric operator %q; expected =, <, <=, > or >=", op))
		}
	}
	if m.hasLo && m.hasHi && (m.lo > m.hi || (m.lo == m.hi && !(m.loIncl && m.hiIncl))) {
		return nil, at.fail(fmt.Sprintf("numeric range is empty: lower bound %v is not below upper bound %v", m.lo, m.hi))
	}
	return m, nil
}

// ---------------------------------------------------------------------------
// cidr

// cidrMatcher matches string values that are IPv4 or IPv6 addresses inside
// the prefix. IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) are compared as
// IPv4 against an IPv4 prefix.
type cidrMatcher struct {
	prefix netip.Prefix
}

func compileCIDR(v any, at *pathElem) (matcher, error) {
	s, ok := v.(string)
	if !ok {
		return nil, at.fail("cidr value must be a string such as \"10.0.0.0/24\", got " + kindOf(v))
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return nil, &PatternError{Path: at.String(), Reason: fmt.Sprintf("cidr value %q is not an IPv4 or IPv6 prefix in CIDR notation", s), Err: err}
	}
	return cidrMatcher{prefix: p.Masked()}, nil
}

func (m cidrMatcher) match(v any) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	if m.prefix.Addr().Is4() {
		a = a.Unmap()
	}
	return m.prefix.Contains(a)
}

// ---------------------------------------------------------------------------
// numbers

// number is a numeric literal. f is its float64 value; canon, when not
// empty, is a canonical decimal text (see canonicalDecimal) that allows
// exact comparison beyond float64 precision.
type number struct {
	f     float64
	canon string
}

// equal compares exactly when both sides carry their decimal text, and by
// float64 value otherwise (an event decoded into float64 has already lost
// any extra precision, so float64 equality is the best available answer).
func (a number) equal(b number) bool {
	if a.canon != "" && b.canon != "" {
		return a.canon == b.canon
	}
	return a.f == b.f
}

// patternNumber converts a number literal in a pattern. Literals outside the
// float64 range are rejected because they could never be compared
// meaningfully.
func patternNumber(n json.Number, at *pathElem) (number, error) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return number{}, &PatternError{Path: at.String(), Reason: fmt.Sprintf("number %s is out of range", n), Err: err}
	}
	canon, _ := canonicalDecimal(string(n))
	return number{f: f, canon: canon}, nil
}

// eventNumber converts an event leaf value to a number, if it is one.
func eventNumber(v any) (number, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return number{}, false
		}
		canon, _ := canonicalDecimal(string(x))
		return number{f: f, canon: canon}, true
	case float64:
		return number{f: x}, true
	case float32:
		return number{f: float64(x)}, true
	case int:
		return intNumber(int64(x)), true
	case int8:
		return intNumber(int64(x)), true
	case int16:
		return intNumber(int64(x)), true
	case int32:
		return intNumber(int64(x)), true
	case int64:
		return intNumber(x), true
	case uint:
		return uintNumber(uint64(x)), true
	case uint8:
		return uintNumber(uint64(x)), true
	case uint16:
		return uintNumber(uint64(x)), true
	case uint32:
		return uintNumber(uint64(x)), true
	case uint64:
		return uintNumber(x), true
	}
	return number{}, false
}

func intNumber(i int64) number {
	c, _ := canonicalDecimal(strconv.FormatInt(i, 10))
	return number{f: float64(i), canon: c}
}

func uintNumber(u uint64) number {
	c, _ := canonicalDecimal(strconv.FormatUint(u, 10))
	return number{f: float64(u), canon: c}
}

// eventFloat returns the float64 value of a numeric event leaf. It avoids
// building the canonical text, which numeric comparisons do not need.
func eventFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0, false
		}
		return f, true
	case float64:
		return x, true
	}
	n, ok := eventNumber(v)
	return n.f, ok
}

// canonicalDecimal rewrites a JSON number literal as
// [-]<digits>e<exponent> with no leading or trailing zeros in digits, so that
// two literals denote the same value exactly when their canonical forms are
// equal (zero is always "0"). It reports false for text that is not JSON
// number syntax or whose exponent is absurdly long; callers then fall back
// to float64 comparison.
func canonicalDecimal(s string) (string, bool) {
	i := 0
	neg := false
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	intStart := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[intStart:i]
	if intPart == "" || (len(intPart) > 1 && intPart[0] == '0') {
		return "", false
	}
	frac := ""
	if i < len(s) && s[i] == '.' {
		i++
		fracStart := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		frac = s[fracStart:i]
		if frac == "" {
			return "", false
		}
	}
	var exp int64
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expNeg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			expNeg = s[i] == '-'
			i++
		}
		expStart := i
		for i < len(s) && isDigit(s[i]) {
			if i-expStart >= 15 {
				return "", false
			}
			exp = exp*10 + int64(s[i]-'0')
			i++
		}
		if i == expStart {
			return "", false
		}
		if expNeg {
			exp = -exp
		}
	}
	if i != len(s) {
		return "", false
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		return "0", true
	}
	exp -= int64(len(frac))
	trimmed := strings.TrimRight(digits, "0")
	exp += int64(len(digits) - len(trimmed))
	var b strings.Builder
	b.Grow(len(trimmed) + 8)
	if neg {
		b.WriteByte('-')
	}
	b.WriteString(trimmed)
	b.WriteByte('e')
	b.WriteString(strconv.FormatInt(exp, 10))
	return b.String(), true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
