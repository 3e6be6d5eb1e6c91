package cost

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/heraldhq/herald/infra/samtemplate"
)

// Spec is what template.yaml says of a function that its bill depends on.
type Spec struct {
	LogicalID string
	MemoryMB  int
	// Arch is the function's architecture (x86_64 when the template names none).
	Arch string
	// LogLevel is the application log level Lambda keeps: LoggingConfig.ApplicationLogLevel,
	// INFO when unset (Lambda's default for the JSON log format).
	LogLevel slog.Level
	// SystemLogLevel is the level of Lambda's own lines it keeps: LoggingConfig.SystemLogLevel,
	// INFO when unset. Its start and report lines are INFO, so above INFO they cost nothing.
	SystemLogLevel slog.Level
}

// SpecOf reads a function's memory, architecture and log level, with Globals applied.
func SpecOf(t *samtemplate.Template, logicalID string) (Spec, error) {
	props, err := t.FunctionProperties(logicalID)
	if err != nil {
		return Spec{}, fmt.Errorf("function %s in template.yaml: %w", logicalID, err)
	}
	s := Spec{LogicalID: logicalID, MemoryMB: 128, Arch: "x86_64", LogLevel: slog.LevelInfo, SystemLogLevel: slog.LevelInfo} // Lambda's defaults
	if v, ok := samtemplate.Lookup(props, "MemorySize"); ok {
		if s.MemoryMB, ok = samtemplate.Int(v); !ok {
			return Spec{}, fmt.Errorf("%s: MemorySize %v is not a literal number", logicalID, v)
		}
	}
	if v, ok := samtemplate.Lookup(props, "Architectures", "0"); ok {
		if s.Arch, ok = samtemplate.String(v); !ok {
			return Spec{}, fmt.Errorf("%s: Architectures %v is not a literal", logicalID, v)
		}
	}
	for key, dst := range map[string]*slog.Level{"ApplicationLogLevel": &s.LogLevel, "SystemLogLevel": &s.SystemLogLevel} {
		if v, ok := samtemplate.Lookup(props, "LoggingConfig", key); ok {
			name, _ := samtemplate.String(v)
			if err := dst.UnmarshalText([]byte(name)); err != nil {
				return Spec{}, fmt.Errorf("%s: %s %v: %w", logicalID, key, v, err)
			}
		}
	}
	return s, nil
}

// Line is one component of a bill.
type Line struct {
	Component string
	Unit      string
	// Units and Dollars are per Workload.Per of the workload's unit.
	Units, Dollars float64
	// Measured is false for a line estimated rather than measured.
	Measured bool
}

// Workload says what a bill is for: Count of Unit were measured, and the bill is per Per of
// them (a million, or the runs of a month for the scheduled functions at idle).
type Workload struct {
	Name  string
	Unit  string
	Count int
	Per   float64
	// SlackPosts are the messages Slack's incoming webhooks received: Slack charges AWS
	// nothing for them, but a table that leaves them out hides what a notification sends.
	SlackPosts int
}

// PerMillion is a workload measured over count of unit, priced per million of them.
func PerMillion(name, unit string, count int) Workload {
	return Workload{Name: name, Unit: unit, Count: count, Per: 1e6}
}

// Bill is a workload's cost per Per of its unit.
type Bill struct {
	Workload
	Lines []Line
}

// Total is the bill's sum in dollars.
func (b Bill) Total() float64 {
	var t float64
	for _, l := range b.Lines {
		t += l.Dollars
	}
	return t
}

// Line returns the bill's line of a component, false when it has none.
func (b Bill) Line(component string) (Line, bool) {
	for _, l := range b.Lines {
		if l.Component == component {
			return l, true
		}
	}
	return Line{}, false
}

// Metered is a Lambda function's meter with its template spec; the event source mapping's
// meter (Lambda's own SQS polling, billed as SQS requests) has no spec.
type Metered struct {
	Fn   *Function
	Spec *Spec
}

// gib: CloudWatch Logs bills ingestion by the GB, taken as 2^30 bytes.
const gib = 1 << 30

// Components of a bill that only some workloads have, by the names Line finds them.
const (
	ComponentSES   = "SES"
	ComponentSlack = "Slack (not AWS)"
)

// Price turns what the functions consumed for the workload into its bill. SES and Slack lines
// appear only for a workload that sent email or posted to Slack, so that the webhook tables
// stay as they were.
func Price(p Prices, w Workload, fns []Metered) (Bill, error) {
	if w.Count <= 0 || w.Per <= 0 {
		return Bill{}, fmt.Errorf("workload %q: %d %s measured, per %v: want both positive", w.Name, w.Count, w.Unit, w.Per)
	}
	perM := w.Per / float64(w.Count)
	var all Usage
	var gbs, gbsDollars, invocations, platformInvocations float64
	for _, m := range fns {
		u := m.Fn.Usage()
		all = all.Add(u)
		if m.Spec == nil {
			continue
		}
		price, err := p.GBSecond(m.Spec.Arch)
		if err != nil {
			return Bill{}, err
		}
		g := u.Billed.Seconds() * float64(m.Spec.MemoryMB) / 1024
		gbs += g
		gbsDollars += g * price
		invocations += float64(u.Invocations)
		if m.Spec.SystemLogLevel <= slog.LevelInfo {
			platformInvocations += float64(u.Invocations)
		}
	}
	pp := p.Prices
	logBytes := float64(all.LogBytes + all.MetricBytes)
	platformBytes := platformInvocations * p.Estimates.PlatformLogBytesPerInvocation
	b := Bill{Workload: w, Lines: []Line{
		{"EventBridge", "events (64 KB)", float64(all.Events) * perM, float64(all.Events) * perM * pp.EventsPerMillion / 1e6, true},
		{"Lambda requests", "invocations", invocations * perM, invocations * perM * pp.LambdaRequestsPerMillion / 1e6, true},
		{"Lambda GB-s", "GB-s", gbs * perM, gbsDollars * perM, true},
		{"DynamoDB reads", "read units", all.ReadUnits * perM, all.ReadUnits * perM * pp.DynamoReadsPerMillion / 1e6, all.EstimatedCalls == 0},
		{"DynamoDB writes", "write units", all.WriteUnits * perM, all.WriteUnits * perM * pp.DynamoWritesPerMillion / 1e6, all.EstimatedCalls == 0},
		{"SQS", "requests (64 KB)", float64(all.SQSRequests) * perM, float64(all.SQSRequests) * perM * pp.SQSStandardPerMillion / 1e6, true},
		{"CloudWatch Logs", "GB (logs+EMF)", logBytes * perM / gib, logBytes * perM / gib * pp.LogsIngestionPerGB, true},
		{"CloudWatch Logs, platform", "GB", platformBytes * perM / gib, platformBytes * perM / gib * pp.LogsIngestionPerGB, false},
	}}
	if all.SESEmails > 0 {
		emails := float64(all.SESEmails) * perM
		b.Lines = append(b.Lines, Line{ComponentSES, "emails", emails, emails * pp.SESPerThousand / 1e3, true})
	}
	if w.SlackPosts > 0 {
		b.Lines = append(b.Lines, Line{ComponentSlack, "posts", float64(w.SlackPosts) * perM, 0, true})
	}
	return b, nil
}

// Print writes the bill as a table.
func (b Bill) Print(w io.Writer) {
	fmt.Fprintf(w, "\n%s: %d %s measured, per %s %s\n", b.Name, b.Count, b.Unit, per(b.Per), b.Unit)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "component\tunits\tunit\t$\thow\t")
	for _, l := range b.Lines {
		how := "measured"
		if !l.Measured {
			how = "ESTIMATED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.4f\t%s\t\n", l.Component, groupDigits(l.Units), l.Unit, l.Dollars, how)
	}
	fmt.Fprintf(tw, "total\t\t\t%.4f\t\t\n", b.Total())
	tw.Flush()
}

func per(n float64) string {
	if n == 1e6 {
		return "million"
	}
	return groupDigits(n)
}

func groupDigits(v float64) string {
	switch {
	case v >= 100:
		s := fmt.Sprintf("%.0f", v)
		var out strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				out.WriteByte(',')
			}
			out.WriteRune(c)
		}
		return out.String()
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.4f", v)
	}
}
