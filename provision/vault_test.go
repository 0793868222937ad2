package provision

import (
	"strings"
	"testing"
)

// What a new instance gets from --restore: the latest, an id, or nothing, always said; an unknown id
// is refused with the latest named; nothing to choose without a new instance or a backup.
func TestChooseRestore(t *testing.T) {
	newInstance := []Change{{Step: StepInstance, Action: Create}}
	backups := []string{"20261201T040000Z-aaaaaa", "20261202T040000Z-bbbbbb"}
	for _, c := range []struct {
		changes     []Change
		backups     []string
		flag, want  string
		note, fails string
	}{
		{newInstance, backups, "latest", "20261202T040000Z-bbbbbb", "gets backup 20261202T040000Z-bbbbbb", ""},
		{newInstance, backups, "20261201T040000Z-aaaaaa", "20261201T040000Z-aaaaaa", "gets backup 20261201T040000Z-aaaaaa", ""},
		{newInstance, backups, "none", "", "starts empty: 2 backups exist", ""},
		{newInstance, backups, "", "", "--restore=latest", ""},
		{newInstance, backups, "20200101T000000Z-cccccc", "", "", "the latest is 20261202T040000Z-bbbbbb"},
		{[]Change{{Step: StepInstance, Action: Replace}}, backups, "latest", "20261202T040000Z-bbbbbb", "gets backup", ""},
		{[]Change{{Step: StepInstance, Action: Keep}}, backups, "latest", "", "", ""},
		{newInstance, nil, "latest", "", "", ""},
	} {
		p := &Plan{Changes: c.changes, Backups: c.backups}
		note, err := p.ChooseRestore(c.flag)
		switch {
		case c.fails != "" && (err == nil || !strings.Contains(err.Error(), c.fails)):
			t.Errorf("%q: err %v, want one naming %q", c.flag, err, c.fails)
		case c.fails == "" && err != nil:
			t.Errorf("%q: %v", c.flag, err)
		case p.Restore != c.want || !strings.Contains(note, c.note) || (c.note == "" && note != ""):
			t.Errorf("%q with %v: restore %q note %q, want %q and a note with %q", c.flag, c.changes[0].Action, p.Restore, note, c.want, c.note)
		}
	}
}
