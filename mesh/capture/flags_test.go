package capture

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultFlagsParseToDefault(t *testing.T) {
	got, err := DefaultFlags().Parse()
	if err != nil {
		t.Fatalf("parse defaults: %v", err)
	}
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Fatalf("DefaultFlags().Parse() = %+v, want %+v", got, want)
	}
}

func TestFlagsParse(t *testing.T) {
	f := DefaultFlags()
	f.ProxyUID = "3, 4"
	f.IncludeIPRanges = "10.0.0.1,10.0.0.0/8,2001:db8::1/32"
	f.IncludeInboundPorts = ""
	f.Mode = "redirect"
	cfg, err := f.Parse()
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if !reflect.DeepEqual(cfg.ProxyUIDs, []uint32{3, 4}) || !reflect.DeepEqual(cfg.ProxyGIDs, []uint32{3, 4}) {
		t.Errorf("ids = %v / %v, want GIDs to follow UIDs 3,4", cfg.ProxyUIDs, cfg.ProxyGIDs)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("2001:db8::/32")}
	if !reflect.DeepEqual(cfg.IncludeOutbound.Prefixes, want) || cfg.IncludeOutbound.All {
		t.Errorf("include ranges = %+v, want %v", cfg.IncludeOutbound, want)
	}
	if cfg.IncludeInboundPorts.All || len(cfg.IncludeInboundPorts.Ports) != 0 {
		t.Errorf(`-b "" = %+v, want no inbound capture`, cfg.IncludeInboundPorts)
	}
}

// Every bad flag is reported in one go, each naming its flag.
func TestFlagsParseReportsEveryError(t *testing.T) {
	f := DefaultFlags()
	f.OutboundPort = "0"
	f.InboundPort = "70000"
	f.ProxyUID = "istio-proxy"
	f.IncludeIPRanges = "10.0.0.0/33"
	f.ExcludeIPRanges = "*"
	f.ExcludeInboundPorts = "15090,x"
	f.ExcludeOutboundPorts = "-1"
	_, err := f.Parse()
	if err == nil {
		t.Fatal("Parse accepted bad flags")
	}
	for _, flag := range []string{"(-p)", "(-z)", "(-u)", "(-i)", "(-x)", "(-d)", "(-o)"} {
		if !strings.Contains(err.Error(), flag) {
			t.Errorf("error does not name %s:\n%v", flag, err)
		}
	}
}

func TestValidate(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"same ports":  func(c *Config) { c.InboundPort = c.OutboundPort },
		"tproxy":      func(c *Config) { c.Mode = "TPROXY" },
		"no bypass":   func(c *Config) { c.ProxyUIDs, c.ProxyGIDs = nil, nil },
		"zero port":   func(c *Config) { c.ExcludeOutboundPorts = []uint16{0} },
		"bad prefix":  func(c *Config) { c.ExcludeOutbound = []netip.Prefix{{}} },
		"no outbound": func(c *Config) { c.OutboundPort = 0 },
	} {
		c := Default()
		mutate(&c)
		if c.Validate() == nil {
			t.Errorf("%s: Validate accepted %+v", name, c)
		}
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default() invalid: %v", err)
	}
}

func FuzzFlagsParse(f *testing.F) {
	f.Add("15001", "*", "15090,15021", "1337")
	f.Add("x", "10.0.0.0/8,::/0", "", "1,2,3")
	f.Fuzz(func(t *testing.T, port, ranges, ports, ids string) {
		fl := DefaultFlags()
		fl.OutboundPort, fl.IncludeIPRanges, fl.ExcludeOutboundPorts, fl.ProxyUID = port, ranges, ports, ids
		cfg, err := fl.Parse()
		if err != nil {
			return
		}
		// Anything Parse accepts must build rules without panicking and pass Validate.
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse returned an invalid config: %v", err)
		}
		_ = Build(cfg)
	})
}
