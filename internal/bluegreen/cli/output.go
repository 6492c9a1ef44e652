package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

// printer writes lines and keeps the first write error, so a closed pipe is
// reported once instead of checked after every line.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) Write(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.w.Write(b)
	p.err = err
	return n, err
}

func (p *printer) f(format string, args ...any) { _, _ = fmt.Fprintf(p, format, args...) }

func (p *printer) done() error {
	if p.err != nil {
		return fmt.Errorf("print output: %w", p.err)
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("print json: %w", err)
	}
	return nil
}

// printResult prints what an operation did, the state it left and what to do next.
func printResult(w io.Writer, format string, res *bluegreen.Result) error {
	if format == "json" {
		return printJSON(w, res)
	}
	p := &printer{w: w}
	p.f("%s %s (namespace %s): %s\n", res.Operation, res.Release, res.Namespace, res.Outcome)
	for _, s := range res.Steps {
		mark := map[string]string{"done": "ok  ", "skipped": "skip", "failed": "FAIL", "not started": "stop"}[s.Outcome]
		line := fmt.Sprintf("  [%s] %s", mark, s.Name)
		if s.Detail != "" {
			line += ": " + s.Detail
		}
		p.f("%s (%s)\n", line, s.Elapsed)
	}
	for _, w := range res.Warnings {
		p.f("warning: %s\n", w)
	}
	if res.Error != "" {
		p.f("error: %s\n", res.Error)
	}
	if res.Status != nil {
		p.f("\n")
		writeStatus(p, res.Status, false)
	}
	writeNext(p, res.Next)
	return p.done()
}

func printStatus(w io.Writer, format string, s *bluegreen.Status) error {
	if format == "json" {
		return printJSON(w, s)
	}
	p := &printer{w: w}
	writeStatus(p, s, true)
	writeNext(p, s.Next)
	return p.done()
}

func writeStatus(p *printer, s *bluegreen.Status, header bool) {
	rev := ""
	if s.Revision > 0 {
		rev = fmt.Sprintf(", revision %d", s.Revision)
	}
	if header {
		p.f("release %s (namespace %s, %s%s)\n", s.Release, s.Namespace, s.Source, rev)
		if s.ObjectNamespace != "" {
			p.f("objects in namespace %s (namespaceOverride)\n", s.ObjectNamespace)
		}
	}
	p.f("phase: %s, active %s, idle %s\n", s.Phase, s.Active, s.Idle)
	tw := tabwriter.NewWriter(p, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "COLOR\tROLE\tIMAGE\tVALUES REPLICAS\tDESIRED\tREADY\tAVAILABLE\tHPA CUR/MIN/MAX\tSCALE DOWN AT")
	for _, c := range []values.Color{values.Blue, values.Green} {
		cs := s.Colors[c]
		if cs == nil {
			continue
		}
		replicas := "null"
		if cs.Replicas != nil {
			replicas = fmt.Sprint(*cs.Replicas)
		}
		hpa := "-"
		if cs.HPA != nil {
			hpa = fmt.Sprintf("%d/%d/%d", cs.HPA.Current, cs.HPA.Min, cs.HPA.Max)
		}
		at := "-"
		if cs.ScaleDownAt != nil {
			at = cs.ScaleDownAt.UTC().Format(time.RFC3339)
		}
		image := cs.Image
		if cs.LiveImage != "" && cs.LiveImage != cs.Image {
			image += " (live: " + cs.LiveImage + ")"
		}
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", c, cs.Role, image, replicas, cs.Desired, cs.Ready, cs.Available, hpa, at)
	}
	_ = tw.Flush() // a write error is kept by the printer
	if len(s.Differs) > 0 {
		p.f("%s differs from %s in: %s\n", s.Idle, s.Active, strings.Join(s.Differs, ", "))
	} else {
		p.f("%s and %s run the same snapshot\n", s.Idle, s.Active)
	}
	p.f("service %s -> %s; preview %s -> %s\n", s.Service.Name, orNone(s.Service.Color), s.Preview.Name, orNone(s.Preview.Color))
	switch {
	case s.Lock == nil:
		p.f("lock: free\n")
	case s.Lock.Held:
		p.f("lock: held by %s (%s) until %s unless renewed\n", s.Lock.Holder, orNone(s.Lock.Progress.Operation), s.Lock.Expires.UTC().Format(time.RFC3339))
	case s.Lock.Progress.Step != "":
		pr := s.Lock.Progress
		p.f("lock: free; an interrupted %s left step %q (%s -> %s)\n", pr.Operation, pr.Step, pr.From, pr.To)
	default:
		p.f("lock: free\n")
	}
}

func writeNext(p *printer, next []string) {
	if len(next) == 0 {
		return
	}
	p.f("next:\n")
	for _, n := range next {
		p.f("  %s\n", strings.TrimSpace(n))
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
