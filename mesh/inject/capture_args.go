package inject

import (
	"errors"
	"fmt"
	"strings"

	"github.com/meshlab/meshlab/mesh/capture"
)

// captureAnnotations maps each per-pod annotation to the capture flag it sets.
var captureAnnotations = []struct {
	annotation string
	set        func(f *capture.Flags, v string)
}{
	{IncludeOutboundIPRangesAnnotation, func(f *capture.Flags, v string) { f.IncludeIPRanges = v }},
	{ExcludeOutboundIPRangesAnnotation, func(f *capture.Flags, v string) { f.ExcludeIPRanges = v }},
	{IncludeInboundPortsAnnotation, func(f *capture.Flags, v string) { f.IncludeInboundPorts = v }},
	{ExcludeInboundPortsAnnotation, func(f *capture.Flags, v string) {
		// The proxy's own ports stay excluded whatever the pod asks for.
		f.ExcludeInboundPorts = joinNonEmpty(capture.DefaultFlags().ExcludeInboundPorts, v)
	}},
	{ExcludeOutboundPortsAnnotation, func(f *capture.Flags, v string) { f.ExcludeOutboundPorts = v }},
}

// captureFlags builds the `meshlab-proxy init` flags for a pod from its annotations and checks
// them with the same parser `mesh init` uses, so a bad annotation is refused at injection time
// (naming the annotation) instead of crash-looping the init container.
func captureFlags(annotations map[string]string) (capture.Flags, error) {
	f := capture.DefaultFlags()
	var errs []error
	for _, a := range captureAnnotations {
		v, ok := annotations[a.annotation]
		if !ok {
			continue
		}
		one := capture.DefaultFlags()
		a.set(&one, v)
		if _, err := one.Parse(); err != nil {
			errs = append(errs, fmt.Errorf("annotation %s=%q: %w", a.annotation, v, err))
			continue
		}
		a.set(&f, v)
	}
	if err := errors.Join(errs...); err != nil {
		return capture.Flags{}, err
	}
	if _, err := f.Parse(); err != nil {
		return capture.Flags{}, fmt.Errorf("capture annotations together: %w", err)
	}
	return f, nil
}

// initArgs renders the flags in istio-init's order and spelling (-p -z -u -m -i -x -b -d -o),
// so an injected pod's init container reads like Istio's.
func initArgs(f capture.Flags) []string {
	return []string{
		"init",
		"-p", f.OutboundPort,
		"-z", f.InboundPort,
		"-u", f.ProxyUID,
		"-m", f.Mode,
		"-i", f.IncludeIPRanges,
		"-x", f.ExcludeIPRanges,
		"-b", f.IncludeInboundPorts,
		"-d", f.ExcludeInboundPorts,
		"-o", f.ExcludeOutboundPorts,
	}
}

// joinNonEmpty joins comma-separated lists, dropping blanks and duplicates and keeping
// first-seen order (no sorting: the proxy's own ports stay first, as istio-init lists them).
func joinNonEmpty(lists ...string) string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lists {
		for _, p := range strings.Split(l, ",") {
			p = strings.TrimSpace(p)
			if p == "" || seen[p] {
				continue
			}
			seen[p] = true
			out = append(out, p)
		}
	}
	return strings.Join(out, ",")
}
