package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/release"

	"github.com/meshlab/meshlab/addons"
	"github.com/meshlab/meshlab/bookinfo/verify"
	"github.com/meshlab/meshlab/provision/engine"
	"github.com/meshlab/meshlab/provision/inventory"
)

// Addons installs the observability addons the hosts file chooses (components.addons) with the
// Helm SDK, values from the hosts file's NodePorts and image pins. Offline the images are
// side-loaded (pull policy Never), and an addon whose image the bundle lacks is skipped with
// "not in the offline bundle" — installing it would only leave a pod that can never start.
type Addons struct{ plan *plan }

func (*Addons) Title() string { return "Install the observability addons" }
func (*Addons) Name() string  { return "addons" }

func (a *Addons) ShouldRun(*engine.Run) bool { return len(a.plan.components().Addons) > 0 }

// NotInBundle is the skip reason of an addon whose image the offline bundle does not carry.
const NotInBundle = "not in the offline bundle"

// addonSettings are the addons to install: the hosts file's choice, with Jaeger standing in for
// Zipkin offline (see standIn).
func (p *plan) addonSettings() addons.Settings {
	c := p.components()
	pull := "IfNotPresent"
	if p.offline() {
		pull = "Never"
	}
	s := addons.Settings{NodePorts: c.NodePorts, Images: p.Lab.Versions.Addons, PullPolicy: pull, ServiceType: c.AddonService}
	for _, name := range c.Addons {
		if alt := p.standIn(s, c.Addons, name); alt != "" {
			name = alt
		}
		s.Addons = append(s.Addons, name)
	}
	return s
}

// standIn names the addon installed in name's place, or "". Offline, Zipkin's server cannot be
// in the bundle (it is Java; the bundle is built from Go modules) but Jaeger can, and Jaeger
// ingests the Zipkin API behind the same Service (zipkin:9411) and NodePort: the sidecars and
// the lab's tracing URL are unchanged, so Jaeger takes Zipkin's place rather than the lab
// having no tracing at all.
func (p *plan) standIn(s addons.Settings, chosen []string, name string) string {
	if name != addons.Zipkin || !p.offline() || slices.Contains(chosen, addons.Jaeger) ||
		p.inBundle(addonImage(s, addons.Zipkin)) || !p.inBundle(addonImage(s, addons.Jaeger)) {
		return ""
	}
	return addons.Jaeger
}

func (p *plan) inBundle(img string) bool { _, ok := p.bundleImages[img]; return ok }

// addonImage is the image an addon runs, as the settings pin it.
func addonImage(s addons.Settings, name string) string {
	return map[string]string{addons.Zipkin: s.Images.Zipkin, addons.Jaeger: s.Images.Jaeger,
		addons.Prometheus: s.Images.Prometheus, addons.Grafana: s.Images.Grafana}[name]
}

// missingFromBundle says why an addon cannot run offline ("" when it can, or online).
func (p *plan) missingFromBundle(s addons.Settings, name string) string {
	if !p.offline() {
		return ""
	}
	img := addonImage(s, name)
	if p.inBundle(img) {
		return ""
	}
	return fmt.Sprintf("%s: %s has no %s", NotInBundle, p.BundleDir, img)
}

// verifyRoles are the addons verify checks, by role, and the addons that can play each.
var verifyRoles = []struct {
	role   string
	addons []string
}{
	{verify.AddonTracing, []string{addons.Zipkin, addons.Jaeger}},
	{verify.AddonPrometheus, []string{addons.Prometheus}},
	{verify.AddonGrafana, []string{addons.Grafana}},
}

// absentAddons tells verify which addons the lab has not, and why: the hosts file leaves the
// role out (skipped), or the offline bundle's manifest lacks the image of the addon that would
// play it ("not in the offline bundle"). An addon that is installed is never absent: when it
// does not answer, verify fails it.
func (p *plan) absentAddons() map[string]error {
	s := p.addonSettings()
	out := map[string]error{}
	for _, r := range verifyRoles {
		i := slices.IndexFunc(s.Addons, func(a string) bool { return slices.Contains(r.addons, a) })
		if i < 0 {
			out[r.role] = verify.Skip("components.addons has no %s", strings.Join(r.addons, " or "))
			continue
		}
		if why := p.missingFromBundle(s, s.Addons[i]); why != "" {
			out[r.role] = fmt.Errorf("%w: %s", verify.ErrNotInBundle, strings.TrimPrefix(why, NotInBundle+": "))
		}
	}
	return out
}

// AbsentAddons is absentAddons for a lab verified on its own (`meshlab verify bookinfo
// --bundle DIR`): lab gives the addons and image pins, bundleDir ("" online) the manifest.
func AbsentAddons(lab *inventory.Lab, bundleDir string) (map[string]error, error) {
	p := &plan{Options: Options{Lab: lab, BundleDir: bundleDir}}
	if err := p.readBundle(); err != nil {
		return nil, err
	}
	return p.absentAddons(), nil
}

// reportStandIns says, as a skipped task, which chosen addon another replaces.
func (p *plan) reportStandIns(r *engine.Run, s addons.Settings) {
	for _, name := range p.components().Addons {
		if alt := p.standIn(s, p.components().Addons, name); alt != "" {
			newTask(r, nil, "addons", "Install "+name).Skip(fmt.Sprintf("%s; %s is installed in its place "+
				"(the same Zipkin API on %s:9411 and the same NodePort)", p.missingFromBundle(s, name), alt, addons.Zipkin))
		}
	}
}

func (a *Addons) Run(ctx context.Context, r *engine.Run) error {
	s := a.plan.addonSettings()
	if err := s.CheckNodePorts(); err != nil {
		return newTask(r, nil, "addons", "Check the addons' NodePorts").fail("change components.nodePorts in the hosts file", err)
	}
	c, err := a.plan.cluster()
	if err != nil {
		return newTask(r, nil, "addons", "Connect to the cluster").fail("", err)
	}
	in := addons.NewInstaller(c.Helm, addons.Namespace, a.plan.WaitTimeout)
	a.plan.reportStandIns(r, s)
	for _, name := range s.Addons {
		if err := a.applyOne(ctx, r, c, in, s, name); err != nil {
			return err
		}
	}
	return nil
}

func (a *Addons) applyOne(ctx context.Context, r *engine.Run, c *Clients, in *addons.Installer, s addons.Settings, name string) error {
	t := newTask(r, nil, "addons", "Install "+name)
	if why := a.plan.missingFromBundle(s, name); why != "" {
		t.Skip(why)
		return nil
	}
	if name == addons.Grafana {
		// Grafana's admin password, generated into a Secret before Grafana first starts; it never
		// reaches a log: only the summary shows it, once.
		pw, created, err := addons.EnsureGrafanaAdmin(ctx, c.Kube, addons.Namespace)
		if err != nil {
			return t.fail("", err)
		}
		if created {
			a.plan.grafanaPassword = pw
		}
	}
	vals, err := s.Values(name)
	if err != nil {
		return t.fail("fix versions.addons in the hosts file", err)
	}
	if deployedWith(in, name, vals) {
		t.Skip("")
		return nil
	}
	t.Begin(addonImage(s, name))
	r.Waiting(nil, "addons", fmt.Sprintf("waiting for %s to be ready", name))
	rel, err := in.Apply(ctx, name, vals)
	if err != nil {
		return t.fail("kubectl -n "+addons.Namespace+" get pods shows which pod is not ready; the release was rolled back", err)
	}
	t.Done(fmt.Sprintf("revision %d %s", rel.Version, rel.Info.Status))
	return nil
}

// deployedWith says whether the addon's newest release is deployed with exactly these values,
// so a re-run does not upgrade (and wait for) an unchanged addon.
func deployedWith(in *addons.Installer, name string, vals map[string]any) bool {
	h, err := in.History(name)
	if err != nil || len(h) == 0 {
		return false
	}
	last := h[len(h)-1]
	for _, rel := range h {
		if rel.Version > last.Version {
			last = rel
		}
	}
	if last.Info == nil || last.Info.Status != release.StatusDeployed {
		return false
	}
	// Stored values come back through JSON (numbers as float64): compare in that form.
	a, errA := json.Marshal(last.Config)
	b, errB := json.Marshal(vals)
	return errA == nil && errB == nil && string(a) == string(b)
}

func (a *Addons) DryRun(_ context.Context, r *engine.Run) error {
	s := a.plan.addonSettings()
	if err := s.CheckNodePorts(); err != nil {
		return newTask(r, nil, "addons", "Check the addons' NodePorts").fail("change components.nodePorts in the hosts file", err)
	}
	a.plan.reportStandIns(r, s)
	for _, name := range s.Addons {
		t := newTask(r, nil, "addons", "Install "+name)
		if why := a.plan.missingFromBundle(s, name); why != "" {
			t.Skip(why)
			continue
		}
		t.Plan(fmt.Sprintf("would install or upgrade the %s chart (image %s, pull policy %s)", name, addonImage(s, name), s.PullPolicy))
	}
	return nil
}
