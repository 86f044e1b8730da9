// Package analyze finds common mistakes in a mesh's routing config that validation of each
// resource alone cannot see, because they are about how resources relate: a route to a subset no
// DestinationRule defines, a host that matches no Service, and HTTP rules that can never match
// because an earlier rule already matches every request. It reads a model.State, so the same
// checks run on a live cluster (the Kubernetes registry) and on files.
package analyze

import (
	"cmp"
	"fmt"
	"io"
	"slices"

	"github.com/meshlab/meshlab/mesh/pilot/model"
)

// Level is how bad a finding is: an Error means traffic will fail or config is ignored, a
// Warning means the config probably does not do what its author meant.
type Level string

const (
	Error   Level = "Error"
	Warning Level = "Warning"
)

// Codes name each kind of finding (stable, for scripts and docs), in the style of istioctl's.
const (
	CodeUndefinedSubset = "ML0101" // a route's subset is defined by no DestinationRule for its host
	CodeUnknownHost     = "ML0102" // a host names no Service in the registry
	CodeUnreachableRule = "ML0103" // an HTTP rule after a match-everything rule
	CodeShadowedRule    = "ML0104" // an HTTP rule with the same match as an earlier one
)

// Message is one finding, naming the resource and the field path inside it.
type Message struct {
	Level    Level
	Code     string
	Resource string // "VirtualService default/reviews"
	Field    string // "spec.http[0].route[1].destination.subset"
	Text     string
}

func (m Message) String() string {
	return fmt.Sprintf("%s [%s] (%s %s) %s", m.Level, m.Code, m.Resource, m.Field, m.Text)
}

// Analyze runs every check on s and returns the findings sorted by resource, then field.
func Analyze(s model.State) []Message {
	idx := newIndex(s)
	var out []Message
	out = append(out, unknownHosts(s, idx)...)
	out = append(out, undefinedSubsets(s, idx)...)
	out = append(out, unreachableRules(s)...)
	out = append(out, httpOnlyOnTCP(s)...)
	slices.SortStableFunc(out, func(a, b Message) int {
		return cmp.Or(cmp.Compare(a.Resource, b.Resource), cmp.Compare(a.Field, b.Field), cmp.Compare(a.Code, b.Code))
	})
	return out
}

// Errors counts the findings of level Error.
func Errors(ms []Message) int {
	n := 0
	for _, m := range ms {
		if m.Level == Error {
			n++
		}
	}
	return n
}

// Write prints one finding per line, or a line saying there are none.
func Write(w io.Writer, ms []Message) error {
	if len(ms) == 0 {
		_, err := fmt.Fprintln(w, "✔ No problems found.")
		return err
	}
	for _, m := range ms {
		if _, err := fmt.Fprintln(w, m.String()); err != nil {
			return err
		}
	}
	return nil
}
