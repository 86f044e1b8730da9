package inventory

import (
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/meshlab/meshlab/provision/versions"
)

// maxFileSize bounds what Load reads: a hosts file of a thousand hosts is well under 1 MiB, and
// anything far larger is a wrong path (a disk image, a log), not a lab.
const maxFileSize = 4 << 20

// Load reads the hosts file at path, applies the defaults and validates it. Every problem is
// returned at once in a *ValidationError; a file that cannot be read is a plain error.
func Load(path string) (*Lab, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("hosts file: %w", err)
	}
	if !info.Mode().IsRegular() { // a folder, or a FIFO that would block the read
		return nil, fmt.Errorf("hosts file %s is not a regular file", path)
	}
	if info.Size() > maxFileSize {
		return nil, fmt.Errorf("hosts file %s is %d bytes; a hosts file is at most %d", path, info.Size(), maxFileSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hosts file: %w", err)
	}
	return Parse(data, path)
}

// Parse reads a hosts file's content; filename is used in problem positions, for the default lab
// name, and as the base of relative key paths. It returns either a valid Lab or a
// *ValidationError listing every problem, and never panics, whatever data holds.
func Parse(data []byte, filename string) (*Lab, error) {
	d := &decoder{file: filename, pos: map[string]*yaml.Node{}, brokenHosts: map[int]bool{}}
	if filename != "" {
		d.dir = filepath.Dir(filename)
	} else {
		d.file = "<hosts>" // problems still read as positions
	}
	lab := &Lab{Source: filename, Versions: versions.Default()}
	// A field with a shape problem (a port that is not a number) is reported and left unset, so
	// defaults and checks still run on the rest and the user sees every problem in one pass.
	if top := d.parseDocument(data); top != nil {
		d.decodeLab(top, lab)
		d.completeVersions(&lab.Versions)
		d.applyDefaults(lab)
		d.validate(lab)
	}
	if len(d.problems) > 0 {
		sortProblems(d.problems)
		return nil, &ValidationError{Problems: d.problems}
	}
	return lab, nil
}
