package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen"
)

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
	fmt.Fprintf(w, "%s %s (namespace %s): %s\n", res.Operation, res.Release, res.Namespace, res.Outcome)
	for _, s := range res.Steps {
		mark := map[string]string{"done": "ok  ", "skipped": "skip", "failed": "FAIL"}[s.Outcome]
		line := fmt.Sprintf("  [%s] %s", mark, s.Name)
		if s.Detail != "" {
			line += ": " + s.Detail
		}
		fmt.Fprintf(w, "%s (%s)\n", line, s.Elapsed)
	}
	if res.Error != "" {
		fmt.Fprintf(w, "error: %s\n", res.Error)
	}
	if res.Status != nil {
		fmt.Fprintln(w)
		writeStatus(w, res.Status, false)
	}
	writeNext(w, res.Next)
	return nil
}

func printStatus(w io.Writer, format string, s *bluegreen.Status) error {
	if format == "json" {
		return printJSON(w, s)
	}
	writeStatus(w, s, true)
	writeNext(w, s.Next)
	return nil
}

func writeStatus(w io.Writer, s *bluegreen.Status, header bool) {
	rev := ""
	if s.Revision > 0 {
		rev = fmt.Sprintf(", revision %d", s.Revision)
	}
	if header {
		fmt.Fprintf(w, "release %s (namespace %s, %s%s)\n", s.Release, s.Namespace, s.Source, rev)
	}
	fmt.Fprintf(w, "phase: %s, active %s, idle %s\n", s.Phase, s.Active, s.Idle)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COLOR\tROLE\tIMAGE\tVALUES REPLICAS\tDESIRED\tREADY\tAVAILABLE\tHPA CUR/MIN/MAX\tSCALE DOWN AT")
	for _, c := range []bluegreen.Color{bluegreen.Blue, bluegreen.Green} {
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", c, cs.Role, image, replicas, cs.Desired, cs.Ready, cs.Available, hpa, at)
	}
	tw.Flush()
	fmt.Fprintf(w, "service %s -> %s; preview %s -> %s\n", s.Service.Name, orNone(s.Service.Color), s.Preview.Name, orNone(s.Preview.Color))
	switch {
	case s.Lock == nil:
		fmt.Fprintln(w, "lock: free")
	case s.Lock.Held:
		fmt.Fprintf(w, "lock: held by %s (%s) until %s unless renewed\n", s.Lock.Holder, orNone(s.Lock.Progress.Operation), s.Lock.Expires.UTC().Format(time.RFC3339))
	case s.Lock.Progress.Step != "":
		p := s.Lock.Progress
		fmt.Fprintf(w, "lock: free; an interrupted %s left step %q (%s -> %s)\n", p.Operation, p.Step, p.From, p.To)
	default:
		fmt.Fprintln(w, "lock: free")
	}
}

func writeNext(w io.Writer, next []string) {
	if len(next) == 0 {
		return
	}
	fmt.Fprintln(w, "next:")
	for _, n := range next {
		fmt.Fprintf(w, "  %s\n", strings.TrimSpace(n))
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
