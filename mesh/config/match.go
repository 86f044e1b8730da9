package config

import (
	"net/http"
	"regexp"
	"strings"

	"istio.io/api/networking/v1alpha3"
)

// MatchKind is how a StringMatcher compares.
type MatchKind uint8

const (
	MatchExact MatchKind = iota
	MatchPrefix
	MatchRegex   // RE2, whole-string as in Envoy
	MatchPresent // header/query present with any value (an empty Istio match)
)

func (k MatchKind) String() string {
	return [...]string{"exact", "prefix", "regex", "present"}[k]
}

// StringMatcher is one compiled Istio StringMatch.
type StringMatcher struct {
	Kind  MatchKind
	Value string
	re    *regexp.Regexp
}

// Match reports whether s matches.
func (m *StringMatcher) Match(s string) bool {
	switch m.Kind {
	case MatchExact:
		return s == m.Value
	case MatchPrefix:
		return strings.HasPrefix(s, m.Value)
	case MatchRegex:
		return m.re.MatchString(s)
	}
	return true
}

// NamedMatcher matches a header (canonical name) or a query parameter.
type NamedMatcher struct {
	Name string
	StringMatcher
}

// Match is one Istio HTTPMatchRequest; all of its conditions must hold (AND). Conditions that do
// not depend on the request (port, sourceLabels, sourceNamespace) are settled at compile time.
type Match struct {
	Name          string
	URI           *StringMatcher
	IgnoreURICase bool
	Method        *StringMatcher
	Authority     *StringMatcher
	Scheme        *StringMatcher
	Headers       []NamedMatcher
	// WithoutHeaders must all fail: the header is absent or does not match.
	WithoutHeaders []NamedMatcher
	Query          []NamedMatcher
}

// Select returns the first route whose matches accept r, or nil (Envoy's "no route", a 404).
func (h *Host) Select(r *http.Request) *Route {
	for _, rt := range h.Routes {
		if len(rt.Matches) == 0 {
			return rt
		}
		for _, m := range rt.Matches {
			if m.accepts(r) {
				return rt
			}
		}
	}
	return nil
}

func (m *Match) accepts(r *http.Request) bool {
	if m.URI != nil {
		p := r.URL.Path
		if m.IgnoreURICase {
			p = strings.ToLower(p)
		}
		if !m.URI.Match(p) {
			return false
		}
	}
	if m.Method != nil && !m.Method.Match(r.Method) {
		return false
	}
	if m.Authority != nil && !m.Authority.Match(r.Host) {
		return false
	}
	if m.Scheme != nil && !m.Scheme.Match("http") {
		return false
	}
	for i := range m.Headers {
		v, ok := headerValue(r.Header, m.Headers[i].Name)
		if !ok || !m.Headers[i].Match(v) {
			return false
		}
	}
	for i := range m.WithoutHeaders {
		if v, ok := headerValue(r.Header, m.WithoutHeaders[i].Name); ok && m.WithoutHeaders[i].Match(v) {
			return false
		}
	}
	if len(m.Query) > 0 {
		q := r.URL.Query()
		for i := range m.Query {
			vs, ok := q[m.Query[i].Name]
			if !ok || !m.Query[i].Match(vs[0]) {
				return false
			}
		}
	}
	return true
}

// headerValue joins repeated headers with "," as Envoy does before matching.
func headerValue(h http.Header, name string) (string, bool) {
	vs, ok := h[name]
	switch {
	case !ok:
		return "", false
	case len(vs) == 1:
		return vs[0], true
	}
	return strings.Join(vs, ","), true
}

// compileString turns an Istio StringMatch into a matcher; nil in, nil out. An empty match (no
// exact/prefix/regex) means "present", valid for headers and query parameters only.
func compileString(sm *v1alpha3.StringMatch, lower bool) *StringMatcher {
	if sm == nil {
		return nil
	}
	switch t := sm.MatchType.(type) {
	case *v1alpha3.StringMatch_Exact:
		return &StringMatcher{Kind: MatchExact, Value: lowerIf(t.Exact, lower)}
	case *v1alpha3.StringMatch_Prefix:
		return &StringMatcher{Kind: MatchPrefix, Value: lowerIf(t.Prefix, lower)}
	case *v1alpha3.StringMatch_Regex:
		re := regexp.MustCompile("^(?:" + t.Regex + ")$") // validated when loaded
		return &StringMatcher{Kind: MatchRegex, Value: t.Regex, re: re}
	}
	return &StringMatcher{Kind: MatchPresent}
}

func lowerIf(s string, lower bool) string {
	if lower {
		return strings.ToLower(s)
	}
	return s
}

func compileMatch(m *v1alpha3.HTTPMatchRequest) *Match {
	out := &Match{
		Name:          m.Name,
		URI:           compileString(m.Uri, m.IgnoreUriCase),
		IgnoreURICase: m.IgnoreUriCase,
		Method:        compileString(m.Method, false),
		Authority:     compileString(m.Authority, false),
		Scheme:        compileString(m.Scheme, false),
	}
	for _, name := range sortedKeys(m.Headers) {
		out.Headers = append(out.Headers, NamedMatcher{http.CanonicalHeaderKey(name), *compileString(orPresent(m.Headers[name]), false)})
	}
	for _, name := range sortedKeys(m.WithoutHeaders) {
		out.WithoutHeaders = append(out.WithoutHeaders, NamedMatcher{http.CanonicalHeaderKey(name), *compileString(orPresent(m.WithoutHeaders[name]), false)})
	}
	for _, name := range sortedKeys(m.QueryParams) {
		out.Query = append(out.Query, NamedMatcher{name, *compileString(orPresent(m.QueryParams[name]), false)})
	}
	return out
}

func orPresent(sm *v1alpha3.StringMatch) *v1alpha3.StringMatch {
	if sm == nil {
		return &v1alpha3.StringMatch{}
	}
	return sm
}
