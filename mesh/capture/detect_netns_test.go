package capture

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestApplyDetectsVariant runs the real detection: a fresh namespace gets nft; a namespace
// whose rules went in through legacy keeps getting legacy for re-install and clean-up.
func TestApplyDetectsVariant(t *testing.T) {
	needRoot(t, "iptables-nft-restore", "iptables-legacy-restore")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	fresh := newNetns(t, "fresh")
	var used Variant
	err := inNetns(fresh, identity{}, func() (err error) {
		used, err = Apply(ctx, Default(), "", ActionInstall, nil)
		return err
	})
	if err != nil || used != VariantNFT {
		t.Fatalf("fresh namespace: Apply used %q, %v; want nft", used, err)
	}

	legacy := newNetns(t, "legacy")
	err = inNetns(legacy, identity{}, func() error {
		return Installer{Exec: OSExecutor{}, Variant: VariantLegacy}.Install(ctx, Default())
	})
	if err != nil {
		t.Fatalf("legacy install: %v", err)
	}
	for _, action := range []Action{ActionInstall, ActionCleanup} {
		err = inNetns(legacy, identity{}, func() (err error) {
			used, err = Apply(ctx, Default(), "", action, nil)
			return err
		})
		if err != nil || used != VariantLegacy {
			t.Fatalf("action %d after a legacy install: Apply used %q, %v; want legacy", action, used, err)
		}
	}
	for _, v := range []Variant{VariantNFT, VariantLegacy} {
		if out := run(t, "ip", "netns", "exec", legacy, v.Tool(IPv4, "save")); strings.Contains(out, "MESHLAB") {
			t.Fatalf("%s still holds MESHLAB rules after clean-up:\n%s", v, out)
		}
	}
}
