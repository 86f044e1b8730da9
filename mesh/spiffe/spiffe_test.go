package spiffe

import (
	"crypto/x509"
	"net/url"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	id := ID{TrustDomain: "cluster.local", Namespace: "bookinfo", ServiceAccount: "bookinfo-reviews"}
	const want = "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews"
	if id.String() != want || id.URL().String() != want {
		t.Fatalf("String %q, URL %q, want %q", id.String(), id.URL(), want)
	}
	got, err := Parse(want)
	if err != nil || got != id {
		t.Fatalf("Parse = %+v, %v; want %+v", got, err, id)
	}
}

func TestParseRefusesOtherShapes(t *testing.T) {
	for _, s := range []string{
		"",
		"https://cluster.local/ns/a/sa/b",
		"spiffe://cluster.local/ns/a",
		"spiffe://cluster.local/ns/a/sa/b/extra",
		"spiffe://cluster.local/sa/b/ns/a",
		"spiffe://Cluster.Local/ns/a/sa/b",
		"spiffe://cluster.local/ns/A/sa/b",
		"spiffe://cluster.local/ns//sa/b",
		"spiffe://cluster.local/ns/a/sa/b?x=1",
		"spiffe://cluster.local:443/ns/a/sa/b",
		"spiffe://user@cluster.local/ns/a/sa/b",
		"spiffe:///ns/a/sa/b",
		"spiffe://cluster.local/ns/-a/sa/b",
	} {
		if id, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", s, id)
		}
	}
}

func TestFromCertificateNeedsExactlyOneURI(t *testing.T) {
	a, _ := url.Parse("spiffe://cluster.local/ns/a/sa/b")
	b, _ := url.Parse("spiffe://cluster.local/ns/c/sa/d")
	if _, err := FromCertificate(&x509.Certificate{}); err == nil {
		t.Error("a certificate without URI SANs has an identity")
	}
	if _, err := FromCertificate(&x509.Certificate{URIs: []*url.URL{a, b}}); err == nil {
		t.Error("a certificate with two URI SANs has an identity")
	}
	id, err := FromCertificate(&x509.Certificate{URIs: []*url.URL{a}})
	if err != nil || id.Namespace != "a" || id.ServiceAccount != "b" {
		t.Errorf("FromCertificate = %+v, %v", id, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("spiffe://cluster.local/ns/default/sa/default")
	f.Add("spiffe://x/ns/a/sa/b?q")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(id.String())
		if err != nil || again != id {
			t.Fatalf("%q parsed to %+v, whose String %q parses to %+v, %v", s, id, id.String(), again, err)
		}
	})
}
