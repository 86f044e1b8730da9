package capture

import (
	"context"
	"testing"
)

func TestDetect(t *testing.T) {
	const nftRules = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n"
	const legacyOurs = "*nat\n:OUTPUT ACCEPT [0:0]\n:MESHLAB_OUTPUT - [0:0]\n-A OUTPUT -j MESHLAB_OUTPUT\nCOMMIT\n"
	const legacyMore = "*filter\n-A INPUT -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n"
	all := func(string) bool { return true }
	tests := []struct {
		name        string
		exists      func(string) bool
		nft, legacy string
		want        Variant
		wantErr     bool
	}{
		{name: "nothing anywhere prefers nft", exists: all, want: VariantNFT},
		{name: "rules only in legacy", exists: all, legacy: legacyMore, want: VariantLegacy},
		{name: "rules only in nft", exists: all, nft: nftRules, want: VariantNFT},
		{name: "more rules in legacy", exists: all, nft: nftRules, legacy: legacyMore, want: VariantLegacy},
		{name: "meshlab rules win", exists: all, nft: nftRules + nftRules, legacy: legacyOurs, want: VariantLegacy},
		{name: "only legacy installed", exists: func(c string) bool { return c == "iptables-legacy-save" }, want: VariantLegacy},
		{name: "only plain iptables", exists: func(c string) bool { return c == "iptables-restore" }, want: VariantSystem},
		{name: "no iptables", exists: func(string) bool { return false }, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &Recorder{}
			rec.Answer("iptables-nft-save", []byte(tc.nft))
			rec.Answer("iptables-legacy-save", []byte(tc.legacy))
			got, err := Detector{Exec: rec, Exists: tc.exists}.Detect(context.Background())
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("Detect = %q, %v; want %q (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestVariantTool(t *testing.T) {
	for _, tc := range []struct {
		v    Variant
		f    Family
		s    string
		want string
	}{
		{VariantNFT, IPv4, "restore", "iptables-nft-restore"},
		{VariantLegacy, IPv6, "save", "ip6tables-legacy-save"},
		{VariantSystem, IPv6, "restore", "ip6tables-restore"},
		{VariantNFT, IPv4, "", "iptables-nft"},
	} {
		if got := tc.v.Tool(tc.f, tc.s); got != tc.want {
			t.Errorf("%s.Tool(%s, %q) = %q, want %q", tc.v, tc.f, tc.s, got, tc.want)
		}
	}
	for in, want := range map[string]Variant{"auto": "", "": "", "NFT": VariantNFT, "legacy": VariantLegacy, "system": VariantSystem} {
		if got, err := ParseVariant(in); err != nil || got != want {
			t.Errorf("ParseVariant(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseVariant("iptables"); err == nil {
		t.Error("ParseVariant accepted an unknown back end")
	}
}
