package propagate

import (
	"net/http"
	"testing"
)

func TestCopyTakesOnlyListedHeaders(t *testing.T) {
	src := http.Header{}
	src.Set("x-request-id", "req-1")
	src.Set("end-user", "jason")
	src.Set("sw8", "1-abc")
	src.Set("x-unrelated", "no")
	dst := http.Header{}
	Copy(dst, src, ProductPageCopied)
	if got := dst.Get("x-request-id"); got != "req-1" {
		t.Errorf("x-request-id = %q, want req-1", got)
	}
	if got := dst.Get("sw8"); got != "1-abc" {
		t.Errorf("sw8 = %q, want 1-abc", got)
	}
	if _, ok := dst["End-User"]; ok {
		t.Error("productpage must not forward a client's end-user header")
	}
	if _, ok := dst["X-Unrelated"]; ok {
		t.Error("unlisted header copied")
	}

	dst = http.Header{}
	Copy(dst, src, ReviewsCopied)
	if got := dst.Get("end-user"); got != "jason" {
		t.Errorf("reviews must forward end-user, got %q", got)
	}
}

func TestB3(t *testing.T) {
	cases := []struct {
		name string
		in   map[string]string
		want map[string]string // nil: nothing injected
	}{
		{
			name: "64-bit trace id padded, parent and flags dropped",
			in: map[string]string{"x-b3-traceid": "463AC35C9F6413AD", "x-b3-spanid": "a2fb4a1d1a96d312",
				"x-b3-parentspanid": "0020000000000001", "x-b3-sampled": "1"},
			want: map[string]string{"x-b3-traceid": "0000000000000000463ac35c9f6413ad",
				"x-b3-spanid": "a2fb4a1d1a96d312", "x-b3-sampled": "1"},
		},
		{
			name: "unsampled by default",
			in:   map[string]string{"x-b3-traceid": "463ac35c9f6413ad48485a3953bb6124", "x-b3-spanid": "a2fb4a1d1a96d312"},
			want: map[string]string{"x-b3-traceid": "463ac35c9f6413ad48485a3953bb6124",
				"x-b3-spanid": "a2fb4a1d1a96d312", "x-b3-sampled": "0"},
		},
		{
			name: "debug flag samples",
			in:   map[string]string{"x-b3-traceid": "463ac35c9f6413ad", "x-b3-spanid": "a2fb4a1d1a96d312", "x-b3-flags": "1"},
			want: map[string]string{"x-b3-traceid": "0000000000000000463ac35c9f6413ad",
				"x-b3-spanid": "a2fb4a1d1a96d312", "x-b3-sampled": "1"},
		},
		{
			name: "single header",
			in:   map[string]string{"b3": "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"},
			want: map[string]string{"x-b3-traceid": "80f198ee56343ba864fe8b2a57d3eff7",
				"x-b3-spanid": "e457b5a2e4d86bd1", "x-b3-sampled": "1"},
		},
		{name: "no context", in: map[string]string{}},
		{name: "bad span id", in: map[string]string{"x-b3-traceid": "463ac35c9f6413ad", "x-b3-spanid": "xyz"}},
		{name: "zero trace id", in: map[string]string{"x-b3-traceid": "0000000000000000", "x-b3-spanid": "a2fb4a1d1a96d312"}},
		{name: "single header sampling only", in: map[string]string{"b3": "0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := http.Header{}
			for k, v := range tc.in {
				src.Set(k, v)
			}
			dst := http.Header{}
			B3(dst, src)
			if tc.want == nil {
				if len(dst) != 0 {
					t.Fatalf("injected %v, want nothing", dst)
				}
				return
			}
			if len(dst) != len(tc.want) {
				t.Errorf("got %d headers %v, want %v", len(dst), dst, tc.want)
			}
			for k, v := range tc.want {
				if got := dst.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}
