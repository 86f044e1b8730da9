package tui

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/meshlab/meshlab/cmd/meshlab/tui/draft"
	"github.com/meshlab/meshlab/provision/versions"
)

// componentsScreen chooses the Kubernetes version (the rest of the pinned table is shown for
// reference) and what to install: mesh, addons with their NodePorts, Bookinfo.
type componentsScreen struct {
	cursor  int
	version textinput.Model
	err     string
}

// The rows of the screen. Addon rows follow rowAddons, one per draft.Addons().
const (
	rowVersion = iota
	rowMesh
	rowBookinfo
	rowAddons
)

func newComponentsScreen(d draft.Draft) componentsScreen {
	ti := textinput.New()
	ti.Prompt = ""
	ti.CharLimit = 40
	ti.SetValue(d.Kubernetes)
	ti.Focus()
	return componentsScreen{version: ti}
}

func rowCount() int { return rowAddons + len(draft.Addons()) }

// portOf is the NodePort component a row edits ("" when the row has none).
func portOf(row int) string {
	switch {
	case row == rowBookinfo:
		return "gateway"
	case row >= rowAddons:
		return draft.Addons()[row-rowAddons]
	}
	return ""
}

func (m Model) updateComponents(msg tea.Msg) (tea.Model, tea.Cmd) {
	s := &m.comps
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		var cmd tea.Cmd
		s.version, cmd = s.version.Update(msg)
		return m, cmd
	}
	switch {
	case k.Type == tea.KeyUp || k.Type == tea.KeyShiftTab:
		s.move(-1)
	case k.Type == tea.KeyDown || k.Type == tea.KeyTab:
		s.move(1)
	case k.Type == tea.KeyEsc:
		m.screen = screenProbe
	case k.Type == tea.KeyEnter:
		v := strings.TrimSpace(s.version.Value())
		set := versions.Default()
		set.Kubernetes.Version = v
		if pkg, repo, ok := versions.DeriveKubernetes(v); ok {
			set.Kubernetes.Package, set.Kubernetes.Repo = pkg, repo
		}
		if errs := set.Validate(); len(errs) > 0 {
			s.err = errs[0].Error()
			return m, nil
		}
		s.err = ""
		m.draft.Kubernetes = v
		return m.openReview()
	case s.cursor == rowVersion:
		var cmd tea.Cmd
		s.version, cmd = s.version.Update(msg)
		return m, cmd
	case k.Type == tea.KeySpace:
		m.toggle(s.cursor)
	case k.Type == tea.KeyBackspace:
		if c := portOf(s.cursor); c != "" {
			m.draft.NodePorts = withPort(m.draft.NodePorts, c, m.draft.NodePorts[c]/10)
		}
	case k.Type == tea.KeyRunes && len(k.Runes) == 1 && k.Runes[0] >= '0' && k.Runes[0] <= '9':
		if c := portOf(s.cursor); c != "" {
			p := m.draft.NodePorts[c]*10 + int(k.Runes[0]-'0')
			if p <= 65535 {
				m.draft.NodePorts = withPort(m.draft.NodePorts, c, p)
			}
		}
	case key.Matches(k, m.keys.Quit):
		return m.quit()
	}
	return m, nil
}

// withPort returns a copy of ports with c set to p, so earlier drafts keep their own map.
func withPort(ports map[string]int, c string, p int) map[string]int {
	out := make(map[string]int, len(ports)+1)
	for k, v := range ports {
		out[k] = v
	}
	out[c] = p
	return out
}

func (s *componentsScreen) move(delta int) {
	s.cursor = (s.cursor + delta + rowCount()) % rowCount()
	if s.cursor == rowVersion {
		s.version.Focus()
	} else {
		s.version.Blur()
	}
}

func (m *Model) toggle(row int) {
	switch {
	case row == rowMesh:
		m.draft.Mesh = !m.draft.Mesh
	case row == rowBookinfo:
		m.draft.Bookinfo = !m.draft.Bookinfo
	case row >= rowAddons:
		m.draft.ToggleAddon(draft.Addons()[row-rowAddons])
	}
}

func check(on bool) string {
	if on {
		return "[x]"
	}
	return "[ ]"
}

func (m Model) viewComponents() string {
	s, d := m.comps, m.draft
	var b strings.Builder
	b.WriteString("\n" + headingStyle.Render("Versions and components") + "\n\n")
	row := func(i int, text string) {
		cur := "  "
		if i == s.cursor {
			cur = symCursor + " "
		}
		b.WriteString(m.fit(cur+text) + "\n")
	}
	port := func(c string) string { return "NodePort " + strconv.Itoa(d.NodePorts[c]) }
	row(rowVersion, fmt.Sprintf("%-30s %s", "Kubernetes version", s.version.View()))
	row(rowMesh, fmt.Sprintf("%s %-26s %s", check(d.Mesh), "meshlab service mesh", dimStyle.Render("control plane, sidecars, injector")))
	row(rowBookinfo, fmt.Sprintf("%s %-26s %s", check(d.Bookinfo), "Bookinfo sample", "gateway "+port("gateway")))
	for i, a := range draft.Addons() {
		row(rowAddons+i, fmt.Sprintf("%s %-26s %s", check(d.HasAddon(a)), a, port(a)))
	}
	v := versions.Default()
	b.WriteString("\n" + dimStyle.Render("Pinned with it (one table, provision/versions):") + "\n")
	pins := [][2]string{
		{"Docker Engine / containerd", v.Docker.Engine + " / " + v.Docker.Containerd},
		{"CNI plugins, Flannel", v.CNIPlugins + ", " + v.Flannel.Version},
		{"pause, etcd, CoreDNS", tagOf(v.Images.Pause) + ", " + tagOf(v.Images.Etcd) + ", " + tagOf(v.Images.CoreDNS)},
		{"Bookinfo images", v.Bookinfo.Registry + " " + v.Bookinfo.Tag},
	}
	for _, p := range pins {
		b.WriteString(m.fit(dimStyle.Render(fmt.Sprintf("  %-28s %s", p[0], p[1]))) + "\n")
	}
	if s.err != "" {
		b.WriteString("\n" + failStyle.Render(symFail+" "+s.err) + "\n")
	}
	return b.String()
}

// tagOf is the tag of an image reference.
func tagOf(ref string) string {
	if i := strings.LastIndex(ref, ":"); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

func (m Model) componentsBindings() []key.Binding {
	k := m.keys
	return []key.Binding{k.Up, k.Down, k.Toggle, key.NewBinding(key.WithKeys("0"), key.WithHelp("0-9/⌫", "edit port")),
		withHelp(k.Next, "enter", "review"), k.Back}
}
