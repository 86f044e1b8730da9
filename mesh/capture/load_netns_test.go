package capture

import (
	"context"
	"testing"
	"time"
)

// TestGoldenCasesLoad installs every golden option set for real, under both back ends, so that
// each rule form (multiport, owner, IPv6 ranges) is known to be accepted by the kernel and the
// tools, then removes it again.
func TestGoldenCasesLoad(t *testing.T) {
	for _, v := range []Variant{VariantNFT, VariantLegacy} {
		t.Run(string(v), func(t *testing.T) {
			needRoot(t, v.Tool(IPv4, "restore"), v.Tool(IPv6, "restore"))
			ns := newNetns(t, "load")
			in := Installer{Exec: OSExecutor{}, Variant: v}
			for _, tc := range goldenCases {
				f := DefaultFlags()
				tc.flags(&f)
				cfg, err := f.Parse()
				if err != nil {
					t.Fatalf("%s: parse flags: %v", tc.name, err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				err = inNetns(ns, identity{}, func() error {
					if err := in.Install(ctx, cfg); err != nil {
						return err
					}
					return in.Cleanup(ctx, true)
				})
				cancel()
				if err != nil {
					t.Errorf("%s: %v", tc.name, err)
				}
			}
		})
	}
}
