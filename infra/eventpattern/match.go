package eventpattern

import (
	"encoding/json"
)

// maxDepth bounds recursion through nested arrays and objects. encoding/json
// refuses documents nested deeper than 10000 levels, so real events never
// reach it; it only stops a hand-built cyclic value from recursing forever.
const maxDepth = 10000

// asObject returns v as an object, or nil (an object with no members) when
// it is anything else.
func asObject(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// match evaluates a pattern object against an event value. When the value
// is an array, the object must match one element on its own (array
// consistency: fields are never satisfied by different elements). The final
// evaluation with no members lets an all-{"exists": false} pattern object
// match an empty array or an array of scalars, where there is no element
// object to test.
func (n *objectNode) match(v any, st *evalState, depth int) bool {
	if depth > maxDepth {
		return false
	}
	if arr, ok := v.([]any); ok {
		for _, el := range arr {
			if n.match(el, st, depth+1) {
				return true
			}
		}
		return n.matchMembers(nil, st, depth)
	}
	return n.matchMembers(asObject(v), st, depth)
}

// matchMembers evaluates the members of n, and its "$or" alternatives,
// against the members of one event object (nil for none).
func (n *objectNode) matchMembers(obj map[string]any, st *evalState, depth int) bool {
	for i := range n.fields {
		f := &n.fields[i]
		v, present := obj[f.name]
		if f.obj != nil {
			if !f.obj.match(v, st, depth+1) {
				return false
			}
			continue
		}
		if !f.list.match(v, present, st, depth+1) {
			return false
		}
	}
	if n.or == nil {
		return true
	}
	for _, alt := range n.or {
		if alt.matchMembers(obj, st, depth) {
			return true
		}
	}
	return false
}

// match evaluates a match list against the value of its field in the
// current event object.
//
// {"exists": false} is decided on the whole event (root) rather than on the
// current array element: the AWS guide defines it as the event not having
// the field, so an event where any element of an array carries the field
// does not match it.
func (l *matchList) match(v any, present bool, st *evalState, depth int) bool {
	if l.existsFalse && st.fieldAbsent(l) {
		return true
	}
	if !present {
		return false
	}
	return l.matchValue(v, depth)
}

// matchValue tests every leaf value in v (v itself, or the elements of an
// array, flattened) and reports whether any of them matches. Objects are not
// leaf values: per the AWS guide, operators, exists included, work on leaf
// nodes only.
func (l *matchList) matchValue(v any, depth int) bool {
	if depth > maxDepth {
		return false
	}
	if arr, ok := v.([]any); ok {
		for _, el := range arr {
			if l.matchValue(el, depth+1) {
				return true
			}
		}
		return false
	}
	if !isLeaf(v) {
		return false
	}
	if l.existsTrue {
		return true
	}
	if l.exact.contains(v) {
		return true
	}
	for _, op := range l.ops {
		if op.match(v) {
			return true
		}
	}
	return false
}

// evalState is the per-event state of one match.
type evalState struct {
	root any
	// absent memoises fieldAbsent: the answer does not depend on which
	// array element is being tested, and without the memo a pattern
	// object with {"exists": false} matched against an array of n
	// elements would rescan the event n times.
	absent map[*matchList]bool
}

// fieldAbsent reports whether the event has no leaf value at the field path
// of l.
func (st *evalState) fieldAbsent(l *matchList) bool {
	if r, ok := st.absent[l]; ok {
		return r
	}
	var buf [16]string
	r := !hasLeafAt(st.root, l.at.fieldNames(buf[:0]), 0)
	if st.absent == nil {
		st.absent = make(map[*matchList]bool)
	}
	st.absent[l] = r
	return r
}

// hasLeafAt reports whether v holds at least one leaf value at path,
// descending through arrays at every level.
func hasLeafAt(v any, path []string, depth int) bool {
	if depth > maxDepth {
		return false
	}
	if arr, ok := v.([]any); ok {
		for _, el := range arr {
			if hasLeafAt(el, path, depth+1) {
				return true
			}
		}
		return false
	}
	if len(path) == 0 {
		return isLeaf(v)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return false
	}
	child, ok := obj[path[0]]
	if !ok {
		return false
	}
	return hasLeafAt(child, path[1:], depth+1)
}

// isLeaf reports whether v is a JSON scalar: string, number, boolean or null.
func isLeaf(v any) bool {
	switch v.(type) {
	case nil, string, bool, json.Number, float64, float32,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return true
	}
	return false
}
