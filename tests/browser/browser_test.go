// Package browser_test drives the console in headless Chromium (Debian's chromium package,
// through chromedp) against the embedded Herald: a person's day with the Notifications tab,
// axe-core's accessibility rules on every page, and a screenshot of each page saved to
// tests/browser/artifacts (or $HERALD_ARTIFACTS).
package browser_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browser is one headless Chromium tab on the console, with what went wrong in the page.
type browser struct {
	t         *testing.T
	ctx       context.Context
	axe       string
	artifacts string
	mu        sync.Mutex
	problems  []string
}

// chromium finds the browser: the test command installs it in CI, where its absence fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed: .ci/run installs Debian's chromium package for the browser tests")
	}
	t.Skip("chromium is not installed (apt-get install chromium); the browser tests need it")
	return ""
}

// axeSource reads axe-core as npm installed it (tests/browser/package.json).
func axeSource(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("axe-core is not installed (npm ci in tests/browser): %v", err)
		}
		t.Skipf("axe-core is not installed: run npm ci in tests/browser (%v)", err)
	}
	return string(b)
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe, axe := chromium(t), axeSource(t)
	artifacts := os.Getenv("HERALD_ARTIFACTS")
	if artifacts == "" {
		artifacts = "artifacts"
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.WindowSize(1280, 900))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // CI runs as root, where Chromium's sandbox cannot start
	}
	b := &browser{t: t, axe: axe, artifacts: artifacts}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	// Script errors, console errors and Content-Security-Policy violations fail the test.
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithListener(func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			desc := d.Text
			if d.Exception != nil {
				desc += " " + d.Exception.Description
			}
			b.problem(fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, desc))
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				b.problem("console.error: " + strings.Join(args, " "))
			}
		case *log.EventEntryAdded:
			// The API's deliberate 4xx answers are logged by Chromium as network errors.
			if e.Entry.Level == log.EntryLevelError && e.Entry.Source != log.EntrySourceNetwork {
				b.problem(fmt.Sprintf("%s: %s", e.Entry.Source, e.Entry.Text))
			}
		}
	}))
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first Run starts the browser, and it lives as long as ctx: no timeout on this one.
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, log.Enable, cdp.Empty{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, runtime.Enable, cdp.Empty{})
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	b.ctx = ctx
	// The listener is live: a console error in the page is caught.
	b.eval("check the listener", `console.error("listener check"); true`)
	deadline := time.Now().Add(5 * time.Second)
	for !b.reported("listener check") {
		if time.Now().After(deadline) {
			t.Fatal("the page's console errors do not reach the test")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.mu.Lock()
	b.problems = nil
	b.mu.Unlock()
	return b
}

func (b *browser) reported(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		if strings.Contains(p, s) {
			return true
		}
	}
	return false
}

// The page's elements, by CSS selector.
func click(sel string) chromedp.Action[chromedp.Void] { return chromedp.Click(chromedp.CSS(sel)) }
func visible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel))
}
func keys(sel, v string) chromedp.Action[chromedp.Void] {
	return chromedp.SendKeys(chromedp.CSS(sel), v)
}

// setValue sets a field's value as a person's edit would, with its input and change events.
func setValue(sel, v string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q;
		e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); return true })()`, sel, v)
	return chromedp.Steps(visible(sel), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](js)(ctx, t)
		return err
	}))
}

func (b *browser) problem(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, s)
}

// run runs actions, failing the test with what was being done.
func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

// waitText waits until sel's text contains want.
func (b *browser) waitText(sel, want string) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, time.Second)
		var err error
		got, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
		cancel()
		if err == nil && strings.Contains(got, want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.shot("failed-wait")
	b.t.Fatalf("%s says %q, want it to contain %q", sel, got, want)
}

func (b *browser) eval(what, js string) {
	b.t.Helper()
	evaluate[any](b, what, js)
}

// evaluate runs js in the page, awaiting a promise, and decodes its value.
func evaluate[T any](b *browser, what, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.shot("failed-eval")
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// shot saves a screenshot of the whole page.
func (b *browser) shot(name string) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(b.artifacts, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
	}
}

// page checks the page as it stands: a screenshot, axe-core's serious and critical
// violations, and nothing wrong in the console.
func (b *browser) page(name string) {
	b.t.Helper()
	b.shot(name)
	if !evaluate[bool](b, "load axe-core", b.axe+"; typeof axe === 'object'") {
		b.t.Fatal("axe-core did not load")
	}
	violations := evaluate[[]string](b, "run axe-core on "+name, `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
		.filter(v => v.impact === "serious" || v.impact === "critical")
		.map(v => v.id + " (" + v.impact + "): " + v.help + " at " + v.nodes.map(n => n.target.join(" ")).join(", ")))`)
	if len(violations) > 0 {
		b.t.Errorf("%s: accessibility violations:\n%s", name, strings.Join(violations, "\n"))
	}
	b.mu.Lock()
	problems := b.problems
	b.problems = nil
	b.mu.Unlock()
	if len(problems) > 0 {
		b.t.Errorf("%s: the page reported:\n%s", name, strings.Join(problems, "\n"))
	}
}

// waitRows waits until the notifications table shows n rows.
func (b *browser) waitRows(n int) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var rows int
	for time.Now().Before(deadline) {
		rows = evaluate[int](b, "count rows", `document.querySelectorAll("#results tbody tr").length`)
		if rows == n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.shot("failed-rows")
	b.t.Fatalf("the list shows %d rows, want %d", rows, n)
}
