package report

import (
	"fmt"
	"io"
)

// JournalCheck is what `lvfsck journal verify` found.
type JournalCheck struct {
	Dir     string
	Damaged bool
	Damage  []string // one line per damaged file
	Tables  int
	Blocks  int
	Bytes   uint64
	Keys    int
}

// WriteJournalCheck writes the verdict of `lvfsck journal verify`.
func WriteJournalCheck(w io.Writer, c JournalCheck) error {
	if c.Damaged {
		if _, err := fmt.Fprintf(w, "journal in %s is DAMAGED:\n", c.Dir); err != nil {
			return err
		}
		for _, d := range c.Damage {
			if _, err := fmt.Fprintf(w, "  %s\n", d); err != nil {
				return err
			}
		}
		return nil
	}
	_, err := fmt.Fprintf(w, "journal in %s reads whole: %d table(s), %d block(s) of %s verified, %d record(s) read\n",
		c.Dir, c.Tables, c.Blocks, Bytes(c.Bytes), c.Keys)
	return err
}
