package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// RenderTable writes the checklist as an aligned table, then one explained paragraph per
// failure or warning (the error and the hint).
func RenderTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tEXPECTED\tOBSERVED\tRESULT\tTIME")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2fs\n", r.Category+"/"+r.Check, r.Expected,
			oneLine(r.Observed), r.Status, r.Seconds)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var passed, failed, other int
	for _, r := range results {
		switch r.Status {
		case Passed:
			passed++
		case Failed:
			failed++
		default:
			other++
		}
		if r.Status != Failed && r.Status != Warning && r.Status != NotInBundle {
			continue
		}
		fmt.Fprintf(w, "\n%s %s/%s: %s\n", r.Status, r.Category, r.Check, strings.ReplaceAll(r.Error, "\n", "; "))
		if r.Hint != "" {
			fmt.Fprintf(w, "  hint: %s\n", r.Hint)
		}
	}
	_, err := fmt.Fprintf(w, "\n%d passed, %d failed, %d other (skipped, warnings, not in the offline bundle)\n", passed, failed, other)
	return err
}

// Report is the JSON document of a run.
type Report struct {
	Passed  bool     `json:"passed"`
	Results []Result `json:"checks"`
}

// RenderJSON writes the results as one indented JSON document.
func RenderJSON(w io.Writer, results []Result) error {
	rep := Report{Passed: true, Results: results}
	for _, r := range results {
		if r.Failed() {
			rep.Passed = false
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}
