package inventory

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Resolver looks names up; *net.Resolver is one.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// ResolveTimeout bounds the lookup of one name.
const ResolveTimeout = 5 * time.Second

// CheckNames resolves every DNS name the operator's machine will connect to (the hosts' addresses,
// and the bastions' where a host goes through one) and reports each that does not resolve as a
// problem of the hosts file, with its line, before anything connects. Without it a mistyped name
// would fail only when its host is first dialled. A host behind a bastion is not looked up here:
// the bastion resolves it. Lookups run in parallel, each bounded by ResolveTimeout.
func CheckNames(ctx context.Context, lab *Lab, r Resolver) error {
	if r == nil {
		r = net.DefaultResolver
	}
	type lookup struct {
		field, name string
		line        int
	}
	var todo []lookup
	add := func(field, name string, line int) {
		if _, err := netip.ParseAddr(name); err == nil || name == "" {
			return
		}
		todo = append(todo, lookup{field, name, line})
	}
	for i, h := range lab.Hosts {
		if h.Bastion != nil {
			add(fmt.Sprintf("hosts[%d].bastion.address", i), h.Bastion.Address, h.Line)
			continue
		}
		add(fmt.Sprintf("hosts[%d].address", i), h.Address, h.Line)
	}
	problems := make([]*Problem, len(todo))
	var wg sync.WaitGroup
	for i, l := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lctx, cancel := context.WithTimeout(ctx, ResolveTimeout)
			defer cancel()
			_, err := r.LookupHost(lctx, l.name)
			if err == nil {
				return
			}
			hint := "fix the name, add it to /etc/hosts, or give the IP address"
			var de *net.DNSError
			switch {
			case errors.As(err, &de) && de.IsTimeout:
				hint = "the DNS server did not answer in time: check this machine's resolver, or give the IP address"
			case errors.As(err, &de) && !de.IsNotFound:
				hint = "the DNS server could not be asked: check this machine's resolver (/etc/resolv.conf), or give the IP address"
			}
			problems[i] = &Problem{File: lab.Source, Line: l.line, Field: l.field,
				Message: fmt.Sprintf("%q does not resolve: %v", truncate(l.name, 60), err), Hint: hint}
		}()
	}
	wg.Wait()
	var out []Problem
	for _, p := range problems {
		if p != nil {
			out = append(out, *p)
		}
	}
	if len(out) == 0 {
		return nil
	}
	sortProblems(out)
	return &ValidationError{Problems: out}
}
