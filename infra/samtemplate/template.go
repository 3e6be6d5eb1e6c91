// Package samtemplate reads Herald's SAM template (template.yaml at the module root). The
// template is the single description of Herald's wiring: tests check it against the code and
// create in DynamoDB Local exactly the tables it defines, and the single-machine runtime takes
// its rules and schedules from it, so nothing is described twice.
//
// SAM CLI cannot run on the development machines, so the template is decoded here with plain
// YAML: CloudFormation short-form tags (!Ref, !GetAtt, !Sub, …) become their long form
// ({"Ref": x}, {"Fn::GetAtt": [resource, attribute]}, {"Fn::Sub": …}).
package samtemplate

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// FileName is the template's name at the module root.
const FileName = "template.yaml"

// Template is a decoded CloudFormation/SAM template.
type Template struct {
	// Path is the file the template was read from.
	Path string
	// Raw is the whole document with short-form intrinsics in long form.
	Raw map[string]any
}

// Resource is one entry of the template's Resources section.
type Resource struct {
	LogicalID  string
	Type       string
	Properties map[string]any
	Metadata   map[string]any
	Condition  string
	// DeletionPolicy and UpdateReplacePolicy are the resource's attributes ("" when absent).
	DeletionPolicy, UpdateReplacePolicy string
}

// Parameter is one entry of the template's Parameters section.
type Parameter struct {
	Name string
	Type string
	// Default is the default value as written (a string, number or bool), nil when absent.
	Default any
	// HasDefault reports whether a Default is present.
	HasDefault bool
	Raw        map[string]any
}

// FindRoot walks up from the working directory to the folder holding go.mod, so that tests
// in any package can locate template.yaml.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !fi.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find module root: no go.mod in the working directory or any parent")
		}
		dir = parent
	}
}

// LoadRoot loads template.yaml from the module root (see FindRoot).
func LoadRoot() (*Template, error) {
	root, err := FindRoot()
	if err != nil {
		return nil, err
	}
	return Load(filepath.Join(root, FileName))
}

// Load parses a template, accepting CloudFormation short-form tags.
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t.Path = path
	return t, nil
}

// Parse decodes a template from YAML (JSON is YAML too).
func Parse(data []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("parse template: expected one YAML document")
	}
	v, err := convert(doc.Content[0])
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	raw, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("parse template: top level is %T, want a mapping", v)
	}
	return &Template{Raw: raw}, nil
}

// convert turns a YAML node into plain Go values (map[string]any, []any, string, int, float64,
// bool, nil), rewriting short-form intrinsic tags into their long form.
func convert(n *yaml.Node) (any, error) {
	if n.Kind == yaml.AliasNode {
		return convert(n.Alias)
	}
	tag := n.Tag
	if strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") && tag != "!" {
		return convertIntrinsic(n)
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping key is not a scalar", k.Line)
			}
			if k.Value == "<<" {
				return nil, fmt.Errorf("line %d: merge keys are not valid CloudFormation", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			cv, err := convert(v)
			if err != nil {
				return nil, err
			}
			m[k.Value] = cv
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			cv, err := convert(c)
			if err != nil {
				return nil, err
			}
			s = append(s, cv)
		}
		return s, nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
	}
}

// convertIntrinsic rewrites !Ref x as {"Ref": x}, !GetAtt A.B as {"Fn::GetAtt": [A, B]},
// !Condition c as {"Condition": c} and any other !Name v as {"Fn::Name": v}.
func convertIntrinsic(n *yaml.Node) (any, error) {
	name := strings.TrimPrefix(n.Tag, "!")
	inner := *n
	inner.Tag = ""
	inner.Style &^= yaml.TaggedStyle
	if inner.Kind == yaml.ScalarNode && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		inner.Tag = "!!str"
	}
	v, err := convert(&inner)
	if err != nil {
		return nil, err
	}
	switch name {
	case "Ref":
		return map[string]any{"Ref": v}, nil
	case "Condition":
		return map[string]any{"Condition": v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q is not Resource.Attribute", n.Line, s)
			}
			return map[string]any{"Fn::GetAtt": []any{res, attr}}, nil
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	default:
		return map[string]any{"Fn::" + name: v}, nil
	}
}

// Section returns a top-level mapping of the template (Resources, Parameters, Globals, …), nil
// when absent.
func (t *Template) Section(name string) map[string]any {
	m, _ := t.Raw[name].(map[string]any)
	return m
}

// Resources returns the template's resources by logical id.
func (t *Template) Resources() map[string]Resource {
	out := map[string]Resource{}
	for id, v := range t.Section("Resources") {
		m, _ := v.(map[string]any)
		r := Resource{LogicalID: id}
		r.Type, _ = m["Type"].(string)
		r.Properties, _ = m["Properties"].(map[string]any)
		r.Metadata, _ = m["Metadata"].(map[string]any)
		r.Condition, _ = m["Condition"].(string)
		r.DeletionPolicy, _ = m["DeletionPolicy"].(string)
		r.UpdateReplacePolicy, _ = m["UpdateReplacePolicy"].(string)
		if r.Properties == nil {
			r.Properties = map[string]any{}
		}
		out[id] = r
	}
	return out
}

// ResourcesOfType returns the resources of one type (e.g. "AWS::DynamoDB::Table").
func (t *Template) ResourcesOfType(typ string) map[string]Resource {
	out := map[string]Resource{}
	for id, r := range t.Resources() {
		if r.Type == typ {
			out[id] = r
		}
	}
	return out
}

// Parameters returns the template's parameters by name.
func (t *Template) Parameters() map[string]Parameter {
	out := map[string]Parameter{}
	for name, v := range t.Section("Parameters") {
		m, _ := v.(map[string]any)
		p := Parameter{Name: name, Raw: m}
		p.Type, _ = m["Type"].(string)
		p.Default, p.HasDefault = m["Default"]
		out[name] = p
	}
	return out
}

// Conditions returns the names of the template's conditions.
func (t *Template) Conditions() map[string]any { return t.Section("Conditions") }

// FunctionProperties returns an AWS::Serverless::Function's properties with Globals.Function
// merged in as SAM merges them (goformation does not): the function's own scalar or intrinsic
// wins, maps (e.g. Environment.Variables) are merged key by key with the function's keys
// winning, and lists are additive, the global entries first.
func (t *Template) FunctionProperties(logicalID string) (map[string]any, error) {
	r, ok := t.Resources()[logicalID]
	if !ok {
		return nil, fmt.Errorf("no resource %s", logicalID)
	}
	if r.Type != "AWS::Serverless::Function" {
		return nil, fmt.Errorf("%s is a %s, not an AWS::Serverless::Function", logicalID, r.Type)
	}
	globals, _ := t.Section("Globals")["Function"].(map[string]any)
	return mergeGlobals(globals, r.Properties), nil
}

func mergeGlobals(global, local map[string]any) map[string]any {
	out := maps.Clone(global)
	if out == nil {
		out = map[string]any{}
	}
	for k, lv := range local {
		gm, gok := out[k].(map[string]any)
		lm, lok := lv.(map[string]any)
		if gok && lok && !isIntrinsic(gm) && !isIntrinsic(lm) {
			out[k] = mergeGlobals(gm, lm)
			continue
		}
		gl, gok := out[k].([]any)
		ll, lok := lv.([]any)
		if gok && lok {
			out[k] = append(slices.Clone(gl), ll...)
			continue
		}
		out[k] = lv
	}
	return out
}

func isIntrinsic(m map[string]any) bool {
	if len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::")
	}
	return false
}

// RefTarget returns the logical id or parameter name a {"Ref": x} or {"Fn::GetAtt": [x, a]}
// value points at, and the intrinsic's name ("Ref" or "Fn::GetAtt"). ok is false for any
// other value.
func RefTarget(v any) (target, intrinsic string, ok bool) {
	m, isMap := v.(map[string]any)
	if !isMap || len(m) != 1 {
		return "", "", false
	}
	if r, has := m["Ref"]; has {
		s, isStr := r.(string)
		return s, "Ref", isStr
	}
	if g, has := m["Fn::GetAtt"]; has {
		switch g := g.(type) {
		case []any:
			if len(g) == 2 {
				s, isStr := g[0].(string)
				return s, "Fn::GetAtt", isStr
			}
		case string:
			res, _, found := strings.Cut(g, ".")
			return res, "Fn::GetAtt", found
		}
	}
	return "", "", false
}

// Lookup follows a path of map keys and list indexes ("Events", "Deliver", "Properties") from
// v; ok is false when any step is missing.
func Lookup(v any, path ...string) (any, bool) {
	for _, p := range path {
		switch c := v.(type) {
		case map[string]any:
			next, ok := c[p]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// Int reads a literal integer, written as a YAML number or a numeric string (CloudFormation
// accepts both).
func Int(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case uint64:
		return int(n), true
	case float64:
		if n == float64(int(n)) {
			return int(n), true
		}
	case string:
		i, err := strconv.Atoi(strings.TrimSpace(n))
		return i, err == nil
	}
	return 0, false
}

// String reads a literal string; numbers and booleans are formatted as CloudFormation would.
func String(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case int, int64, uint64, float64, bool:
		return fmt.Sprint(s), true
	}
	return "", false
}
