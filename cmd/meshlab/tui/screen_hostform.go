package tui

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/meshlab/meshlab/cmd/meshlab/tui/draft"
	"github.com/meshlab/meshlab/provision/inventory"
)

// Fields of the host form, in tab order.
const (
	fieldName = iota
	fieldAddress
	fieldPort
	fieldUser
	fieldAuth   // a choice, not a text input
	fieldSecret // key path or password source, by auth; hidden for the agent
	fieldRole   // a choice
	fieldCount
)

// hostForm edits one host. Text fields are textinputs; auth and role are choices cycled with
// ←/→ or space.
type hostForm struct {
	index  int // the host being edited; -1 adds one
	inputs [fieldCount]textinput.Model
	auth   draft.Auth
	role   inventory.Role
	focus  int
	// secrets keeps what was typed for each auth, so cycling through auths loses nothing.
	secrets map[draft.Auth]string
	errs    []string
}

var formLabels = [fieldCount]string{"Name", "Address", "SSH port", "User", "Auth", "", "Role"}

func (m Model) openForm(index int) (tea.Model, tea.Cmd) {
	h := m.draft.NewHost()
	if index >= 0 {
		h = m.draft.Hosts[index]
	}
	f := hostForm{index: index, auth: h.Auth, role: h.Role,
		secrets: map[draft.Auth]string{draft.AuthKey: h.KeyPath, draft.AuthPassword: h.PasswordRef}}
	placeholders := [fieldCount]string{"default: the address", "192.168.56.10 or a DNS name", "22", "root", "", "", ""}
	values := [fieldCount]string{h.Name, h.Address, strconv.Itoa(h.Port), h.User}
	for i := range f.inputs {
		ti := textinput.New()
		ti.Prompt = ""
		ti.CharLimit = 4096
		ti.Placeholder = placeholders[i]
		ti.SetValue(values[i])
		f.inputs[i] = ti
	}
	f.loadSecret()
	f.setFocus(fieldAddress)
	if index >= 0 {
		f.setFocus(fieldName)
	}
	m.form = f
	m.fitInputs()
	m.screen = screenHostForm
	return m, textinput.Blink
}

// loadSecret shows the secret field of the current auth.
func (f *hostForm) loadSecret() {
	in := &f.inputs[fieldSecret]
	in.SetValue(f.secrets[f.auth])
	switch f.auth {
	case draft.AuthKey:
		in.Placeholder = "default: ~/.ssh/id_ed25519, id_ecdsa, id_rsa"
	case draft.AuthPassword:
		in.Placeholder = "env:NAME or file:PATH (the password itself is never stored)"
	}
}

func (f *hostForm) visible(i int) bool { return i != fieldSecret || f.auth != draft.AuthAgent }

func (f *hostForm) setFocus(i int) {
	f.inputs[f.focus].Blur()
	f.focus = i
	if i != fieldAuth && i != fieldRole {
		f.inputs[i].Focus()
	}
}

func (f *hostForm) move(delta int) {
	i := f.focus
	for {
		i = (i + delta + fieldCount) % fieldCount
		if f.visible(i) {
			break
		}
	}
	f.setFocus(i)
}

// cycle moves a choice field to its next (delta 1) or previous value.
func (f *hostForm) cycle(delta int) {
	switch f.focus {
	case fieldAuth:
		f.secrets[f.auth] = f.inputs[fieldSecret].Value()
		f.auth = next(draft.Auths(), f.auth, delta)
		f.loadSecret()
	case fieldRole:
		f.role = next(draft.Roles(), f.role, delta)
	}
}

func next[T comparable](list []T, cur T, delta int) T {
	i := slices.Index(list, cur)
	return list[(i+delta+len(list))%len(list)]
}

func (m Model) updateForm(msg tea.Msg) (tea.Model, tea.Cmd) {
	f := &m.form
	if k, ok := msg.(tea.KeyMsg); ok {
		choice := f.focus == fieldAuth || f.focus == fieldRole
		switch {
		case k.Type == tea.KeyEsc:
			m.screen = screenHosts
			if len(m.draft.Hosts) == 0 {
				m.screen = screenStart
			}
			return m, nil
		case k.Type == tea.KeyEnter:
			return m.saveForm()
		case k.Type == tea.KeyTab || k.Type == tea.KeyDown:
			f.move(1)
			return m, nil
		case k.Type == tea.KeyShiftTab || k.Type == tea.KeyUp:
			f.move(-1)
			return m, nil
		case choice && (k.Type == tea.KeyRight || k.Type == tea.KeySpace):
			f.cycle(1)
			return m, nil
		case choice && k.Type == tea.KeyLeft:
			f.cycle(-1)
			return m, nil
		case choice:
			return m, nil
		}
	}
	if f.focus == fieldAuth || f.focus == fieldRole {
		return m, nil
	}
	var cmd tea.Cmd
	f.inputs[f.focus], cmd = f.inputs[f.focus].Update(msg)
	return m, cmd
}

// saveForm checks the host, puts it in the draft and validates the whole draft with inventory,
// so a problem shows here, next to the field, and not at the end.
func (m Model) saveForm() (tea.Model, tea.Cmd) {
	f := &m.form
	f.secrets[f.auth] = f.inputs[fieldSecret].Value()
	h, errs := f.host()
	if len(errs) == 0 {
		d := m.draft
		d.Hosts = slices.Clone(d.Hosts)
		if f.index < 0 {
			d.Hosts = append(d.Hosts, h)
		} else {
			d.Hosts[f.index] = h
		}
		if _, _, err := d.Validate(m.path); err != nil {
			errs = problemLines(err)
		} else {
			m.draft = d
			m.hosts.cursor = slices.Index(d.Hosts, h)
			m.screen = screenHosts
			return m, nil
		}
	}
	f.errs = errs
	return m, nil
}

// host reads the form; the name defaults the way inventory names hosts.
func (f *hostForm) host() (draft.Host, []string) {
	val := func(i int) string { return strings.TrimSpace(f.inputs[i].Value()) }
	h := draft.Host{Name: val(fieldName), Address: val(fieldAddress), User: val(fieldUser), Auth: f.auth, Role: f.role}
	var errs []string
	if h.Address == "" {
		errs = append(errs, "Address: required")
	}
	port, err := strconv.Atoi(val(fieldPort))
	if val(fieldPort) == "" {
		port, err = inventory.DefaultPort, nil
	}
	if err != nil || port < 1 || port > 65535 {
		errs = append(errs, fmt.Sprintf("SSH port: %q is not a port (1-65535)", val(fieldPort)))
	}
	h.Port = port
	if h.User == "" {
		h.User = inventory.DefaultUser
	}
	if h.Name == "" {
		h.Name = h.Address
		if port != inventory.DefaultPort {
			h.Name += "-" + strconv.Itoa(port)
		}
	}
	switch f.auth {
	case draft.AuthKey:
		h.KeyPath = absPath(f.secrets[draft.AuthKey])
	case draft.AuthPassword:
		h.PasswordRef = strings.TrimSpace(f.secrets[draft.AuthPassword])
		if _, err := draft.ParseRef(h.PasswordRef); err != nil {
			errs = append(errs, "Password: "+err.Error())
		}
	}
	return h, errs
}

// problemLines lists inventory's problems one per line (or the error's text).
func problemLines(err error) []string {
	var ve *inventory.ValidationError
	if errors.As(err, &ve) {
		out := make([]string, 0, len(ve.Problems))
		for _, p := range ve.Problems {
			// The file is not written yet, so its lines mean nothing to the user: the field
			// path (hosts[1].port) says where.
			line := p.Message
			if p.Field != "" {
				line = p.Field + ": " + line
			}
			if p.Hint != "" {
				line += " (" + p.Hint + ")"
			}
			out = append(out, line)
		}
		return out
	}
	return strings.Split(err.Error(), "\n")
}

func (m Model) viewForm() string {
	f := m.form
	var b strings.Builder
	title := "Add a host"
	if f.index >= 0 {
		title = "Edit host " + m.draft.Hosts[f.index].Name
	}
	b.WriteString("\n" + headingStyle.Render(title) + "\n\n")
	for i := range fieldCount {
		if !f.visible(i) {
			continue
		}
		cur := "  "
		if i == f.focus {
			cur = symCursor + " "
		}
		label := formLabels[i]
		var value string
		switch i {
		case fieldAuth:
			value = choices(draft.Auths(), f.auth)
		case fieldRole:
			value = choices(draft.Roles(), f.role)
		case fieldSecret:
			label = "Key file"
			if f.auth == draft.AuthPassword {
				label = "Password from"
			}
			value = f.inputs[i].View()
		default:
			value = f.inputs[i].View()
		}
		fmt.Fprintf(&b, "%s%-*s %s\n", cur, formLabelWidth-3, label, value)
	}
	b.WriteString("\n" + dimStyle.Render("agent: the keys of $SSH_AUTH_SOCK; password: read at run time, never saved.") + "\n")
	for _, e := range f.errs {
		b.WriteString(failStyle.Render(symFail+" "+e) + "\n")
	}
	return b.String()
}

// choices renders a choice field: the chosen value in brackets.
func choices[T ~string](list []T, cur T) string {
	parts := make([]string, len(list))
	for i, v := range list {
		if v == cur {
			parts[i] = selectStyle.Render("[" + string(v) + "]")
		} else {
			parts[i] = dimStyle.Render(" " + string(v) + " ")
		}
	}
	return strings.Join(parts, " ")
}

func (m Model) formBindings() []key.Binding {
	k := m.keys
	return []key.Binding{withHelp(k.Next, "enter", "save host"), k.Tab, k.Left, withHelp(k.Back, "esc", "cancel")}
}
